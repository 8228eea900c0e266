#pragma once
// What survives a restart: the split word, the phase, the last change and
// both slots' specs. Stored (as a StoredRelease protobuf) beside each audit
// row that changed it, in the same transaction. Protobuf rather than YAML:
// yaml-cpp's emitter cost ~14 % of the agent's CPU per mutation.
//
// At start-up the stored state is checked against the trail: every row
// records the state after it, so the last row's `after` must be the
// stored state. A state dir where they disagree (a deleted or stale
// release_state, a trail from elsewhere) refuses to start rather than
// serve a split nobody chose.
#include <array>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/analysis/canary_judge.h"
#include "agent/audit/audit_log.h"
#include "agent/routing/traffic_split.h"
#include "agent/server/agent_config.h"
#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct ReleaseState {
  SplitValue split;
  v1::Phase phase = v1::STEADY;
  v1::StateChange last_change;
  std::array<VersionSpec, 2> slot_specs;  // slots 0 and 1
  AnalysisPolicy policy;                  // not in audit rows' before/after
  v1::RolloutProgress rollout;            // nor this
};

std::string EncodeReleaseState(const ReleaseState& state);
// A state stored before analysis policies (or with one that no longer
// validates) takes `fallback_policy`.
std::optional<ReleaseState> DecodeReleaseState(const std::string& text,
                                               const AnalysisPolicy& fallback_policy,
                                               std::string* error);
// The state as an audit row records it (by role, not slot).
AuditState SnapshotOf(const ReleaseState& state);

struct RestoredRelease {
  enum class How { kFirstStart, kRestored, kRecovered };
  How how = How::kFirstStart;
  ReleaseState state;
  std::string detail;  // for the start row: where the state came from
};

// The state to start from: the config's on a first start; the stored one
// when it agrees with the trail's last row; with config.recover_state, one
// rebuilt from that row and the config's version specs. Anything else is
// an error saying what disagrees and what to do.
absl::StatusOr<RestoredRelease> RestoreRelease(AuditLog& log, const AgentConfig& config);

}  // namespace greylane
