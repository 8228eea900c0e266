#pragma once
// The canary judge run every second over a sliding window of sealed
// seconds, and the rule that turns failures into a rollback decision: a
// failure must be sustained for `sustain_seconds` evaluations in a row, and
// the policy armed. Warnings never roll back; the same check's warning is
// reported again only after kWarningQuietMs. Fed the agent's sealed
// MetricsFrames (their sketches are exact), so it sees every request.
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "agent/analysis/canary_judge.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct AnalysisRules {
  AnalysisPolicy policy;
  int sustain_seconds = 3;  // consecutive failing evaluations before acting
  bool armed = false;       // false: judge and report, never roll back
};

struct AnalysisVerdict {
  int64_t window_end_unix_ms = 0;
  std::string candidate_version;
  std::vector<CheckResult> checks;        // latency, tail, errors
  int failing_seconds = 0;                // evaluations in a row with a failed check
  bool rollback = false;                  // armed, and the failure sustained: act now
  std::string evidence;                   // every failed check in words, when rollback
  std::vector<CheckResult> new_warnings;  // not reported in the last kWarningQuietMs
};

class CanaryAnalysis {
 public:
  static constexpr int64_t kWarningQuietMs = 5 * 60 * 1000;

  explicit CanaryAnalysis(AnalysisRules rules) : m_rules(std::move(rules)) {}

  // One sealed second: it joins the window (the oldest leaves) and the
  // window is judged. A new candidate version starts the window anew.
  AnalysisVerdict Add(const v1::MetricsFrame& frame);
  // Forgets the window and the failure streak (after a rollback, a
  // promotion or a policy change).
  void Reset();
  void SetRules(AnalysisRules rules);
  const AnalysisRules& Rules() const { return m_rules; }

 private:
  struct Second {
    VersionWindowSample baseline, candidate;
  };
  AnalysisRules m_rules;
  std::deque<Second> m_seconds;
  std::string m_candidate_version;
  int m_failing = 0;
  std::map<std::string, int64_t> m_warned_at;  // per check
};

}  // namespace greylane
