#pragma once
// What survives a restart: the split word, the phase, the last change and
// both physical slots' specs. Stored (as a StoredRelease protobuf) beside
// each audit row that changed it, in the same transaction. Protobuf rather
// than YAML: yaml-cpp's emitter cost ~14 % of the agent's CPU per mutation.
#include <array>
#include <optional>
#include <string>

#include "agent/routing/traffic_split.h"
#include "agent/server/agent_config.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct ReleaseState {
  SplitValue split;
  v1::Phase phase = v1::STEADY;
  v1::StateChange last_change;
  std::array<SlotConfig, 2> slot_specs;  // physical slots 0 and 1
};

std::string EncodeReleaseState(const ReleaseState& state);
std::optional<ReleaseState> DecodeReleaseState(const std::string& text, std::string* error);
const char* PhaseName(v1::Phase phase);
SlotConfig SlotFromSpec(const v1::VersionSpec& spec);
void SlotToSpec(const SlotConfig& slot, v1::VersionSpec* spec);

}  // namespace greylane
