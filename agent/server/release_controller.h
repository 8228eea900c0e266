#pragma once
// Every change to what the agent serves goes through here, one at a time:
// validate -> append to the audit trail durably -> apply -> notify watchers.
// A crash at any point leaves the trail and the applied state consistent:
// the state restored at start-up is the one the last `ok` row produced.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "agent/audit/audit_log.h"
#include "agent/auth/token_store.h"
#include "agent/server/canary_pair.h"
#include "agent/server/release_state.h"
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
  std::string peer;
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
};

inline constexpr size_t kMaxReasonBytes = 1024;

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
  ReleaseController(CanaryPair& pair, AuditLog& audit, AgentIdentity identity, ReleaseState initial,
                    std::chrono::milliseconds probe_timeout);

  // The first row of a new trail ("initialize") or a restart's ("start").
  bool RecordStart(bool restored, const std::string& detail, std::string* error);

  grpc::Status SetSplit(const Caller& caller, uint32_t basis_points, uint64_t expected_revision,
                        const std::string& reason, v1::AgentState* out);
  grpc::Status Rollback(const Caller& caller, const std::string& reason, v1::AgentState* out);
  grpc::Status Promote(const Caller& caller, uint64_t expected_revision, const std::string& reason,
                       v1::AgentState* out);
  // Builds and probes the new version (up to the probe timeout) before it
  // takes the lock, so a rollback is never kept waiting by it.
  grpc::Status LoadCandidate(const Caller& caller, const SlotConfig& spec,
                             uint64_t expected_revision, const std::string& reason,
                             v1::AgentState* out);
  // Records an attempt refused for its role and returns PERMISSION_DENIED.
  grpc::Status Deny(const Caller& caller, const std::string& action, const std::string& reason,
                    Role needed);

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
    bool install = false;  // install `version` into the candidate's physical slot
    SlotVersion version;
    SlotHealth health;  // of `version`, from the probe it passed
    std::string evidence;
  };
  template <typename PlanFn>
  grpc::Status Mutate(const Caller& caller, const std::string& action, const std::string& reason,
                      PlanFn plan, v1::AgentState* out);
  AuditState Snapshot(const ReleaseState& state) const;
  v1::AgentState StateLocked() const;
  void Notify(const v1::AgentState* state, uint64_t sequence);
  AuditRecord Row(const Caller& caller, const std::string& action, const std::string& reason) const;

  CanaryPair& m_pair;
  AuditLog& m_audit;
  const AgentIdentity m_identity;
  const std::chrono::milliseconds m_probe_timeout;

  mutable std::mutex m_mutex;  // serialises mutations; guards m_state
  ReleaseState m_state;

  std::mutex m_watch_mutex;
  std::vector<ReleaseWatcher*> m_watchers;
  bool m_closed = false;
};

}  // namespace greylane
