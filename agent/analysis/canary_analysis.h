#pragma once
// The canary judge run on every sealed second, and the rule that turns a
// failed check into a rollback decision: the policy armed. (A check fails
// only with evidence spread over `sustain_seconds` distinct seconds; see
// canary_judge.h.) Warnings never roll back; the same check's warning is
// reported again only after kWarningQuietMs. Fed the agent's sealed
// MetricsFrames (their sketches are exact), so it sees every request.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/analysis/canary_judge.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct AnalysisVerdict {
  int64_t window_end_unix_ms = 0;
  std::string candidate_version;
  std::vector<CheckResult> checks;  // latency, tail, errors, then the quality checks turned on
  int failing_seconds = 0;          // evaluations in a row with a failed check
  bool rollback = false;            // armed, and a check failed: act now
  std::string evidence;             // every failed check in words, when rollback
  // Warnings, and failures while not armed, not reported in the last kWarningQuietMs.
  std::vector<CheckResult> new_warnings;
};

class CanaryAnalysis {
 public:
  static constexpr int64_t kWarningQuietMs = 5 * 60 * 1000;

  explicit CanaryAnalysis(AnalysisPolicy policy) : m_policy(policy) {}

  // One sealed second: it joins the window (the oldest leaves) and the
  // window is judged. A new candidate version starts the window anew.
  AnalysisVerdict Add(const v1::MetricsFrame& frame);
  // Forgets the window and the failure streak (after a rollback, or while
  // the candidate has no traffic).
  void Reset();
  void SetPolicy(const AnalysisPolicy& policy);
  const AnalysisPolicy& Policy() const { return m_policy; }

 private:
  AnalysisPolicy m_policy;
  std::vector<SecondSample> m_seconds;  // oldest first; a deque has no span
  std::string m_candidate_version;
  uint32_t m_split = 0;  // the candidate's basis points of the latest second
  int m_failing = 0;
  std::map<std::string, int64_t> m_warned_at;  // per check
};

void PolicyToProto(const AnalysisPolicy& policy, v1::AnalysisPolicy* out);
// Fields are taken as given; ValidatePolicy says whether they can be used.
AnalysisPolicy PolicyFromProto(const v1::AnalysisPolicy& in);
void VerdictToProto(const AnalysisVerdict& verdict, bool armed, v1::AnalysisVerdict* out);
// "armed false -> true; latency_ratio 1.25 -> 1.5", or "no change".
std::string DescribePolicyChange(const AnalysisPolicy& before, const AnalysisPolicy& after);

}  // namespace greylane
