#include "agent/server/release_controller.h"

#include <cstdio>

#include "agent/server/canary_agent.h"

namespace greylane {
namespace {
int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

grpc::Status CheckReason(const std::string& reason) {
  if (reason.empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "a reason is required: say why"};
  }
  if (reason.size() > kMaxReasonBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "the reason is " + std::to_string(reason.size()) +
                                                    " bytes; at most " +
                                                    std::to_string(kMaxReasonBytes)};
  }
  return grpc::Status::OK;
}

grpc::Status Stale(uint64_t expected, const SplitValue& now) {
  return {grpc::StatusCode::ABORTED,
          "the state changed since revision " + std::to_string(expected) + ": the split is now " +
              std::to_string(now.candidate_basis_points) + " bp at revision " +
              std::to_string(now.revision) + "; re-read the state and decide again"};
}
}  // namespace

ReleaseController::ReleaseController(CanaryPair& pair, AuditLog& audit, AgentIdentity identity,
                                     ReleaseState initial, std::chrono::milliseconds probe_timeout)
    : m_pair(pair),
      m_audit(audit),
      m_identity(std::move(identity)),
      m_probe_timeout(probe_timeout),
      m_state(std::move(initial)) {}

AuditState ReleaseController::Snapshot(const ReleaseState& s) const {
  return {s.split.candidate_basis_points, s.split.revision,
          s.slot_specs[CanaryPair::Physical(SlotId::kBaseline, s.split)].version,
          s.slot_specs[CanaryPair::Physical(SlotId::kCandidate, s.split)].version,
          PhaseName(s.phase)};
}

AuditRecord ReleaseController::Row(const Caller& caller, const std::string& action,
                                   const std::string& reason) const {
  AuditRecord row;
  row.actor = caller.identity;
  row.role = RoleName(caller.role);
  row.peer = caller.peer;
  row.action = action;
  row.reason = reason;
  return row;
}

bool ReleaseController::RecordStart(bool restored, const std::string& detail, std::string* error) {
  std::lock_guard lock(m_mutex);
  AuditRecord row;
  row.actor = "agent";
  row.role = "system";
  row.action = restored ? "start" : "initialize";
  row.outcome = "ok";
  row.reason = detail;
  row.before = restored ? Snapshot(m_state) : AuditState{};
  row.after = Snapshot(m_state);
  if (!restored) {
    m_state.last_change.set_time_unix_ms(NowUnixMillis());
    m_state.last_change.set_actor("agent");
    m_state.last_change.set_action("initialize");
    m_state.last_change.set_reason(detail);
    m_state.last_change.set_audit_sequence(m_audit.LastSequence() + 1);
  }
  const std::string blob = EncodeReleaseState(m_state);
  return m_audit.Append(&row, restored ? nullptr : &blob, error);
}

template <typename PlanFn>
grpc::Status ReleaseController::Mutate(const Caller& caller, const std::string& action,
                                       const std::string& reason, PlanFn plan,
                                       v1::AgentState* out) {
  std::unique_lock lock(m_mutex);
  AuditRecord row = Row(caller, action, reason);
  row.before = Snapshot(m_state);
  Plan p;
  p.refusal = CheckReason(reason);
  if (p.refusal.ok()) {
    p.next = m_state;
    plan(m_state, &p);
  }
  if (!p.refusal.ok()) {
    row.outcome = "rejected";
    row.after = row.before;
    row.evidence = p.refusal.error_message();
    std::string error;
    if (!m_audit.Append(&row, nullptr, &error)) {
      std::fprintf(stderr, "greylane-agent: could not record a rejected %s: %s\n", action.c_str(),
                   error.c_str());
    }
    lock.unlock();
    Notify(nullptr, row.sequence);
    return p.refusal;
  }

  row.outcome = "ok";
  row.evidence = p.evidence;
  if (p.changes) {
    p.next.last_change.set_time_unix_ms(NowUnixMillis());
    p.next.last_change.set_actor(caller.identity);
    p.next.last_change.set_action(action);
    p.next.last_change.set_reason(reason);
    if (p.install) {
      p.next.slot_specs[CanaryPair::Physical(SlotId::kCandidate, p.next.split)] = p.version.spec;
    }
  }
  row.after = p.changes ? Snapshot(p.next) : row.before;
  // The sequence this row will get: the state stored with it names it.
  p.next.last_change.set_audit_sequence(m_audit.LastSequence() + 1);
  const std::string blob = EncodeReleaseState(p.next);
  std::string error;
  if (!m_audit.Append(&row, p.changes ? &blob : nullptr, &error)) {
    return {grpc::StatusCode::UNAVAILABLE,
            "the audit trail could not be written, so nothing was changed: " + error};
  }
  if (p.changes) {
    if (p.install) {
      const size_t physical = CanaryPair::Physical(SlotId::kCandidate, p.next.split);
      m_pair.InstallAt(physical, std::move(p.version));
      m_pair.SetHealthAt(physical, &m_pair.VersionAt(physical), std::move(p.health));
    }
    m_pair.Split().Publish(p.next.split);  // in force for the very next request
    p.next.last_change.set_apply_micros(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - caller.arrived)
                                            .count());
    m_state = std::move(p.next);
  }
  *out = StateLocked();
  lock.unlock();
  Notify(p.changes ? out : nullptr, row.sequence);
  return grpc::Status::OK;
}

grpc::Status ReleaseController::SetSplit(const Caller& caller, uint32_t basis_points,
                                         uint64_t expected_revision, const std::string& reason,
                                         v1::AgentState* out) {
  return Mutate(
      caller, "set_split", reason,
      [&](const ReleaseState& now, Plan* p) {
        if (basis_points > kMaxBasisPoints) {
          p->refusal = {grpc::StatusCode::INVALID_ARGUMENT,
                        "candidate_basis_points must be 0..10000 (0.01 % steps), got " +
                            std::to_string(basis_points)};
          return;
        }
        if (expected_revision != now.split.revision) {
          p->refusal = Stale(expected_revision, now.split);
          return;
        }
        p->next.split = {basis_points, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = basis_points == 0 ? v1::STEADY : v1::CANARY;
      },
      out);
}

grpc::Status ReleaseController::Rollback(const Caller& caller, const std::string& reason,
                                         v1::AgentState* out) {
  return Mutate(
      caller, "rollback", reason,
      [&](const ReleaseState& now, Plan* p) {
        if (now.split.candidate_basis_points == 0 && now.phase == v1::ROLLED_BACK) {
          p->changes = false;
          p->evidence = "already rolled back; nothing changed";
          return;
        }
        p->next.split = {0, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = v1::ROLLED_BACK;
        p->evidence = "candidate had " + std::to_string(now.split.candidate_basis_points) + " bp";
      },
      out);
}

grpc::Status ReleaseController::Promote(const Caller& caller, uint64_t expected_revision,
                                        const std::string& reason, v1::AgentState* out) {
  const SlotHealth candidate_health = m_pair.Health(SlotId::kCandidate);
  return Mutate(
      caller, "promote", reason,
      [&](const ReleaseState& now, Plan* p) {
        if (expected_revision != now.split.revision) {
          p->refusal = Stale(expected_revision, now.split);
          return;
        }
        if (candidate_health.health == v1::UNHEALTHY) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        "the candidate failed its last deep probe (" + candidate_health.detail +
                            "); it cannot become the baseline"};
          return;
        }
        // Roles swap and the new baseline takes 100 %, in one atomic store.
        p->next.split = {0, now.split.revision + 1, !now.split.roles_swapped};
        p->next.phase = v1::PROMOTED;
      },
      out);
}

grpc::Status ReleaseController::LoadCandidate(const Caller& caller, const SlotConfig& spec,
                                              uint64_t expected_revision, const std::string& reason,
                                              v1::AgentState* out) {
  // Cheap checks first, so a doomed request does not build or probe anything.
  grpc::Status problem;
  {
    std::lock_guard lock(m_mutex);
    const std::string baseline =
        m_state.slot_specs[CanaryPair::Physical(SlotId::kBaseline, m_state.split)].version;
    if (spec.version.empty()) {
      problem = {grpc::StatusCode::INVALID_ARGUMENT, "the version spec needs a version name"};
    } else if (spec.backend == "builtin" && !spec.model_file.empty() &&
               spec.model_file.front() != '/') {
      problem = {
          grpc::StatusCode::INVALID_ARGUMENT,
          "model_file must be an absolute path on the agent's node, not '" + spec.model_file + "'"};
    } else if (spec.version == baseline) {
      problem = {grpc::StatusCode::INVALID_ARGUMENT,
                 "version '" + spec.version + "' is the baseline; give the candidate another name"};
    } else if (expected_revision != m_state.split.revision) {
      problem = Stale(expected_revision, m_state.split);
    } else if (m_state.split.candidate_basis_points != 0) {
      problem = {grpc::StatusCode::FAILED_PRECONDITION,
                 "the candidate still has " + std::to_string(m_state.split.candidate_basis_points) +
                     " bp of traffic; set it to 0 (or roll back) before replacing it"};
    }
  }
  SlotVersion version{spec.version, nullptr, spec};
  std::string probe_detail;
  if (problem.ok()) {
    std::string error;
    std::unique_ptr<Backend> backend = MakeBackend(spec, &error);
    if (!backend) {
      problem = {grpc::StatusCode::INVALID_ARGUMENT, "cannot build the version: " + error};
    } else {
      const grpc::Status probe = backend->Probe(m_probe_timeout);
      if (!probe.ok()) {
        problem = {grpc::StatusCode::FAILED_PRECONDITION,
                   "the new version failed its deep probe: " + probe.error_message()};
      }
      version.backend = std::move(backend);
      probe_detail = spec.backend + " " +
                     (spec.backend == "builtin" ? spec.model_file : spec.upstream.address) +
                     "; deep probe passed";
    }
  }
  return Mutate(
      caller, "load_candidate", reason,
      [&](const ReleaseState& now, Plan* p) {
        if (!problem.ok()) {
          p->refusal = problem;
          return;
        }
        // Re-check under the lock: the state may have moved during the probe.
        if (expected_revision != now.split.revision) {
          p->refusal = Stale(expected_revision, now.split);
          return;
        }
        p->next.split.revision = now.split.revision + 1;
        p->next.phase = v1::STEADY;
        p->install = true;
        p->version = std::move(version);
        p->health = {v1::HEALTHY, "", NowUnixMillis()};
        p->evidence = probe_detail;
      },
      out);
}

grpc::Status ReleaseController::Deny(const Caller& caller, const std::string& action,
                                     const std::string& reason, Role needed) {
  const std::string message = std::string("role ") + RoleName(caller.role) + " may not " + action +
                              ": it needs " + RoleName(needed) + " or higher";
  AuditRecord row = Row(caller, action, reason.substr(0, kMaxReasonBytes));
  row.outcome = "denied";
  row.evidence = message;
  {
    std::lock_guard lock(m_mutex);
    row.before = row.after = Snapshot(m_state);
    std::string error;
    if (!m_audit.Append(&row, nullptr, &error)) {
      std::fprintf(stderr, "greylane-agent: could not record a denied %s: %s\n", action.c_str(),
                   error.c_str());
    }
  }
  Notify(nullptr, row.sequence);
  return {grpc::StatusCode::PERMISSION_DENIED, message};
}

v1::AgentState ReleaseController::State() const {
  std::lock_guard lock(m_mutex);
  return StateLocked();
}

ReleaseState ReleaseController::Persistent() const {
  std::lock_guard lock(m_mutex);
  return m_state;
}

v1::AgentState ReleaseController::StateLocked() const {
  v1::AgentState state;
  state.set_agent_id(m_identity.agent_id);
  state.set_node_name(m_identity.node_name);
  state.set_model_name(m_identity.model_name);
  state.set_sticky_header(m_identity.sticky_header);
  state.set_agent_version(m_identity.agent_version);
  state.set_started_unix_ms(m_identity.started_unix_ms);
  const SplitValue split = m_state.split;
  for (const SlotId role : {SlotId::kBaseline, SlotId::kCandidate}) {
    const size_t physical = CanaryPair::Physical(role, split);
    const SlotVersion& version = m_pair.VersionAt(physical);
    const SlotHealth health = m_pair.HealthAt(physical);
    auto* v = state.add_versions();
    v->set_slot(ToProto(role));
    v->set_version(version.version);
    v->set_backend_kind(version.spec.backend);
    v->set_backend_target(version.spec.backend == "builtin" ? version.spec.model_file
                                                            : version.spec.upstream.address);
    v->set_health(health.health);
    v->set_health_detail(health.detail);
    v->set_health_checked_unix_ms(health.checked_unix_ms);
  }
  state.mutable_split()->set_candidate_basis_points(split.candidate_basis_points);
  state.mutable_split()->set_revision(split.revision);
  state.set_phase(m_state.phase);
  *state.mutable_last_change() = m_state.last_change;
  return state;
}

void ReleaseController::Notify(const v1::AgentState* state, uint64_t sequence) {
  std::lock_guard lock(m_watch_mutex);
  for (ReleaseWatcher* w : m_watchers) {
    if (state) w->OnState(*state);
    if (sequence) w->OnAuditRow(sequence);
  }
}

void ReleaseController::Watch(ReleaseWatcher* watcher) {
  // The state is read under the watchers' lock: a change either lands before
  // it (and is in this state) or notifies after the registration.
  std::lock_guard lock(m_watch_mutex);
  watcher->OnState(State());
  if (m_closed) {
    watcher->OnClosed();
    return;
  }
  m_watchers.push_back(watcher);
}

void ReleaseController::Unwatch(ReleaseWatcher* watcher) {
  std::lock_guard lock(m_watch_mutex);
  std::erase(m_watchers, watcher);
}

void ReleaseController::CloseWatchers() {
  std::lock_guard lock(m_watch_mutex);
  m_closed = true;
  for (ReleaseWatcher* w : m_watchers) w->OnClosed();
}

}  // namespace greylane
