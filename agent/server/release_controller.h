#pragma once
// Every change to what the agent serves goes through here, one at a time:
// validate -> append to the audit trail durably -> apply -> notify watchers.
// A crash at any point leaves the trail and the applied state consistent:
// the state restored at start-up is the one the last row says is in force.
//
// The one exception is a rollback: safety first. When the trail cannot be
// written at that moment (disk full, I/O error) the rollback still takes
// effect, its row waits in the audit log's reserved journal, the answer
// and every state pushed say "audit row pending", and Housekeep() writes
// the row as soon as the trail accepts it.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/audit/audit_log.h"
#include "agent/auth/token_store.h"
#include "agent/metrics/step_ledger.h"
#include "agent/server/canary_pair.h"
#include "agent/server/refusal_ledger.h"
#include "agent/server/release_state.h"
#include "common/audit_vocabulary.h"
#include "common/rollout_plan.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct AgentIdentity {
  std::string agent_id;
  std::string node_name;
  std::string model_name;
  std::string sticky_header;
  std::string agent_version;
  int64_t started_unix_ms = 0;
};

struct Caller {
  std::string identity;
  Role role = Role::kViewer;
  bool system = false;  // the agent itself (its analysis): rows say role "system"
  std::string peer;
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
};

struct ReleaseLimits {
  std::chrono::milliseconds probe_timeout{1000};
  std::string models_root;  // empty: any absolute path
  // The least time between two health rows of one slot, so a flapping
  // upstream cannot flood the trail.
  std::chrono::milliseconds health_row_gap{10000};
};

// Told about every state change and every new audit row. Called with the
// controller's notification lock held: queue and return, never block.
class ReleaseWatcher {
 public:
  virtual ~ReleaseWatcher() = default;
  virtual void OnState(const v1::AgentState& state) = 0;
  virtual void OnAuditRow(uint64_t sequence) = 0;
  virtual void OnClosed() = 0;
};

class ReleaseController {
 public:
  // `steps` (may be null) gives each applied change's row the figures of
  // the step it ends.
  ReleaseController(CanaryPair& pair, AuditLog& audit, AgentIdentity identity, ReleaseState initial,
                    ReleaseLimits limits, StepLedger* steps = nullptr);

  // The first row of a run: "initialize" (a new trail), "start" (restored)
  // or "recover" (rebuilt with --recover-state). Like a rollback it may go
  // pending, so an agent restarts even on a full disk.
  void RecordStart(const RestoredRelease& restored);

  grpc::Status SetSplit(const Caller& caller, uint32_t basis_points, uint64_t expected_revision,
                        const std::string& reason, v1::AgentState* out);
  // Never refused for a stale revision, nor for its reason: one that is
  // empty, too long or holds control characters is stored repaired.
  grpc::Status Rollback(const Caller& caller, const std::string& reason, v1::AgentState* out);
  grpc::Status Promote(const Caller& caller, uint64_t expected_revision, const std::string& reason,
                       v1::AgentState* out);
  // Builds and probes the new version (up to the probe timeout) before it
  // takes the lock, so a rollback is never kept waiting by it.
  grpc::Status LoadCandidate(const Caller& caller, const VersionSpec& spec,
                             uint64_t expected_revision, const std::string& reason,
                             v1::AgentState* out);
  // Replaces the analysis policy (audited, stored with the release state).
  // An invalid one is INVALID_ARGUMENT naming the field; the same policy
  // again is recorded and changes nothing.
  grpc::Status SetPolicy(const Caller& caller, const AnalysisPolicy& policy,
                         const std::string& reason, v1::AgentState* out);
  AnalysisPolicy Policy() const;
  // Starts a fault drill on the version that has `role` now (or stops that
  // slot's drill with duration 0); audited.
  grpc::Status InjectFault(const Caller& caller, ReleaseRole role, const FaultSpec& spec,
                           uint32_t duration_seconds, const std::string& reason,
                           v1::AgentState* out);
  // The analysis's own rollback: actor "analysis", the failed checks'
  // figures as evidence. Does nothing when the candidate has no traffic or
  // `candidate_version` is no longer the candidate (a change raced it).
  // True when it rolled back.
  bool AutoRollback(const std::string& candidate_version, const std::string& reason,
                    const std::string& evidence);
  // An "analysis_warning" row (actor "analysis"); the caller merges repeats.
  void RecordWarning(const std::string& reason, const std::string& evidence);
  // The latest second's verdict, for AgentState. Watchers are told when a
  // check's verdict or the armed flag changes, not for every new figure.
  void PublishVerdict(const v1::AnalysisVerdict& verdict);

  // Rollout plans (see agent.proto). Start applies the first step's weight.
  grpc::Status StartRollout(const Caller& caller, const v1::RolloutPlan& plan,
                            uint64_t expected_revision, const std::string& reason,
                            v1::AgentState* out);
  grpc::Status PauseRollout(const Caller& caller, const std::string& reason, v1::AgentState* out);
  grpc::Status ResumeRollout(const Caller& caller, const std::string& reason, v1::AgentState* out);
  grpc::Status AbortRollout(const Caller& caller, const std::string& reason, v1::AgentState* out);
  // Once a second, with that second's verdict: counts a baking step's
  // seconds and moves the plan on (actor "rollout"). Watchers get the new
  // progress every second while a step bakes.
  void TickRollout(const v1::AnalysisVerdict& verdict);

  // Records an attempt refused for its role and returns PERMISSION_DENIED.
  grpc::Status Deny(const Caller& caller, AuditAction action, const std::string& reason,
                    Role needed);

  // Each probe's result for a slot (ignored when the slot's version changed
  // meanwhile). Pushes the state to watchers when the health or its message
  // changes, and records a "health" row (actor "prober") when a version
  // turns healthy or unhealthy: at most one per slot per health_row_gap;
  // the change that waited is written by Housekeep with the count of
  // changes in between.
  void RecordHealth(SlotIndex slot, const SlotVersion* probed, SlotHealth health);

  // Once a second: writes pending rows when the trail accepts them again,
  // and the summaries of refused attempts that were only counted. `final`
  // at shutdown writes every open summary.
  void Housekeep(bool final = false);

  v1::AgentState State() const;
  ReleaseState Persistent() const;
  AuditLog& Audit() { return m_audit; }

  // Adds a watcher and hands it the current state, atomically with the
  // registration.
  void Watch(ReleaseWatcher* watcher);
  void Unwatch(ReleaseWatcher* watcher);
  void CloseWatchers();

 private:
  struct Plan {
    grpc::Status refusal;  // not OK: the attempt is recorded as rejected
    ReleaseState next;
    bool changes = true;   // false: recorded, nothing applied (an idempotent repeat)
    bool install = false;  // install `version` into the candidate's slot
    SlotVersion version;
    SlotHealth health;  // of `version`, from the probe it passed
    std::string evidence;
    // Run once the row is written, whether or not the state changes (a
    // drill), and then the state is pushed to watchers.
    std::function<void()> apply;
  };
  // What the trail last said about one slot's health.
  struct HealthTrail {
    std::string version;
    v1::Health recorded = v1::HEALTH_UNKNOWN;
    std::chrono::steady_clock::time_point last_row{};
    uint32_t changes_since = 0;  // transitions seen since that row
  };
  // Writes the slot's health row when it is due; returns its sequence or 0.
  uint64_t RecordHealthRow(SlotIndex slot, bool deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex);

  template <typename PlanFn>
  grpc::Status Mutate(const Caller& caller, AuditAction action, const std::string& reason,
                      PlanFn plan, v1::AgentState* out);
  v1::AgentState StateLocked() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex);
  void Notify(const v1::AgentState* state, uint64_t sequence);
  // Writes a refused attempt's row unless the ledger only counts it.
  void RecordRefusal(AuditRecord* row) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex);
  void Complain(const std::string& what, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex);
  AuditRecord Row(const Caller& caller, AuditAction action, const std::string& reason) const;
  // What a change by someone else does to a rollout in progress: a
  // rollback or a new candidate ends it, a promotion completes it, a split
  // set by hand pauses it. Adds a sentence to the row's evidence.
  void RolloutAfter(AuditAction action, const Caller& caller, const ReleaseState& now, Plan* p);
  // The candidate becomes the baseline (Promote, and a plan's last step).
  // Refused while the candidate fails its probe or its breaker is not closed.
  static void PlanPromotion(const ReleaseState& now, const SlotHealth& candidate_health,
                            BreakerState candidate_breaker, Plan* p);
  BreakerState CandidateBreaker() const;
  // The plan's next move, made by the agent itself.
  void MoveRollout(const v1::RolloutProgress& seen, const RolloutTick& tick);
  // The policy's breakers and rate limits, onto the data plane.
  void ApplyProtection(const AnalysisPolicy& policy);
  // A row per breaker transition since the last call; the newest sequence or 0.
  uint64_t RecordBreakerRows() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex);

  CanaryPair& m_pair;
  AuditLog& m_audit;
  const AgentIdentity m_identity;
  const ReleaseLimits m_limits;
  StepLedger* const m_steps;

  mutable absl::Mutex m_mutex;  // serialises mutations and every append
  ReleaseState m_state ABSL_GUARDED_BY(m_mutex);
  RefusalLedger m_refusals ABSL_GUARDED_BY(m_mutex);
  std::chrono::steady_clock::time_point m_last_complaint ABSL_GUARDED_BY(m_mutex);
  size_t m_pending_seen ABSL_GUARDED_BY(m_mutex) = 0;
  std::array<HealthTrail, CanaryPair::kSlots> m_health_trail ABSL_GUARDED_BY(m_mutex);
  // Drills consoles were last told of, so an expiry is pushed too.
  std::array<bool, CanaryPair::kSlots> m_drill_shown ABSL_GUARDED_BY(m_mutex){};

  mutable absl::Mutex m_verdict_mutex;  // taken after m_mutex, never before
  v1::AnalysisVerdict m_verdict ABSL_GUARDED_BY(m_verdict_mutex);

  absl::Mutex m_watch_mutex;  // taken before m_mutex (Watch reads the state under it)
  std::vector<ReleaseWatcher*> m_watchers ABSL_GUARDED_BY(m_watch_mutex);
  bool m_closed ABSL_GUARDED_BY(m_watch_mutex) = false;
};

// A reason is required, at most kMaxReasonBytes of UTF-8; newlines and
// tabs are fine, other control characters are not.
grpc::Status CheckReason(const std::string& reason);

}  // namespace greylane
