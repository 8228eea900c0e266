#include "agent/server/release_controller.h"

#include <cstdio>
#include <ctime>

#include "agent/analysis/canary_analysis.h"
#include "agent/backends/version_spec.h"
#include "common/text.h"
#include "common/unix_time.h"

namespace greylane {
namespace {
grpc::Status Stale(uint64_t expected, const SplitValue& now) {
  return {grpc::StatusCode::ABORTED,
          "the state changed since revision " + std::to_string(expected) + ": the split is now " +
              std::to_string(now.candidate_basis_points) + " bp at revision " +
              std::to_string(now.revision) + "; re-read the state and decide again"};
}
}  // namespace

grpc::Status CheckReason(const std::string& reason) {
  if (reason.empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "a reason is required: say why"};
  }
  if (std::string problem = TextProblem("the reason", reason, kMaxReasonBytes, TextKind::kProse);
      !problem.empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, problem};
  }
  return grpc::Status::OK;
}

ReleaseController::ReleaseController(CanaryPair& pair, AuditLog& audit, AgentIdentity identity,
                                     ReleaseState initial, ReleaseLimits limits, StepLedger* steps)
    : m_pair(pair),
      m_audit(audit),
      m_identity(std::move(identity)),
      m_limits(std::move(limits)),
      m_steps(steps),
      m_state(std::move(initial)) {
  ApplyProtection(m_state.policy);
}

void ReleaseController::ApplyProtection(const AnalysisPolicy& policy) {
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    m_pair.BreakerAt(slot).Configure(static_cast<uint32_t>(policy.breaker_failures),
                                     std::chrono::seconds(policy.breaker_cooldown_seconds));
  }
  m_pair.LimitOf(ReleaseRole::kCandidate).Configure(policy.candidate_rate_limit);
  m_pair.LimitOf(ReleaseRole::kBaseline).Configure(policy.baseline_rate_limit);
}

AuditRecord ReleaseController::Row(const Caller& caller, AuditAction action,
                                   const std::string& reason) const {
  AuditRecord row;
  row.actor = caller.identity;
  row.role = caller.system ? "system" : RoleName(caller.role);
  row.peer = caller.peer;
  row.action = std::string(AuditActionName(action));
  row.reason = reason;
  return row;
}

void ReleaseController::Complain(const std::string& what, const absl::Status& status) {
  // A flood of failing writes must not become a flood of log lines.
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_complaint < std::chrono::seconds(10)) return;
  m_last_complaint = now;
  std::fprintf(stderr, "greylane-agent: could not record %s: %s\n", what.c_str(),
               std::string(status.message()).c_str());
}

void ReleaseController::RecordRefusal(AuditRecord* row) {
  if (!m_refusals.Admit(*row, std::chrono::steady_clock::now())) return;
  if (absl::Status s = m_audit.Append(row, nullptr); !s.ok()) {
    Complain("a " + row->outcome + " " + row->action, s);
    row->sequence = 0;
  }
}

void ReleaseController::RecordStart(const RestoredRelease& restored) {
  uint64_t sequence = 0;
  {
    absl::MutexLock lock(&m_mutex);
    AuditRecord row;
    row.actor = "agent";
    row.role = "system";
    row.outcome = std::string(AuditOutcomeName(AuditOutcome::kOk));
    row.reason = restored.detail;
    const bool first = restored.how == RestoredRelease::How::kFirstStart;
    const bool recovered = restored.how == RestoredRelease::How::kRecovered;
    row.action = std::string(AuditActionName(first       ? AuditAction::kInitialize
                                             : recovered ? AuditAction::kRecover
                                                         : AuditAction::kStart));
    if (recovered) {
      // The trail's last row says what is in force: the recovery row goes
      // from that to the same state, now stored again.
      if (auto last = m_audit.Last()) row.before = last->after;
    } else if (!first) {
      row.before = SnapshotOf(m_state);
    }
    row.after = SnapshotOf(m_state);
    if (!first && m_state.rollout.phase() == v1::ROLLOUT_BAKING) {
      // What the step had baked was judged by the run that stopped.
      v1::RolloutProgress& r = m_state.rollout;
      r.set_baked_seconds(0);
      r.set_extended_seconds(0);
      r.set_step_started_unix_ms(NowUnixMillis());
      r.set_detail("baking at " + StepText(r.plan(), r.step()) +
                   " (resumed after a restart: the step's bake starts again)");
      row.evidence =
          "the rollout resumes at " + StepText(r.plan(), r.step()) + "; its bake starts again";
    } else if (!first && RolloutActive(m_state.rollout.phase())) {
      row.evidence =
          "the rollout stays " +
          std::string(m_state.rollout.phase() == v1::ROLLOUT_PAUSED ? "paused" : "at its gate") +
          " at " + StepText(m_state.rollout.plan(), m_state.rollout.step());
    }
    const bool stores_state = first || recovered;
    if (stores_state) {
      m_state.last_change.set_time_unix_ms(NowUnixMillis());
      m_state.last_change.set_actor("agent");
      m_state.last_change.set_action(row.action);
      m_state.last_change.set_reason(restored.detail);
      m_state.last_change.set_audit_sequence(m_audit.LastSequence() + 1);
    }
    const std::string blob = EncodeReleaseState(m_state);
    std::string why;
    if (m_audit.AppendSafety(&row, stores_state ? &blob : nullptr, &why) !=
        AuditLog::Durability::kTrail) {
      std::fprintf(stderr, "greylane-agent: the %s row is pending: %s\n", row.action.c_str(),
                   why.c_str());
    }
    sequence = row.sequence;
  }
  Notify(nullptr, sequence);
}

template <typename PlanFn>
grpc::Status ReleaseController::Mutate(const Caller& caller, AuditAction action,
                                       const std::string& reason, PlanFn plan,
                                       v1::AgentState* out) {
  absl::ReleasableMutexLock lock(&m_mutex);
  AuditRecord row = Row(caller, action, reason);
  row.before = SnapshotOf(m_state);
  Plan p;
  p.refusal = CheckReason(reason);
  if (p.refusal.ok()) {
    p.next = m_state;
    plan(m_state, &p);
    if (p.refusal.ok() && p.changes) RolloutAfter(action, caller, m_state, &p);
  }
  if (!p.refusal.ok()) {
    row.outcome = std::string(AuditOutcomeName(AuditOutcome::kRejected));
    row.after = row.before;
    row.evidence = p.refusal.error_message();
    RecordRefusal(&row);
    lock.Release();
    Notify(nullptr, row.sequence);
    return p.refusal;
  }

  row.outcome = std::string(AuditOutcomeName(AuditOutcome::kOk));
  row.evidence = p.evidence;
  if (p.changes) {
    p.next.last_change.set_time_unix_ms(NowUnixMillis());
    p.next.last_change.set_actor(caller.identity);
    p.next.last_change.set_action(row.action);
    p.next.last_change.set_reason(reason);
    if (p.install) {
      p.next.slot_specs[CanaryPair::SlotOf(ReleaseRole::kCandidate, p.next.split)] = p.version.spec;
    }
  }
  // A drill belongs to its version's role: promotion would carry a
  // candidate's drill onto all production traffic, so it ends the drills.
  const bool swaps = p.changes && p.next.split.roles_swapped != m_state.split.roles_swapped;
  if (swaps) {
    for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
      if (m_pair.DrillAt(slot).Active()) {
        row.evidence += (row.evidence.empty() ? "" : "; ") + std::string("the fault drill on '") +
                        m_pair.VersionAt(slot).version + "' ended with it";
      }
    }
  }
  row.after = p.changes ? SnapshotOf(p.next) : row.before;
  // A policy change is no traffic change, nor is a plan's pause, gate or
  // resume at the same weight: they close no step.
  const bool rollout_only =
      (action == AuditAction::kRolloutStep || action == AuditAction::kPauseRollout ||
       action == AuditAction::kResumeRollout) &&
      p.next.split.revision == m_state.split.revision;
  if (p.changes && m_steps && action != AuditAction::kSetPolicy && !rollout_only) {
    row.step = m_steps->Peek(NowUnixMillis(), m_state.split.candidate_basis_points);
  }
  // The sequence this row will get: the state stored with it names it.
  p.next.last_change.set_audit_sequence(m_audit.LastSequence() + 1);
  const std::string blob = EncodeReleaseState(p.next);
  if (action == AuditAction::kRollback || action == AuditAction::kAbortRollout) {
    // Safety first: in force whether or not the trail can be written now.
    std::string why;
    if (m_audit.AppendSafety(&row, p.changes ? &blob : nullptr, &why) !=
        AuditLog::Durability::kTrail) {
      std::fprintf(
          stderr, "greylane-agent: rollback by %s applied; its audit row #%llu is pending: %s\n",
          caller.identity.c_str(), static_cast<unsigned long long>(row.sequence), why.c_str());
    }
  } else if (absl::Status s = m_audit.Append(&row, p.changes ? &blob : nullptr); !s.ok()) {
    if (row.step) m_steps->Abandon();
    return {grpc::StatusCode::UNAVAILABLE,
            "the audit trail could not be written, so nothing was changed (a rollback would "
            "still take effect): " +
                std::string(s.message())};
  }
  if (row.step) m_steps->Commit();
  if (swaps) {
    for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) m_pair.DrillAt(slot).Stop();
  }
  if (p.apply) p.apply();
  if (p.changes) {
    if (p.install) {
      const SlotIndex slot = CanaryPair::SlotOf(ReleaseRole::kCandidate, p.next.split);
      m_pair.InstallAt(slot, std::move(p.version));
      m_pair.SetHealthAt(slot, &m_pair.VersionAt(slot), std::move(p.health));
    }
    m_pair.Split().Publish(p.next.split);  // in force for the very next request
    if (!(p.next.policy == m_state.policy)) ApplyProtection(p.next.policy);
    // The agent's own changes answer no request.
    p.next.last_change.set_apply_micros(caller.system
                                            ? 0
                                            : std::chrono::duration_cast<std::chrono::microseconds>(
                                                  std::chrono::steady_clock::now() - caller.arrived)
                                                  .count());
    m_state = std::move(p.next);
  }
  *out = StateLocked();
  m_pending_seen = out->audit_rows_pending();
  lock.Release();
  Notify(p.changes || p.apply || out->audit_rows_pending() ? out : nullptr, row.sequence);
  return grpc::Status::OK;
}

grpc::Status ReleaseController::SetSplit(const Caller& caller, uint32_t basis_points,
                                         uint64_t expected_revision, const std::string& reason,
                                         v1::AgentState* out) {
  return Mutate(
      caller, AuditAction::kSetSplit, reason,
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
  // Never refused for its words: a reason that is empty, too long or holds
  // control characters is stored repaired, and the evidence says so.
  std::string repaired = reason;
  std::string note;
  if (const grpc::Status problem = CheckReason(reason); !problem.ok()) {
    repaired = reason.empty() ? std::string("(no reason given)")
                              : ClampText(TerminalSafe(reason, true), kMaxReasonBytes);
    note = "; the reason as sent was stored repaired (" + problem.error_message() + ")";
  }
  return Mutate(
      caller, AuditAction::kRollback, repaired,
      [&](const ReleaseState& now, Plan* p) {
        if (now.split.candidate_basis_points == 0 && now.phase == v1::ROLLED_BACK) {
          p->changes = false;
          p->evidence = "already rolled back; nothing changed" + note;
          return;
        }
        p->next.split = {0, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = v1::ROLLED_BACK;
        p->evidence =
            "candidate had " + std::to_string(now.split.candidate_basis_points) + " bp" + note;
      },
      out);
}

grpc::Status ReleaseController::Promote(const Caller& caller, uint64_t expected_revision,
                                        const std::string& reason, v1::AgentState* out) {
  const SlotHealth candidate_health = m_pair.Health(ReleaseRole::kCandidate);
  const BreakerState candidate_breaker = CandidateBreaker();
  return Mutate(
      caller, AuditAction::kPromote, reason,
      [&](const ReleaseState& now, Plan* p) {
        if (expected_revision != now.split.revision) {
          p->refusal = Stale(expected_revision, now.split);
          return;
        }
        PlanPromotion(now, candidate_health, candidate_breaker, p);
      },
      out);
}

BreakerState ReleaseController::CandidateBreaker() const {
  return m_pair.BreakerAt(CanaryPair::SlotOf(ReleaseRole::kCandidate, m_pair.Split().Load()))
      .Snapshot()
      .state;
}

void ReleaseController::PlanPromotion(const ReleaseState& now, const SlotHealth& candidate_health,
                                      BreakerState candidate_breaker, Plan* p) {
  if (candidate_breaker != BreakerState::kClosed) {
    p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                  std::string("the candidate's circuit breaker is ") +
                      BreakerStateName(candidate_breaker) +
                      " (it failed requests in a row); it cannot become the baseline until "
                      "trials close it"};
    return;
  }
  if (candidate_health.health == v1::UNHEALTHY) {
    p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                  "the candidate failed its last deep probe (" +
                      ClampText(candidate_health.detail, 300) + "); it cannot become the baseline"};
    return;
  }
  // Roles swap and the new baseline takes 100 %, in one atomic store.
  p->next.split = {0, now.split.revision + 1, !now.split.roles_swapped};
  p->next.phase = v1::PROMOTED;
}

grpc::Status ReleaseController::LoadCandidate(const Caller& caller, const VersionSpec& spec,
                                              uint64_t expected_revision, const std::string& reason,
                                              v1::AgentState* out) {
  // Cheap checks first, so a doomed request does not build or probe anything.
  grpc::Status problem = CheckReason(reason);
  if (problem.ok()) {
    if (std::string bad = VersionSpecProblem(spec, m_limits.models_root); !bad.empty()) {
      problem = {grpc::StatusCode::INVALID_ARGUMENT, bad};
    } else if (!spec.command.empty()) {
      // A control call that runs commands on the node would make every
      // operator token a shell: supervised servers come from the config.
      problem = {grpc::StatusCode::PERMISSION_DENIED,
                 "a version with a command (a supervised model server) can only come from the "
                 "agent's config file; start its server and load it as openai-http instead"};
    }
  }
  if (problem.ok()) {
    absl::MutexLock lock(&m_mutex);
    const std::string baseline =
        m_state.slot_specs[CanaryPair::SlotOf(ReleaseRole::kBaseline, m_state.split)].version;
    if (spec.version == baseline) {
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
  SlotVersion version{spec.version, nullptr, spec, nullptr};
  std::string probe_detail;
  if (problem.ok()) {
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeBackend(spec);
    if (!backend.ok()) {
      problem = {grpc::StatusCode::INVALID_ARGUMENT,
                 "cannot build the version: " + std::string(backend.status().message())};
    } else {
      const grpc::Status probe =
          (*backend)->Probe(m_limits.probe_timeout, ForwardingName(m_identity.agent_id));
      if (!probe.ok()) {
        problem = {
            grpc::StatusCode::FAILED_PRECONDITION,
            "the new version failed its deep probe: " + ClampText(probe.error_message(), 400)};
      } else if (std::string bad =
                     SignatureProblem(m_pair.Version(ReleaseRole::kBaseline).backend->Description(),
                                      (*backend)->Description());
                 !bad.empty()) {
        // Its own probe passes, but every real request would fail, booked
        // as the client's mistake: refuse it here.
        problem = {grpc::StatusCode::FAILED_PRECONDITION, ClampText(bad, 600)};
      }
      version.backend = std::move(*backend);
      probe_detail = spec.backend + " " + BackendTarget(spec) + "; deep probe passed";
    }
  }
  return Mutate(
      caller, AuditAction::kLoadCandidate, reason,
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

grpc::Status ReleaseController::Deny(const Caller& caller, AuditAction action,
                                     const std::string& reason, Role needed) {
  const std::string message = std::string("role ") + RoleName(caller.role) + " may not " +
                              std::string(AuditActionName(action)) + ": it needs " +
                              RoleName(needed) + " or higher";
  AuditRecord row = Row(caller, action, reason);
  row.outcome = std::string(AuditOutcomeName(AuditOutcome::kDenied));
  row.evidence = message;
  {
    absl::MutexLock lock(&m_mutex);
    row.before = row.after = SnapshotOf(m_state);
    RecordRefusal(&row);
  }
  Notify(nullptr, row.sequence);
  return {grpc::StatusCode::PERMISSION_DENIED, message};
}

void ReleaseController::RecordHealth(SlotIndex slot, const SlotVersion* probed, SlotHealth health) {
  v1::AgentState state;
  bool pushed = false;
  uint64_t sequence = 0;
  {
    absl::MutexLock lock(&m_mutex);
    const SlotHealth before = m_pair.HealthAt(slot);
    m_pair.SetHealthAt(slot, probed, std::move(health));
    const SlotHealth now = m_pair.HealthAt(slot);
    if (now.health != before.health || now.detail != before.detail) {
      pushed = true;
      if (now.health != before.health) ++m_health_trail[slot].changes_since;
      sequence = RecordHealthRow(slot, false);
      state = StateLocked();
    }
  }
  if (pushed) Notify(&state, sequence);
}

uint64_t ReleaseController::RecordHealthRow(SlotIndex slot, bool deferred) {
  HealthTrail& trail = m_health_trail[slot];
  const SlotVersion& version = m_pair.VersionAt(slot);
  const SlotHealth now = m_pair.HealthAt(slot);
  if (trail.version != version.version) {
    // A new version in the slot: its load row already says its probe
    // passed, and a restart's first probe of a healthy version says nothing new.
    trail = {version.version, now.health == v1::UNHEALTHY ? v1::HEALTH_UNKNOWN : now.health, {}, 0};
  }
  if (now.health == v1::HEALTH_UNKNOWN) return 0;
  if (now.health == trail.recorded && trail.changes_since == 0) return 0;
  const auto clock = std::chrono::steady_clock::now();
  if (trail.last_row != std::chrono::steady_clock::time_point{} &&
      clock - trail.last_row < m_limits.health_row_gap) {
    return 0;  // Housekeep writes it when the gap has passed
  }
  if (now.health == trail.recorded && !deferred) return 0;

  AuditRecord row;
  row.actor = "prober";
  row.role = "system";
  row.action = std::string(AuditActionName(AuditAction::kHealth));
  row.outcome = std::string(AuditOutcomeName(AuditOutcome::kOk));
  const char* role = ReleaseRoleName(CanaryPair::RoleOf(slot, m_state.split));
  row.reason = std::string(role) + " '" + version.version + "' is " +
               (now.health == v1::HEALTHY ? "HEALTHY" : "UNHEALTHY") +
               (now.detail.empty() ? std::string() : ": " + ClampText(now.detail, 600));
  row.evidence = "deep probe at " + std::to_string(now.checked_unix_ms) + " ms since the epoch";
  if (trail.changes_since > 1) {
    row.evidence += "; health changed " + std::to_string(trail.changes_since) +
                    " times since the row before (rows are at least " +
                    std::to_string(m_limits.health_row_gap.count()) + " ms apart)";
  }
  row.before = row.after = SnapshotOf(m_state);
  if (absl::Status s = m_audit.Append(&row, nullptr); !s.ok()) {
    Complain("a health change", s);  // tried again by Housekeep
    trail.last_row = clock;
    return 0;
  }
  trail.recorded = now.health;
  trail.last_row = clock;
  trail.changes_since = 0;
  return row.sequence;
}

uint64_t ReleaseController::RecordBreakerRows() {
  uint64_t newest = 0;
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    for (const BreakerEvent& e : m_pair.BreakerAt(slot).TakeEvents()) {
      // A failed trial is counted in the closing row, not a row each: at a
      // 1 s cool-down that would be a row a second for as long as it fails.
      if (e.reopened) continue;
      const ReleaseRole role = CanaryPair::RoleOf(slot, m_state.split);
      const std::string who =
          std::string(ReleaseRoleName(role)) + " '" + m_pair.VersionAt(slot).version + "'";
      AuditRecord row;
      row.actor = "breaker";
      row.role = "system";
      row.peer = "agent";
      row.outcome = std::string(AuditOutcomeName(AuditOutcome::kOk));
      const bool opened = e.to == BreakerState::kOpen;
      row.action = std::string(
          AuditActionName(opened ? AuditAction::kBreakerOpen : AuditAction::kBreakerClose));
      const std::string serves = role == ReleaseRole::kCandidate
                                     ? "its users are served by the baseline"
                                     : "the baseline keeps serving (it has nowhere safer to go)";
      const int cooldown = m_state.policy.breaker_cooldown_seconds;
      if (opened) {
        row.reason = "circuit breaker of " + who + " opened after " + std::to_string(e.failures) +
                     " consecutive server errors or timeouts; " + serves + " for " +
                     std::to_string(cooldown) + " s, then trial requests decide";
      } else {
        row.reason =
            "circuit breaker of " + who + " closed" +
            (e.last_error.empty() ? ": " + std::to_string(CircuitBreaker::kTrialSuccesses) +
                                        " trial requests in a row succeeded"
                                  : ": " + e.last_error);
      }
      char figures[200];
      if (opened) {
        row.evidence = "the failure that opened it: " + ClampText(e.last_error, 400);
      } else {
        std::snprintf(figures, sizeof(figures),
                      "open for %.1f s; %llu requests meant for it were served by the other "
                      "version or refused meanwhile; %u trial requests failed before it closed",
                      static_cast<double>(e.open_for_ms) / 1000.0,
                      static_cast<unsigned long long>(e.diverted), e.failed_trials);
        row.evidence = figures;
      }
      row.before = row.after = SnapshotOf(m_state);
      if (absl::Status s = m_audit.Append(&row, nullptr); !s.ok()) {
        Complain("a circuit breaker change", s);
        continue;
      }
      newest = row.sequence;
    }
  }
  return newest;
}

void ReleaseController::Housekeep(bool final) {
  v1::AgentState state;
  bool state_changed = false;
  uint64_t newest = 0;
  {
    absl::MutexLock lock(&m_mutex);
    m_audit.Keep();
    for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
      if (const uint64_t sequence = RecordHealthRow(slot, true)) newest = sequence;
    }
    if (const uint64_t sequence = RecordBreakerRows()) {
      newest = sequence;
      state_changed = true;
    }
    for (AuditRecord& row : m_refusals.TakeSummaries(std::chrono::steady_clock::now(), final)) {
      row.before = row.after = SnapshotOf(m_state);
      if (absl::Status s = m_audit.Append(&row, nullptr); !s.ok()) {
        Complain("a summary of refused attempts", s);
      } else {
        newest = row.sequence;
      }
    }
    const size_t pending = m_audit.PendingRows();
    if (pending != m_pending_seen) {
      m_pending_seen = pending;
      state_changed = true;
    }
    for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
      const bool active = m_pair.DrillAt(slot).Active();
      state_changed = state_changed || (m_drill_shown[slot] && !active);  // it expired
      m_drill_shown[slot] = active;
    }
    if (state_changed) state = StateLocked();
  }
  if (state_changed || newest) Notify(state_changed ? &state : nullptr, newest);
}

v1::AgentState ReleaseController::State() const {
  absl::MutexLock lock(&m_mutex);
  return StateLocked();
}

grpc::Status ReleaseController::SetPolicy(const Caller& caller, const AnalysisPolicy& policy,
                                          const std::string& reason, v1::AgentState* out) {
  AnalysisPolicy checked = policy;
  const std::string problem = ValidatePolicy(&checked);
  return Mutate(
      caller, AuditAction::kSetPolicy, reason,
      [&](const ReleaseState& now, Plan* p) {
        if (!problem.empty()) {
          p->refusal = {grpc::StatusCode::INVALID_ARGUMENT, "analysis policy: " + problem};
          return;
        }
        p->evidence = DescribePolicyChange(now.policy, checked);
        p->changes = p->evidence != "no change";
        p->next.policy = checked;
      },
      out);
}

grpc::Status ReleaseController::InjectFault(const Caller& caller, ReleaseRole role,
                                            const FaultSpec& spec, uint32_t duration_seconds,
                                            const std::string& reason, v1::AgentState* out) {
  const std::string problem = FaultSpecProblem(spec, duration_seconds);
  return Mutate(
      caller, AuditAction::kInjectFault, reason,
      [&](const ReleaseState& now, Plan* p) {
        if (!problem.empty()) {
          p->refusal = {grpc::StatusCode::INVALID_ARGUMENT, "fault drill: " + problem};
          return;
        }
        p->changes = false;
        const SlotIndex slot = CanaryPair::SlotOf(role, now.split);
        const std::string who =
            std::string(ReleaseRoleName(role)) + " '" + now.slot_specs[slot].version + "'";
        if (duration_seconds == 0) {
          if (!m_pair.DrillAt(slot).Active()) {
            p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                          "no fault drill runs on " + who + "; nothing to stop"};
            return;
          }
          p->evidence = "drill on " + who + " stopped";
          p->apply = [this, slot] { m_pair.DrillAt(slot).Stop(); };
          return;
        }
        const int64_t ends_unix_ms = NowUnixMillis() + int64_t{duration_seconds} * 1000;
        char what[160] = "", errors[64] = "", wrong[64] = "";
        if (spec.added_latency_ms > 0) {
          std::snprintf(what, sizeof(what), "+%u ms on %.2f %% of requests", spec.added_latency_ms,
                        (spec.latency_share == 0 ? 1 : spec.latency_share) * 100);
        }
        if (spec.error_rate > 0) {
          std::snprintf(errors, sizeof(errors), "%s%.2f %% of requests failed", what[0] ? ", " : "",
                        spec.error_rate * 100);
        }
        if (spec.wrong_answer_rate > 0) {
          std::snprintf(wrong, sizeof(wrong), "%s%.2f %% of answers wrong",
                        what[0] || errors[0] ? ", " : "", spec.wrong_answer_rate * 100);
        }
        const std::time_t end_seconds = static_cast<std::time_t>(ends_unix_ms / 1000);
        std::tm utc{};
        gmtime_r(&end_seconds, &utc);
        char until[40];
        std::strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &utc);
        p->evidence = "drill on " + who + ": " + what + errors + wrong + " for " +
                      std::to_string(duration_seconds) + " s, until " + until +
                      " (a restart of the agent ends it sooner)";
        p->apply = [this, slot, spec, duration_seconds, ends_unix_ms] {
          m_pair.DrillAt(slot).Start(
              spec, std::chrono::steady_clock::now() + std::chrono::seconds(duration_seconds),
              ends_unix_ms);
        };
      },
      out);
}

AnalysisPolicy ReleaseController::Policy() const {
  absl::MutexLock lock(&m_mutex);
  return m_state.policy;
}

bool ReleaseController::AutoRollback(const std::string& candidate_version,
                                     const std::string& reason, const std::string& evidence) {
  Caller analysis;
  analysis.identity = "analysis";
  analysis.system = true;
  analysis.role = Role::kOperator;
  analysis.peer = "agent";
  bool rolled_back = false;
  v1::AgentState state;
  const grpc::Status status = Mutate(
      analysis, AuditAction::kRollback, ClampText(reason, kMaxReasonBytes),
      [&](const ReleaseState& now, Plan* p) {
        const SlotIndex slot = CanaryPair::SlotOf(ReleaseRole::kCandidate, now.split);
        if (now.split.candidate_basis_points == 0 ||
            now.slot_specs[slot].version != candidate_version) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        "the analysis's rollback of '" + candidate_version +
                            "' was overtaken: the candidate has no traffic or was replaced"};
          return;
        }
        p->next.split = {0, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = v1::ROLLED_BACK;
        p->evidence = ClampText(evidence, kMaxEvidenceBytes);
        rolled_back = true;
      },
      &state);
  return status.ok() && rolled_back;
}

void ReleaseController::RecordWarning(const std::string& reason, const std::string& evidence) {
  uint64_t sequence = 0;
  {
    absl::MutexLock lock(&m_mutex);
    AuditRecord row;
    row.actor = "analysis";
    row.role = "system";
    row.peer = "agent";
    row.action = std::string(AuditActionName(AuditAction::kAnalysisWarning));
    row.outcome = std::string(AuditOutcomeName(AuditOutcome::kOk));
    row.reason = ClampText(reason, kMaxReasonBytes);
    row.evidence = ClampText(evidence, kMaxEvidenceBytes);
    row.before = row.after = SnapshotOf(m_state);
    if (absl::Status s = m_audit.Append(&row, nullptr); !s.ok()) {
      Complain("an analysis warning", s);
      return;
    }
    sequence = row.sequence;
  }
  Notify(nullptr, sequence);
}

void ReleaseController::PublishVerdict(const v1::AnalysisVerdict& verdict) {
  bool changed = false;
  {
    absl::MutexLock lock(&m_verdict_mutex);
    changed = m_verdict.armed() != verdict.armed() ||
              m_verdict.checks_size() != verdict.checks_size() ||
              m_verdict.candidate_version() != verdict.candidate_version();
    for (int i = 0; !changed && i < verdict.checks_size(); ++i)
      changed = m_verdict.checks(i).verdict() != verdict.checks(i).verdict();
    m_verdict = verdict;
  }
  if (!changed) return;
  const v1::AgentState state = State();
  Notify(&state, 0);
}

void ReleaseController::RolloutAfter(AuditAction action, const Caller& caller,
                                     const ReleaseState& now, Plan* p) {
  v1::RolloutProgress& r = p->next.rollout;
  if (!RolloutActive(r.phase())) return;
  const std::string where = StepText(r.plan(), r.step());
  std::string what;
  switch (action) {
    case AuditAction::kRollback:
      r.set_phase(v1::ROLLOUT_ABORTED);
      what = "ended: rolled back by " + caller.identity + " at " + where;
      break;
    case AuditAction::kPromote:
      r.set_phase(v1::ROLLOUT_DONE);
      what = "ended: promoted by " + caller.identity + " at " + where;
      break;
    case AuditAction::kLoadCandidate:
      r.set_phase(v1::ROLLOUT_ABORTED);
      what = "ended: the candidate was replaced by " + caller.identity;
      break;
    case AuditAction::kSetSplit:
      if (r.phase() == v1::ROLLOUT_PAUSED) return;
      r.set_phase(v1::ROLLOUT_PAUSED);
      what = "paused: " + caller.identity + " set the split to " +
             PercentText(p->next.split.candidate_basis_points) + " by hand at " + where +
             "; ResumeRollout returns to the step's " +
             PercentText(
                 now.rollout.plan().steps(static_cast<int>(r.step())).candidate_basis_points());
      break;
    default:
      return;
  }
  r.set_detail(what);
  p->evidence += (p->evidence.empty() ? "the rollout " : "; the rollout ") + what;
}

grpc::Status ReleaseController::StartRollout(const Caller& caller, const v1::RolloutPlan& plan,
                                             uint64_t expected_revision, const std::string& reason,
                                             v1::AgentState* out) {
  const SlotHealth candidate_health = m_pair.Health(ReleaseRole::kCandidate);
  const std::string problem = RolloutPlanProblem(plan);
  return Mutate(
      caller, AuditAction::kStartRollout, reason,
      [&](const ReleaseState& now, Plan* p) {
        if (!problem.empty()) {
          p->refusal = {grpc::StatusCode::INVALID_ARGUMENT, "rollout plan: " + problem};
          return;
        }
        if (expected_revision != now.split.revision) {
          p->refusal = Stale(expected_revision, now.split);
          return;
        }
        if (RolloutActive(now.rollout.phase())) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        "a rollout is in progress (" +
                            StepText(now.rollout.plan(), now.rollout.step()) + ", started by " +
                            now.rollout.started_by() +
                            "); abort it first (rollout abort / AbortRollout)"};
          return;
        }
        if (candidate_health.health == v1::UNHEALTHY) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        "the candidate failed its last deep probe (" +
                            ClampText(candidate_health.detail, 300) +
                            "); a rollout would send users to it"};
          return;
        }
        const uint32_t first = plan.steps(0).candidate_basis_points();
        p->next.split = {first, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = v1::CANARY;
        v1::RolloutProgress& r = p->next.rollout;
        r.Clear();
        *r.mutable_plan() = plan;
        r.set_phase(v1::ROLLOUT_BAKING);
        r.set_step(0);
        r.set_step_started_unix_ms(NowUnixMillis());
        r.set_started_unix_ms(r.step_started_unix_ms());
        r.set_started_by(caller.identity);
        r.set_start_sequence(m_audit.LastSequence() + 1);
        r.set_detail("baking at " + StepText(plan, 0));
        const std::string& candidate =
            now.slot_specs[CanaryPair::SlotOf(ReleaseRole::kCandidate, now.split)].version;
        p->evidence = "plan for '" + candidate + "'" +
                      (plan.name().empty() ? std::string() : " (" + plan.name() + ")") + ": " +
                      DescribePlan(plan) + "; an inconclusive step may take " +
                      DurationText(MaxExtendSeconds(plan)) + " more before it pauses; now " +
                      PercentText(first);
      },
      out);
}

grpc::Status ReleaseController::PauseRollout(const Caller& caller, const std::string& reason,
                                             v1::AgentState* out) {
  return Mutate(
      caller, AuditAction::kPauseRollout, reason,
      [&](const ReleaseState& now, Plan* p) {
        const v1::RolloutProgress& r = now.rollout;
        if (r.phase() != v1::ROLLOUT_BAKING && r.phase() != v1::ROLLOUT_AT_GATE) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION, r.phase() == v1::ROLLOUT_PAUSED
                                                                   ? "the rollout is already paused"
                                                                   : "no rollout is in progress"};
          return;
        }
        const std::string what = "paused by " + caller.identity + " at " +
                                 StepText(r.plan(), r.step()) + "; the candidate keeps " +
                                 PercentText(now.split.candidate_basis_points);
        p->next.rollout.set_phase(v1::ROLLOUT_PAUSED);
        p->next.rollout.set_detail(what);
        p->evidence = "the rollout " + what;
      },
      out);
}

grpc::Status ReleaseController::ResumeRollout(const Caller& caller, const std::string& reason,
                                              v1::AgentState* out) {
  return Mutate(
      caller, AuditAction::kResumeRollout, reason,
      [&](const ReleaseState& now, Plan* p) {
        const v1::RolloutProgress& r = now.rollout;
        v1::RolloutProgress& next = p->next.rollout;
        const std::string where = StepText(r.plan(), r.step());
        if (r.phase() == v1::ROLLOUT_AT_GATE) {
          next.set_phase(v1::ROLLOUT_BAKING);
          next.set_gate_opened(true);
          next.set_detail("the gate at " + where + " was opened by " + caller.identity +
                          "; moving on");
          p->evidence =
              "the rollout's gate at " + where + " was opened; it moves on within a second";
          return;
        }
        if (r.phase() != v1::ROLLOUT_PAUSED) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        r.phase() == v1::ROLLOUT_BAKING
                            ? "the rollout is not paused (it is baking at " + where + ")"
                            : std::string("no rollout is paused or waiting at a gate")};
          return;
        }
        const uint32_t bp = r.plan().steps(static_cast<int>(r.step())).candidate_basis_points();
        next.set_phase(v1::ROLLOUT_BAKING);
        next.set_extended_seconds(0);  // another full allowance of inconclusive seconds
        next.set_detail("baking at " + where + " (resumed by " + caller.identity + ")");
        p->evidence = "the rollout resumed at " + where + " with " +
                      std::to_string(r.baked_seconds()) + " passing seconds already baked";
        if (now.split.candidate_basis_points != bp) {
          p->next.split = {bp, now.split.revision + 1, now.split.roles_swapped};
          p->next.phase = v1::CANARY;
          p->evidence += "; the split returns to the step's " + PercentText(bp) + " from " +
                         PercentText(now.split.candidate_basis_points);
        }
      },
      out);
}

grpc::Status ReleaseController::AbortRollout(const Caller& caller, const std::string& reason,
                                             v1::AgentState* out) {
  return Mutate(
      caller, AuditAction::kAbortRollout, reason,
      [&](const ReleaseState& now, Plan* p) {
        const v1::RolloutProgress& r = now.rollout;
        if (!RolloutActive(r.phase())) {
          p->refusal = {grpc::StatusCode::FAILED_PRECONDITION,
                        "no rollout is in progress; Rollback sends all traffic to the baseline "
                        "without one"};
          return;
        }
        const std::string what = "aborted by " + caller.identity + " at " +
                                 StepText(r.plan(), r.step()) + ": rolled back from " +
                                 PercentText(now.split.candidate_basis_points);
        p->next.split = {0, now.split.revision + 1, now.split.roles_swapped};
        p->next.phase = v1::ROLLED_BACK;
        p->next.rollout.set_phase(v1::ROLLOUT_ABORTED);
        p->next.rollout.set_detail(what);
        p->evidence = "the rollout " + what;
      },
      out);
}

void ReleaseController::TickRollout(const v1::AnalysisVerdict& verdict) {
  v1::RolloutProgress seen;
  RolloutTick tick;
  v1::AgentState state;
  {
    absl::MutexLock lock(&m_mutex);
    if (m_state.rollout.phase() != v1::ROLLOUT_BAKING) return;
    const BreakerSnapshot breaker =
        m_pair.BreakerAt(CanaryPair::SlotOf(ReleaseRole::kCandidate, m_state.split)).Snapshot();
    if (breaker.state != BreakerState::kClosed) {
      // Its users are served by the baseline: the analysis no longer sees
      // the candidate fail, so nothing here may count as passing.
      tick.move = RolloutMove::kPause;
      tick.why = StepText(m_state.rollout.plan(), m_state.rollout.step()) +
                 ": the candidate's circuit breaker is " + BreakerStateName(breaker.state) +
                 " after consecutive server errors, and its users are served by the baseline";
    } else {
      tick = JudgeRolloutSecond(&m_state.rollout, verdict);
    }
    seen = m_state.rollout;
    if (tick.move == RolloutMove::kStay) state = StateLocked();
  }
  if (tick.move == RolloutMove::kStay) {
    Notify(&state, 0);  // the bake's countdown
    return;
  }
  MoveRollout(seen, tick);
}

void ReleaseController::MoveRollout(const v1::RolloutProgress& seen, const RolloutTick& tick) {
  Caller rollout;
  rollout.identity = "rollout";
  rollout.system = true;
  rollout.role = Role::kOperator;
  rollout.peer = "agent";
  const SlotHealth candidate_health = m_pair.Health(ReleaseRole::kCandidate);
  const BreakerState candidate_breaker = CandidateBreaker();
  const v1::RolloutPlan& plan = seen.plan();
  const uint32_t step = seen.step();
  bool promote = tick.move == RolloutMove::kFinish && plan.auto_promote();
  RolloutTick move = tick;
  if (promote && candidate_health.health == v1::UNHEALTHY) {
    promote = false;
    move.move = RolloutMove::kPause;
    move.why = "every step passed, but the candidate failed its last deep probe (" +
               ClampText(candidate_health.detail, 300) + "), so it was not promoted";
  }
  AuditAction action = AuditAction::kRolloutStep;
  std::string reason;
  switch (move.move) {
    case RolloutMove::kNextStep:
      reason = "rollout: on to " + StepText(plan, step + 1);
      break;
    case RolloutMove::kGate:
      reason = "rollout: " + StepText(plan, step) + " baked; waiting at its gate for ResumeRollout";
      break;
    case RolloutMove::kFinish:
      action = promote ? AuditAction::kPromote : AuditAction::kRolloutStep;
      reason = promote
                   ? "rollout: every step passed; promoting the candidate as the plan says"
                   : "rollout: every step passed; the candidate keeps " +
                         PercentText(plan.steps(static_cast<int>(step)).candidate_basis_points()) +
                         ", promote it when ready";
      break;
    case RolloutMove::kPause:
      action = AuditAction::kPauseRollout;
      reason = "rollout paused: " + move.why;
      break;
    case RolloutMove::kStay:
      return;
  }
  v1::AgentState out;
  Mutate(
      rollout, action, ClampText(reason, kMaxReasonBytes),
      [&](const ReleaseState& now, Plan* p) {
        // Overtaken by a person (or a rollback) since the second was judged.
        if (now.rollout.start_sequence() != seen.start_sequence() || now.rollout.step() != step ||
            now.rollout.phase() != v1::ROLLOUT_BAKING) {
          p->refusal = {grpc::StatusCode::ABORTED, "the rollout changed meanwhile"};
          return;
        }
        v1::RolloutProgress& r = p->next.rollout;
        r = seen;
        p->evidence = ClampText(move.why, kMaxEvidenceBytes);
        switch (move.move) {
          case RolloutMove::kNextStep: {
            const uint32_t bp = plan.steps(static_cast<int>(step + 1)).candidate_basis_points();
            p->next.split = {bp, now.split.revision + 1, now.split.roles_swapped};
            p->next.phase = v1::CANARY;
            r.set_step(step + 1);
            r.set_baked_seconds(0);
            r.set_extended_seconds(0);
            r.set_gate_opened(false);
            r.set_step_started_unix_ms(NowUnixMillis());
            r.set_detail("baking at " + StepText(plan, step + 1));
            break;
          }
          case RolloutMove::kGate:
            r.set_phase(v1::ROLLOUT_AT_GATE);
            r.set_detail("waiting at the gate of " + StepText(plan, step) +
                         ": rollout resume (ResumeRollout) moves on, rollout abort rolls back");
            break;
          case RolloutMove::kFinish:
            if (promote) {
              PlanPromotion(now, candidate_health, candidate_breaker, p);
              if (!p->refusal.ok()) return;
            }
            r.set_phase(v1::ROLLOUT_DONE);
            r.set_detail(promote ? "done: every step passed and the candidate was promoted"
                                 : "done: every step passed; promote the candidate when ready");
            break;
          case RolloutMove::kPause:
            r.set_phase(v1::ROLLOUT_PAUSED);
            r.set_detail("paused: " + move.why);
            break;
          case RolloutMove::kStay:
            break;
        }
      },
      &out);
}

ReleaseState ReleaseController::Persistent() const {
  absl::MutexLock lock(&m_mutex);
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
  for (const ReleaseRole role : {ReleaseRole::kBaseline, ReleaseRole::kCandidate}) {
    const SlotIndex slot = CanaryPair::SlotOf(role, split);
    const SlotVersion& version = m_pair.VersionAt(slot);
    const SlotHealth health = m_pair.HealthAt(slot);
    auto* v = state.add_versions();
    v->set_slot(ToProto(role));
    v->set_version(version.version);
    v->set_backend_kind(version.spec.backend);
    v->set_backend_target(BackendTarget(version.spec));
    v->set_health(health.health);
    v->set_health_detail(health.detail);
    v->set_health_checked_unix_ms(health.checked_unix_ms);
    if (version.process) {
      const ProcessStatus p = version.process->Status();
      v->set_process_state(ProcessStateName(p.state));
      v->set_process_pid(p.pid);
      v->set_process_restarts(p.restarts);
      v->set_process_detail(p.detail);
    }
  }
  state.mutable_split()->set_candidate_basis_points(split.candidate_basis_points);
  state.mutable_split()->set_revision(split.revision);
  state.set_phase(m_state.phase);
  *state.mutable_last_change() = m_state.last_change;
  std::string detail;
  state.set_audit_rows_pending(static_cast<uint32_t>(m_audit.PendingRows(&detail)));
  if (state.audit_rows_pending()) state.set_audit_pending_detail(ClampText(detail, 512));
  PolicyToProto(m_state.policy, state.mutable_policy());
  if (m_state.rollout.phase() != v1::ROLLOUT_NONE) *state.mutable_rollout() = m_state.rollout;
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    const FaultDrill& drill = m_pair.DrillAt(slot);
    if (!drill.Active()) continue;
    const FaultSpec spec = drill.Spec();
    v1::FaultDrill* d = state.add_drills();
    d->set_slot(ToProto(CanaryPair::RoleOf(slot, split)));
    d->set_version(m_pair.VersionAt(slot).version);
    d->set_added_latency_ms(spec.added_latency_ms);
    d->set_latency_share(spec.latency_share);
    d->set_error_rate(spec.error_rate);
    d->set_wrong_answer_rate(spec.wrong_answer_rate);
    d->set_ends_unix_ms(drill.EndsUnixMs());
  }
  for (const ReleaseRole role : {ReleaseRole::kBaseline, ReleaseRole::kCandidate}) {
    const SlotIndex slot = CanaryPair::SlotOf(role, split);
    const BreakerSnapshot b = m_pair.BreakerAt(slot).Snapshot();
    v1::BreakerStatus* s = state.add_breakers();
    s->set_slot(ToProto(role));
    s->set_version(m_pair.VersionAt(slot).version);
    s->set_state(b.state == BreakerState::kOpen       ? v1::BREAKER_OPEN
                 : b.state == BreakerState::kHalfOpen ? v1::BREAKER_HALF_OPEN
                                                      : v1::BREAKER_CLOSED);
    s->set_consecutive_failures(b.consecutive_failures);
    s->set_failures_to_open(b.failures_to_open);
    s->set_opened_unix_ms(b.opened_unix_ms);
    s->set_retry_unix_ms(b.retry_unix_ms);
    s->set_diverted(b.diverted);
    s->set_times_opened(b.times_opened);
  }
  absl::MutexLock verdict_lock(&m_verdict_mutex);
  *state.mutable_analysis() = m_verdict;
  return state;
}

void ReleaseController::Notify(const v1::AgentState* state, uint64_t sequence) {
  absl::MutexLock lock(&m_watch_mutex);
  for (ReleaseWatcher* w : m_watchers) {
    if (state) w->OnState(*state);
    if (sequence) w->OnAuditRow(sequence);
  }
}

void ReleaseController::Watch(ReleaseWatcher* watcher) {
  // The state is read under the watchers' lock: a change either lands before
  // it (and is in this state) or notifies after the registration.
  absl::MutexLock lock(&m_watch_mutex);
  watcher->OnState(State());
  if (m_closed) {
    watcher->OnClosed();
    return;
  }
  m_watchers.push_back(watcher);
}

void ReleaseController::Unwatch(ReleaseWatcher* watcher) {
  absl::MutexLock lock(&m_watch_mutex);
  std::erase(m_watchers, watcher);
}

void ReleaseController::CloseWatchers() {
  absl::MutexLock lock(&m_watch_mutex);
  m_closed = true;
  for (ReleaseWatcher* w : m_watchers) w->OnClosed();
}

}  // namespace greylane
