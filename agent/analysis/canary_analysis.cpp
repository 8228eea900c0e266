#include "agent/analysis/canary_analysis.h"

#include <algorithm>

namespace greylane {

AnalysisVerdict CanaryAnalysis::Add(const v1::MetricsFrame& frame) {
  Second second;
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
  while (m_seconds.size() > static_cast<size_t>(std::max(1, m_rules.policy.window_seconds)))
    m_seconds.pop_front();

  // The window merged: sketches add exactly, counters sum.
  VersionWindowSample baseline, candidate;
  for (const Second& s : m_seconds) {
    baseline.latency.Merge(s.baseline.latency);
    baseline.requests += s.baseline.requests;
    baseline.server_errors += s.baseline.server_errors;
    candidate.latency.Merge(s.candidate.latency);
    candidate.requests += s.candidate.requests;
    candidate.server_errors += s.candidate.server_errors;
  }
  AnalysisVerdict verdict;
  verdict.window_end_unix_ms = frame.window_end_unix_ms();
  verdict.candidate_version = m_candidate_version;
  verdict.checks = JudgeCandidate(baseline, candidate, m_rules.policy);
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
  verdict.rollback = m_rules.armed && m_failing >= std::max(1, m_rules.sustain_seconds);
  if (verdict.rollback) {
    verdict.evidence = "analysis: candidate '" + m_candidate_version + "' failed for " +
                       std::to_string(m_failing) + " s over a " + std::to_string(m_seconds.size()) +
                       " s window:";
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

void CanaryAnalysis::SetRules(AnalysisRules rules) {
  m_rules = std::move(rules);
  Reset();
}

}  // namespace greylane
