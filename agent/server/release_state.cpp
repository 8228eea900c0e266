#include "agent/server/release_state.h"

namespace greylane {

void SlotToSpec(const SlotConfig& slot, v1::VersionSpec* spec) {
  spec->set_version(slot.version);
  spec->set_backend(slot.backend);
  spec->set_model_file(slot.model_file);
  spec->set_address(slot.upstream.address);
  spec->set_upstream_model(slot.upstream.model);
  spec->set_upstream_version(slot.upstream.version);
  spec->set_deadline_ms(static_cast<uint32_t>(slot.upstream.deadline.count()));
  spec->set_connections(static_cast<uint32_t>(slot.upstream.connections));
}

SlotConfig SlotFromSpec(const v1::VersionSpec& spec) {
  SlotConfig slot;
  slot.version = spec.version();
  slot.backend = spec.backend();
  slot.model_file = spec.model_file();
  slot.upstream.address = spec.address();
  slot.upstream.model = spec.upstream_model();
  slot.upstream.version = spec.upstream_version();
  slot.upstream.deadline =
      std::chrono::milliseconds(spec.deadline_ms() ? spec.deadline_ms() : 1000);
  slot.upstream.connections = spec.connections() ? static_cast<int>(spec.connections()) : 2;
  return slot;
}

const char* PhaseName(v1::Phase phase) {
  switch (phase) {
    case v1::STEADY:
      return "STEADY";
    case v1::CANARY:
      return "CANARY";
    case v1::PROMOTED:
      return "PROMOTED";
    case v1::ROLLED_BACK:
      return "ROLLED_BACK";
    default:
      return "STEADY";
  }
}

std::string EncodeReleaseState(const ReleaseState& s) {
  v1::StoredRelease stored;
  stored.set_candidate_basis_points(s.split.candidate_basis_points);
  stored.set_revision(s.split.revision);
  stored.set_roles_swapped(s.split.roles_swapped);
  stored.set_phase(s.phase);
  *stored.mutable_last_change() = s.last_change;
  for (const SlotConfig& slot : s.slot_specs) SlotToSpec(slot, stored.add_slot_specs());
  return stored.SerializeAsString();
}

std::optional<ReleaseState> DecodeReleaseState(const std::string& bytes, std::string* error) {
  v1::StoredRelease stored;
  if (!stored.ParseFromString(bytes) || stored.slot_specs_size() != 2) {
    *error = "the stored release state cannot be read (not a StoredRelease with two slots)";
    return std::nullopt;
  }
  if (stored.candidate_basis_points() > kMaxBasisPoints) {
    *error = "the stored split is out of range";
    return std::nullopt;
  }
  ReleaseState s;
  s.split = {stored.candidate_basis_points(), stored.revision(), stored.roles_swapped()};
  s.phase = stored.phase();
  s.last_change = stored.last_change();
  s.slot_specs = {SlotFromSpec(stored.slot_specs(0)), SlotFromSpec(stored.slot_specs(1))};
  return s;
}

}  // namespace greylane
