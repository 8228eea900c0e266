#include "common/audit_vocabulary.h"

#include <array>
#include <cstdio>
#include <utility>

namespace greylane {
namespace {

struct ActionWords {
  AuditAction action;
  std::string_view name;
  std::string_view title;
};
constexpr std::array<ActionWords, 18> kActions = {{
    {AuditAction::kInitialize, "initialize", "first start"},
    {AuditAction::kStart, "start", "agent start"},
    {AuditAction::kRecover, "recover", "state recovery"},
    {AuditAction::kSetSplit, "set_split", "split change"},
    {AuditAction::kRollback, "rollback", "rollback"},
    {AuditAction::kPromote, "promote", "promotion"},
    {AuditAction::kLoadCandidate, "load_candidate", "candidate load"},
    {AuditAction::kHealth, "health", "health change"},
    {AuditAction::kSetPolicy, "set_policy", "analysis policy change"},
    {AuditAction::kAnalysisWarning, "analysis_warning", "analysis warning"},
    {AuditAction::kInjectFault, "inject_fault", "fault drill"},
    {AuditAction::kBreakerOpen, "breaker_open", "circuit breaker opened"},
    {AuditAction::kBreakerClose, "breaker_close", "circuit breaker closed"},
    {AuditAction::kStartRollout, "start_rollout", "rollout start"},
    {AuditAction::kRolloutStep, "rollout_step", "rollout step"},
    {AuditAction::kPauseRollout, "pause_rollout", "rollout pause"},
    {AuditAction::kResumeRollout, "resume_rollout", "rollout resume"},
    {AuditAction::kAbortRollout, "abort_rollout", "rollout abort"},
}};

constexpr std::array<std::pair<AuditOutcome, std::string_view>, 3> kOutcomes = {{
    {AuditOutcome::kOk, "ok"},
    {AuditOutcome::kDenied, "denied"},
    {AuditOutcome::kRejected, "rejected"},
}};

}  // namespace

std::string_view AuditActionName(AuditAction action) {
  for (const ActionWords& w : kActions) {
    if (w.action == action) return w.name;
  }
  return "unknown";
}

std::optional<AuditAction> ParseAuditAction(std::string_view name) {
  for (const ActionWords& w : kActions) {
    if (w.name == name) return w.action;
  }
  return std::nullopt;
}

std::string AuditActionTitle(std::string_view name) {
  for (const ActionWords& w : kActions) {
    if (w.name == name) return std::string(w.title);
  }
  return std::string(name);
}

std::string_view AuditOutcomeName(AuditOutcome outcome) {
  for (const auto& [o, name] : kOutcomes) {
    if (o == outcome) return name;
  }
  return "unknown";
}

std::optional<AuditOutcome> ParseAuditOutcome(std::string_view name) {
  for (const auto& [o, n] : kOutcomes) {
    if (n == name) return o;
  }
  return std::nullopt;
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

}  // namespace greylane
