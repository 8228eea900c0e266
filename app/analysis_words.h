#pragma once
// The analysis, the rollout and an automatic rollback in words and short
// figures for the console's panels: from the agent's AgentState, verdict
// and audit trail, with no widgets, so tests check exactly what is shown.
#include <QString>

#include <optional>
#include <vector>

#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

enum class Tone { kGood, kWarning, kBad, kNeutral };

struct CheckWords {
  QString check;    // latency | tail | errors | accuracy | predictions | class_share
  QString title;    // "Latency shift"
  QString verdict;  // PASS | WARN | FAIL | INCONCLUSIVE
  Tone tone = Tone::kNeutral;
  QString value;      // "1.29×", "+0.35 pts", "4.79 %"
  QString threshold;  // "fails ≥ 1.25×"
  QString interval;   // "1.23–1.35×"
  QString sample;     // "1 385 vs 1 421 · 18 s", or "42/50 candidate requests"
  QString detail;     // the agent's sentence with every number
};
std::vector<CheckWords> DescribeChecks(const v1::AnalysisVerdict& verdict);
// "ARMED: a failed check rolls back · windows up to 60 s at 99.9 % · ..."
QString PolicyWords(const v1::AnalysisPolicy& policy);

struct RolloutWords {
  bool shown = false;  // a plan has run on this release
  struct Step {
    QString label;  // "10 %"
    bool gate = false;
    bool done = false;
    double baked = 0;  // of the current step, 0..1
  };
  std::vector<Step> steps;
  int current = -1;
  QString status;  // "Baking step 3 of 6 (10 %): 45 of 120 s passed, 1 min 15 s to go"
  Tone tone = Tone::kNeutral;
  bool can_pause = false, can_resume = false, can_abort = false;
};
RolloutWords DescribeRollout(const v1::RolloutProgress& rollout);

struct RollbackWords {
  int64_t time_unix_ms = 0;
  uint64_t audit_sequence = 0;
  QString headline;  // "Automatic rollback of 'v2': latency, tail failed"
  QString evidence;  // the first failed check in words
  QString full;      // every failed check
};
// The state's last change when the analysis rolled the candidate back,
// with its evidence from the audit row (when the trail holds it yet).
std::optional<RollbackWords> AutomaticRollback(const v1::AgentState& state,
                                               const std::vector<AuditRecord>& trail);

// "12 345" with thin spaces between thousands (as in the figures).
QString Count(uint64_t n);

}  // namespace greylane
