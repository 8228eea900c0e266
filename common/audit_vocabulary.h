#pragma once
// The words the audit trail and the release state are written in, named
// once: what was attempted (AuditAction), how it ended (AuditOutcome), the
// release phase, and a split as people read it. Rows store the names (the
// hash chain covers them, so they never change); consoles show the titles.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/basis_points.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

enum class AuditAction {
  kInitialize,  // the first row of a new trail
  kStart,       // the agent started again from its state dir
  kRecover,     // the release state was rebuilt from the trail (--recover-state)
  kSetSplit,
  kRollback,
  kPromote,
  kLoadCandidate,
  kHealth,           // the agent's prober saw a version turn healthy or unhealthy
  kSetPolicy,        // the analysis policy was replaced
  kAnalysisWarning,  // the analysis warned (at most once per check per 5 minutes)
  kInjectFault,      // a fault drill started or was stopped
  kBreakerOpen,      // a version's circuit breaker opened
  kBreakerClose,     // ... and closed again
  kStartRollout,     // a rollout plan started (its first step's weight applied)
  kRolloutStep,      // the plan moved on: a step's weight, a gate reached, done
  kPauseRollout,
  kResumeRollout,
  kAbortRollout,  // rolled back and ended
};

enum class AuditOutcome {
  kOk,        // done (or an idempotent repeat that changed nothing)
  kDenied,    // the caller's role may not do it
  kRejected,  // allowed, but refused: bad input, stale revision, failed probe...
};

std::string_view AuditActionName(AuditAction action);  // as stored: "set_split"
std::optional<AuditAction> ParseAuditAction(std::string_view name);
// For people: "split change"; a name this build does not know is shown as is.
std::string AuditActionTitle(std::string_view name);

std::string_view AuditOutcomeName(AuditOutcome outcome);  // "ok" | "denied" | "rejected"
std::optional<AuditOutcome> ParseAuditOutcome(std::string_view name);

// "STEADY" | "CANARY" | "PROMOTED" | "ROLLED_BACK", as the trail stores phases.
const char* PhaseName(v1::Phase phase);

}  // namespace greylane
