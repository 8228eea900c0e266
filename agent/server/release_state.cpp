#include "agent/server/release_state.h"

#include <yaml-cpp/yaml.h>

namespace greylane {
namespace {
void EmitSlot(YAML::Emitter& out, const SlotConfig& slot) {
  out << YAML::BeginMap << YAML::Key << "version" << YAML::Value << slot.version << YAML::Key
      << "backend" << YAML::Value << slot.backend << YAML::Key << "model_file" << YAML::Value
      << slot.model_file << YAML::Key << "address" << YAML::Value << slot.upstream.address
      << YAML::Key << "upstream_model" << YAML::Value << slot.upstream.model << YAML::Key
      << "upstream_version" << YAML::Value << slot.upstream.version << YAML::Key << "deadline_ms"
      << YAML::Value << slot.upstream.deadline.count() << YAML::Key << "connections" << YAML::Value
      << slot.upstream.connections << YAML::EndMap;
}

SlotConfig ReadSlot(const YAML::Node& n) {
  SlotConfig slot;
  slot.version = n["version"].as<std::string>();
  slot.backend = n["backend"].as<std::string>();
  slot.model_file = n["model_file"].as<std::string>("");
  slot.upstream.address = n["address"].as<std::string>("");
  slot.upstream.model = n["upstream_model"].as<std::string>("");
  slot.upstream.version = n["upstream_version"].as<std::string>("");
  slot.upstream.deadline = std::chrono::milliseconds(n["deadline_ms"].as<int64_t>(1000));
  slot.upstream.connections = n["connections"].as<int>(2);
  return slot;
}
}  // namespace

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
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "candidate_basis_points" << YAML::Value << s.split.candidate_basis_points;
  out << YAML::Key << "revision" << YAML::Value << s.split.revision;
  out << YAML::Key << "roles_swapped" << YAML::Value << s.split.roles_swapped;
  out << YAML::Key << "phase" << YAML::Value << PhaseName(s.phase);
  out << YAML::Key << "last_change" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "time_unix_ms" << YAML::Value << s.last_change.time_unix_ms();
  out << YAML::Key << "actor" << YAML::Value << s.last_change.actor();
  out << YAML::Key << "action" << YAML::Value << s.last_change.action();
  out << YAML::Key << "reason" << YAML::Value << s.last_change.reason();
  out << YAML::Key << "audit_sequence" << YAML::Value << s.last_change.audit_sequence();
  out << YAML::EndMap;
  out << YAML::Key << "slots" << YAML::Value << YAML::BeginSeq;
  EmitSlot(out, s.slot_specs[0]);
  EmitSlot(out, s.slot_specs[1]);
  out << YAML::EndSeq << YAML::EndMap;
  return out.c_str();
}

std::optional<ReleaseState> DecodeReleaseState(const std::string& text, std::string* error) {
  try {
    const YAML::Node root = YAML::Load(text);
    ReleaseState s;
    s.split.candidate_basis_points = root["candidate_basis_points"].as<uint32_t>();
    s.split.revision = root["revision"].as<uint64_t>();
    s.split.roles_swapped = root["roles_swapped"].as<bool>();
    v1::Phase phase = v1::STEADY;
    if (!v1::Phase_Parse(root["phase"].as<std::string>(), &phase)) {
      *error = "unknown phase in the stored state";
      return std::nullopt;
    }
    s.phase = phase;
    const YAML::Node change = root["last_change"];
    s.last_change.set_time_unix_ms(change["time_unix_ms"].as<int64_t>());
    s.last_change.set_actor(change["actor"].as<std::string>());
    s.last_change.set_action(change["action"].as<std::string>());
    s.last_change.set_reason(change["reason"].as<std::string>());
    s.last_change.set_audit_sequence(change["audit_sequence"].as<uint64_t>());
    const YAML::Node slots = root["slots"];
    if (!slots.IsSequence() || slots.size() != 2) {
      *error = "the stored state does not hold two slots";
      return std::nullopt;
    }
    s.slot_specs[0] = ReadSlot(slots[0]);
    s.slot_specs[1] = ReadSlot(slots[1]);
    if (s.split.candidate_basis_points > kMaxBasisPoints) {
      *error = "the stored split is out of range";
      return std::nullopt;
    }
    return s;
  } catch (const YAML::Exception& e) {
    *error = std::string("the stored state cannot be read: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace greylane
