#include "agent/analysis/canary_analysis.h"

#include <algorithm>

namespace greylane {

AnalysisVerdict CanaryAnalysis::Add(const v1::MetricsFrame& frame) {
  SecondSample second;
  std::string candidate_version;
  for (const v1::VersionWindow& w : frame.versions()) {
    VersionWindowSample& sample = w.slot() == v1::CANDIDATE ? second.candidate : second.baseline;
    if (w.slot() == v1::CANDIDATE) candidate_version = w.version();
    sample.requests = w.requests();
    sample.server_errors = std::min(w.server_errors(), w.requests());
    // A sketch that does not load, or holds more than the requests, counts as none.
    if (w.has_latency() && (!LatencySketch::FromProto(w.latency(), &sample.latency) ||
                            sample.latency.Count() > w.requests())) {
      sample.latency.Clear();
    }
  }
  if (candidate_version != m_candidate_version) {
    Reset();
    m_candidate_version = candidate_version;
  }
  m_seconds.push_back(std::move(second));
  while (m_seconds.size() > static_cast<size_t>(std::max(1, m_policy.window_seconds)))
    m_seconds.erase(m_seconds.begin());

  AnalysisVerdict verdict;
  verdict.window_end_unix_ms = frame.window_end_unix_ms();
  verdict.candidate_version = m_candidate_version;
  verdict.checks = JudgeCandidate(m_seconds, m_policy);
  bool failed = false;
  for (const CheckResult& check : verdict.checks) {
    failed = failed || check.verdict == CheckVerdict::kFail;
    if (check.verdict != CheckVerdict::kWarn) continue;
    const auto last = m_warned_at.find(check.check);
    if (last != m_warned_at.end() && verdict.window_end_unix_ms - last->second < kWarningQuietMs)
      continue;  // the same warning within 5 minutes: merged
    m_warned_at[check.check] = verdict.window_end_unix_ms;
    verdict.new_warnings.push_back(check);
  }
  m_failing = failed ? m_failing + 1 : 0;
  verdict.failing_seconds = m_failing;
  verdict.rollback = m_policy.armed && failed;
  if (verdict.rollback) {
    verdict.evidence = "analysis: candidate '" + m_candidate_version + "' failed:";
    for (const CheckResult& check : verdict.checks) {
      if (check.verdict == CheckVerdict::kFail)
        verdict.evidence += " [" + check.check + "] " + check.detail + ";";
    }
  }
  return verdict;
}

void CanaryAnalysis::Reset() {
  m_seconds.clear();
  m_failing = 0;
}

void CanaryAnalysis::SetPolicy(const AnalysisPolicy& policy) {
  m_policy = policy;
  Reset();
}

}  // namespace greylane
