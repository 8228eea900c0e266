#include "agent/analysis/canary_analysis.h"

#include <algorithm>
#include <cstdio>

namespace greylane {

namespace {
constexpr int kMaxJudgedClasses = 32;  // kPredictionClasses in the agent's recorder

void ForgetQuality(SecondSample* s) {
  for (VersionWindowSample* v : {&s->baseline, &s->candidate}) {
    v->outcomes = 0;
    v->incorrect = 0;
    v->predictions.clear();
  }
}
}  // namespace

AnalysisVerdict CanaryAnalysis::Add(const v1::MetricsFrame& frame) {
  SecondSample second;
  std::string candidate_version;
  for (const v1::VersionWindow& w : frame.versions()) {
    VersionWindowSample& sample = w.slot() == v1::CANDIDATE ? second.candidate : second.baseline;
    if (w.slot() == v1::CANDIDATE) candidate_version = w.version();
    sample.requests = w.requests();
    sample.server_errors = std::min(w.server_errors(), w.requests());
    sample.outcomes = w.outcomes();
    sample.incorrect = std::min(w.incorrect(), w.outcomes());
    // At most the classes the agent counts apart: a frame is not trusted to be small.
    const int classes = std::min(w.predictions_size(), kMaxJudgedClasses);
    sample.predictions.assign(w.predictions().begin(), w.predictions().begin() + classes);
    // A sketch that does not load, or holds more than the requests, counts as none.
    if (w.has_latency() && (!LatencySketch::FromProto(w.latency(), &sample.latency) ||
                            sample.latency.Count() > w.requests())) {
      sample.latency.Clear();
    }
    if (w.has_generation()) {
      if (!LatencySketch::FromProto(w.generation().ttft(), &sample.ttft)) sample.ttft.Clear();
      if (!LatencySketch::FromProto(w.generation().itl(), &sample.itl)) sample.itl.Clear();
    }
  }
  if (candidate_version != m_candidate_version) {
    Reset();
    m_candidate_version = candidate_version;
  }
  // Outcomes and predictions depend on the inputs, and the inputs change
  // over time: across a split change the two versions' seconds are weighted
  // differently, so a change in the input mix would read as the candidate
  // answering differently (a hostile review rolled back a healthy candidate
  // so). They are judged only from seconds at the split in force, and the
  // second the split changed in (part old, part new) is left out too.
  if (frame.candidate_basis_points() != m_split) {
    m_split = frame.candidate_basis_points();
    ForgetQuality(&second);
    for (SecondSample& s : m_seconds) ForgetQuality(&s);
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
    // A failure that does not roll back (not armed) is notified as a warning is.
    const bool notify = check.verdict == CheckVerdict::kWarn ||
                        (check.verdict == CheckVerdict::kFail && !m_policy.armed);
    if (!notify) continue;
    const std::string key = check.check + ":" + CheckVerdictName(check.verdict);
    const auto last = m_warned_at.find(key);
    if (last != m_warned_at.end() && verdict.window_end_unix_ms - last->second < kWarningQuietMs)
      continue;  // the same warning within 5 minutes: merged
    m_warned_at[key] = verdict.window_end_unix_ms;
    verdict.new_warnings.push_back(check);
  }
  m_failing = failed ? m_failing + 1 : 0;
  verdict.failing_seconds = m_failing;
  verdict.rollback = m_policy.armed && failed;
  if (verdict.rollback) {
    verdict.evidence = "analysis: candidate '" + m_candidate_version + "' failed:";
    for (const CheckResult& check : verdict.checks) {
      if (check.verdict == CheckVerdict::kFail)
        verdict.evidence += " [" + check.check + "] " + check.detail;
    }
  }
  return verdict;
}

void CanaryAnalysis::Reset() {
  m_seconds.clear();
  m_failing = 0;
}

void CanaryAnalysis::SetPolicy(const AnalysisPolicy& policy) {
  // The seconds are raw data, whatever the policy: arming mid-incident
  // must not throw the evidence away.
  m_policy = policy;
  m_failing = 0;
}

void PolicyToProto(const AnalysisPolicy& p, v1::AnalysisPolicy* out) {
  out->set_armed(p.armed);
  out->set_window_seconds(static_cast<uint32_t>(std::max(0, p.window_seconds)));
  out->set_min_requests(p.min_requests);
  out->set_confidence(p.confidence);
  out->set_sustain_seconds(static_cast<uint32_t>(std::max(0, p.sustain_seconds)));
  out->set_latency_ratio(p.latency_ratio);
  out->set_latency_min_ms(p.latency_min_ms);
  out->set_p99_warning_ms(p.p99_warning_ms);
  out->set_p99_ceiling_ms(p.p99_ceiling_ms);
  out->set_tail_ratio(p.tail_ratio);
  out->set_error_margin(p.error_margin);
  out->set_error_ceiling(p.error_ceiling);
  out->set_breaker_failures(static_cast<uint32_t>(std::max(0, p.breaker_failures)));
  out->set_breaker_cooldown_seconds(static_cast<uint32_t>(std::max(0, p.breaker_cooldown_seconds)));
  out->set_candidate_rate_limit(p.candidate_rate_limit);
  out->set_baseline_rate_limit(p.baseline_rate_limit);
  out->set_accuracy_margin(p.accuracy_margin);
  out->set_prediction_divergence(p.prediction_divergence);
  out->set_class_share_margin(p.class_share_margin);
  out->set_ttft_ratio(p.ttft_ratio);
  out->set_itl_ratio(p.itl_ratio);
}

AnalysisPolicy PolicyFromProto(const v1::AnalysisPolicy& in) {
  AnalysisPolicy p;
  p.armed = in.armed();
  // Out-of-range counts become values ValidatePolicy refuses, not wrapped ones.
  p.window_seconds = static_cast<int>(std::min<uint32_t>(in.window_seconds(), 1u << 30));
  p.min_requests = in.min_requests();
  p.confidence = in.confidence();
  p.sustain_seconds = static_cast<int>(std::min<uint32_t>(in.sustain_seconds(), 1u << 30));
  p.latency_ratio = in.latency_ratio();
  p.latency_min_ms = in.latency_min_ms();
  p.p99_warning_ms = in.p99_warning_ms();
  p.p99_ceiling_ms = in.p99_ceiling_ms();
  p.tail_ratio = in.tail_ratio();
  p.error_margin = in.error_margin();
  p.error_ceiling = in.error_ceiling();
  if (in.has_breaker_failures())
    p.breaker_failures = static_cast<int>(std::min<uint32_t>(in.breaker_failures(), 1u << 30));
  if (in.has_breaker_cooldown_seconds()) {
    p.breaker_cooldown_seconds =
        static_cast<int>(std::min<uint32_t>(in.breaker_cooldown_seconds(), 1u << 30));
  }
  p.candidate_rate_limit = in.candidate_rate_limit();
  p.baseline_rate_limit = in.baseline_rate_limit();
  p.accuracy_margin = in.accuracy_margin();
  p.prediction_divergence = in.prediction_divergence();
  p.class_share_margin = in.class_share_margin();
  p.ttft_ratio = in.ttft_ratio();
  p.itl_ratio = in.itl_ratio();
  return p;
}

void VerdictToProto(const AnalysisVerdict& verdict, bool armed, v1::AnalysisVerdict* out) {
  out->set_window_end_unix_ms(verdict.window_end_unix_ms);
  out->set_candidate_version(verdict.candidate_version);
  out->set_armed(armed);
  out->set_failing_seconds(static_cast<uint32_t>(std::max(0, verdict.failing_seconds)));
  out->set_rolled_back(verdict.rollback);
  for (const CheckResult& c : verdict.checks) {
    v1::CheckResult* r = out->add_checks();
    r->set_check(c.check);
    switch (c.verdict) {
      case CheckVerdict::kPass:
        r->set_verdict(v1::CHECK_PASS);
        break;
      case CheckVerdict::kWarn:
        r->set_verdict(v1::CHECK_WARN);
        break;
      case CheckVerdict::kFail:
        r->set_verdict(v1::CHECK_FAIL);
        break;
      case CheckVerdict::kInconclusive:
        r->set_verdict(v1::CHECK_INCONCLUSIVE);
        break;
    }
    r->set_value(c.value);
    r->set_lower(c.lower);
    r->set_upper(c.upper);
    r->set_threshold(c.threshold);
    r->set_baseline_n(c.baseline_n);
    r->set_candidate_n(c.candidate_n);
    r->set_needed(c.needed);
    r->set_window_seconds(static_cast<uint32_t>(std::max(0, c.window_seconds)));
    r->set_evidence_seconds(static_cast<uint32_t>(std::max(0, c.evidence_seconds)));
    r->set_detail(c.detail);
  }
}

std::string DescribePolicyChange(const AnalysisPolicy& a, const AnalysisPolicy& b) {
  std::string text;
  auto add = [&](const char* name, double x, double y) {
    if (x == y) return;
    char line[160];
    std::snprintf(line, sizeof(line), "%s%s %g -> %g", text.empty() ? "" : "; ", name, x, y);
    text += line;
  };
  if (a.armed != b.armed)
    text += std::string("armed ") + (b.armed ? "false -> true" : "true -> false");
  add("window_seconds", a.window_seconds, b.window_seconds);
  add("min_requests", static_cast<double>(a.min_requests), static_cast<double>(b.min_requests));
  add("confidence", a.confidence, b.confidence);
  add("sustain_seconds", a.sustain_seconds, b.sustain_seconds);
  add("latency_ratio", a.latency_ratio, b.latency_ratio);
  add("latency_min_ms", a.latency_min_ms, b.latency_min_ms);
  add("p99_warning_ms", a.p99_warning_ms, b.p99_warning_ms);
  add("p99_ceiling_ms", a.p99_ceiling_ms, b.p99_ceiling_ms);
  add("tail_ratio", a.tail_ratio, b.tail_ratio);
  add("error_margin", a.error_margin, b.error_margin);
  add("error_ceiling", a.error_ceiling, b.error_ceiling);
  add("breaker_failures", a.breaker_failures, b.breaker_failures);
  add("breaker_cooldown_seconds", a.breaker_cooldown_seconds, b.breaker_cooldown_seconds);
  add("candidate_rate_limit", a.candidate_rate_limit, b.candidate_rate_limit);
  add("baseline_rate_limit", a.baseline_rate_limit, b.baseline_rate_limit);
  add("accuracy_margin", a.accuracy_margin, b.accuracy_margin);
  add("prediction_divergence", a.prediction_divergence, b.prediction_divergence);
  add("class_share_margin", a.class_share_margin, b.class_share_margin);
  add("ttft_ratio", a.ttft_ratio, b.ttft_ratio);
  add("itl_ratio", a.itl_ratio, b.itl_ratio);
  return text.empty() ? "no change" : text;
}

}  // namespace greylane
