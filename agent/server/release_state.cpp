#include "agent/server/release_state.h"

#include "agent/analysis/canary_analysis.h"
#include "common/audit_vocabulary.h"
#include "common/rollout_plan.h"
#include "common/text.h"

namespace greylane {
namespace {

std::optional<v1::Phase> PhaseFromName(const std::string& name) {
  for (const v1::Phase p : {v1::STEADY, v1::CANARY, v1::PROMOTED, v1::ROLLED_BACK}) {
    if (name == PhaseName(p)) return p;
  }
  return std::nullopt;
}

// Rebuilds the state the trail's last row describes, serving its versions
// with the config's specs for them.
absl::StatusOr<ReleaseState> RebuildFromRow(const AuditRecord& last, const AgentConfig& config) {
  const AuditState& a = last.after;
  const VersionSpec* baseline = nullptr;
  const VersionSpec* candidate = nullptr;
  for (const VersionSpec* spec : {&config.baseline, &config.candidate}) {
    if (spec->version == a.baseline_version) baseline = spec;
    if (spec->version == a.candidate_version) candidate = spec;
  }
  const auto phase = PhaseFromName(a.phase);
  if (!baseline || !candidate || baseline == candidate || !phase ||
      a.candidate_basis_points > kMaxBasisPoints) {
    return absl::FailedPreconditionError(
        "cannot recover: the trail's last row #" + std::to_string(last.sequence) + " (" +
        FormatState(a) + ") names versions " + Quote(a.baseline_version) + " and " +
        Quote(a.candidate_version) + ", but the config serves " + Quote(config.baseline.version) +
        " and " + Quote(config.candidate.version) +
        "; give a config whose baseline and candidate are those two versions");
  }
  ReleaseState s;
  s.split = {a.candidate_basis_points, a.revision, false};
  s.phase = *phase;
  s.slot_specs = {*baseline, *candidate};
  s.policy = config.analysis;
  // The row may be an older agent's, in any bytes: the state keeps them
  // bounded and valid (it is sent to every console).
  s.last_change.set_time_unix_ms(last.time_unix_ms);
  s.last_change.set_actor(ClampText(last.actor, kMaxIdentityBytes));
  s.last_change.set_action(ClampText(last.action, kMaxWordBytes));
  s.last_change.set_reason(ClampText(last.reason, kMaxReasonBytes));
  s.last_change.set_audit_sequence(last.sequence);
  return s;
}

std::string SpecsProblem(const ReleaseState& s, const std::string& models_root) {
  for (const VersionSpec& spec : s.slot_specs) {
    if (std::string problem = VersionSpecProblem(spec, models_root); !problem.empty()) {
      return problem;
    }
  }
  return {};
}

}  // namespace

std::string EncodeReleaseState(const ReleaseState& s) {
  v1::StoredRelease stored;
  stored.set_candidate_basis_points(s.split.candidate_basis_points);
  stored.set_revision(s.split.revision);
  stored.set_roles_swapped(s.split.roles_swapped);
  stored.set_phase(s.phase);
  *stored.mutable_last_change() = s.last_change;
  for (const VersionSpec& slot : s.slot_specs) VersionSpecToProto(slot, stored.add_slot_specs());
  PolicyToProto(s.policy, stored.mutable_policy());
  if (s.rollout.phase() != v1::ROLLOUT_NONE) *stored.mutable_rollout() = s.rollout;
  return stored.SerializeAsString();
}

std::optional<ReleaseState> DecodeReleaseState(const std::string& bytes,
                                               const AnalysisPolicy& fallback_policy,
                                               std::string* error) {
  v1::StoredRelease stored;
  if (!stored.ParseFromString(bytes) || stored.slot_specs_size() != 2) {
    *error =
        "the stored release state cannot be read (damaged, or written by an older agent with "
        "text that is not UTF-8)";
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
  s.slot_specs = {VersionSpecFromProto(stored.slot_specs(0)),
                  VersionSpecFromProto(stored.slot_specs(1))};
  s.policy = fallback_policy;
  if (stored.has_policy()) {
    AnalysisPolicy policy = PolicyFromProto(stored.policy());
    if (ValidatePolicy(&policy).empty()) s.policy = policy;
  }
  // A plan that no longer validates is not walked on.
  if (stored.has_rollout() && RolloutPlanProblem(stored.rollout().plan()).empty())
    s.rollout = stored.rollout();
  return s;
}

AuditState SnapshotOf(const ReleaseState& s) {
  const size_t baseline = s.split.roles_swapped ? 1 : 0;
  return {s.split.candidate_basis_points, s.split.revision, s.slot_specs[baseline].version,
          s.slot_specs[1 - baseline].version, PhaseName(s.phase)};
}

absl::StatusOr<RestoredRelease> RestoreRelease(AuditLog& log, const AgentConfig& config) {
  RestoredRelease r;
  uint64_t stored_at = 0;
  const std::optional<std::string> blob = log.LoadState(&stored_at);
  const std::optional<AuditRecord> last = log.Last();
  const std::string where = "state dir " + config.state_dir;
  if (!last) {
    if (blob) {
      return absl::FailedPreconditionError(
          where +
          ": a release state is stored but the audit trail is empty; the state dir was "
          "damaged or assembled from pieces. Restore it from a backup, or move audit.db "
          "aside to start afresh from the config");
    }
    r.state.split = {config.initial_candidate_basis_points, 1, false};
    r.state.phase = config.initial_candidate_basis_points == 0 ? v1::STEADY : v1::CANARY;
    r.state.slot_specs = {config.baseline, config.candidate};
    r.state.policy = config.analysis;
    r.detail = std::string("first start: ") + (config.demo_tokens ? "--demo" : "from the config");
    return r;
  }
  // What is wrong with the stored state, if anything.
  std::string problem;
  std::optional<ReleaseState> stored;
  if (!blob) {
    problem = "the audit trail ends at row #" + std::to_string(last->sequence) + " (" +
              FormatState(last->after) + ") but no release state is stored";
  } else {
    std::string error;
    stored = DecodeReleaseState(*blob, config.analysis, &error);
    if (!stored) {
      problem = error;
    } else if (!(SnapshotOf(*stored) == last->after) || stored_at > last->sequence) {
      problem = "the stored release state (" + FormatState(SnapshotOf(*stored)) + ", from row #" +
                std::to_string(stored_at) + ") is not what the audit trail's last row #" +
                std::to_string(last->sequence) + " says is in force (" + FormatState(last->after) +
                ")";
    } else if (std::string bad = SpecsProblem(*stored, config.models_root); !bad.empty()) {
      problem = "the stored release state cannot be served: " + bad;
    }
  }
  if (problem.empty()) {
    r.how = RestoredRelease::How::kRestored;
    r.state = std::move(*stored);
    r.detail = "restored split " + std::to_string(r.state.split.candidate_basis_points) +
               " bp, revision " + std::to_string(r.state.split.revision) + ", phase " +
               PhaseName(r.state.phase) + " from audit row #" + std::to_string(stored_at);
    return r;
  }
  if (!config.recover_state) {
    return absl::FailedPreconditionError(
        where + ": " + problem +
        ". Nothing was started. Restore the state dir from a backup, or start once with "
        "--recover-state to rebuild the release state from the trail's last row and the "
        "config's version specs (recorded in the trail)");
  }
  absl::StatusOr<ReleaseState> rebuilt = RebuildFromRow(*last, config);
  if (!rebuilt.ok()) return rebuilt.status();
  if (std::string bad = SpecsProblem(*rebuilt, config.models_root); !bad.empty()) {
    return absl::FailedPreconditionError("cannot recover: " + bad);
  }
  r.how = RestoredRelease::How::kRecovered;
  r.state = std::move(*rebuilt);
  r.detail = "recovered with --recover-state from audit row #" + std::to_string(last->sequence) +
             " (" + FormatState(last->after) + ") and the config's version specs, because " +
             problem;
  return r;
}

}  // namespace greylane
