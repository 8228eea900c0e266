#include "agent/analysis/canary_judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace greylane {
namespace {
// Bucket i holds values up to gamma^i: a difference of d buckets is a
// latency ratio of gamma^d.
const double kGamma =
    (1 + LatencySketch::kRelativeAccuracy) / (1 - LatencySketch::kRelativeAccuracy);

struct Bin {
  int index;
  uint64_t count;
};

std::vector<Bin> NonEmpty(const LatencySketch& sketch) {
  std::vector<Bin> bins;
  const std::vector<uint64_t>& buckets = sketch.Buckets();
  for (int i = 0; i < static_cast<int>(buckets.size()); ++i) {
    if (buckets[static_cast<size_t>(i)] > 0) bins.push_back({i, buckets[static_cast<size_t>(i)]});
  }
  return bins;
}

std::string Format(const char* format, auto... args) {
  char text[512];
  std::snprintf(text, sizeof(text), format, args...);
  return text;
}

struct Interval {
  double low = 0, high = 0;
};

// Wilson's score interval for a proportion of `k` in `n`.
Interval Wilson(uint64_t k, uint64_t n, double z) {
  if (n == 0) return {0, 1};
  const double p = static_cast<double>(std::min(k, n)) / static_cast<double>(n);
  const double nn = static_cast<double>(n);
  const double centre = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / (1 + z * z / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

// Newcombe's hybrid score interval for the difference kc/m - kb/n.
Interval NewcombeDifference(uint64_t kc, uint64_t m, uint64_t kb, uint64_t n, double z) {
  const double pc = static_cast<double>(kc) / static_cast<double>(m);
  const double pb = static_cast<double>(kb) / static_cast<double>(n);
  const Interval wc = Wilson(kc, m, z), wb = Wilson(kb, n, z);
  const double d = pc - pb;
  return {d - std::sqrt((pc - wc.low) * (pc - wc.low) + (wb.high - pb) * (wb.high - pb)),
          d + std::sqrt((wc.high - pc) * (wc.high - pc) + (pb - wb.low) * (pb - wb.low))};
}

CheckResult Inconclusive(std::string check, double threshold, uint64_t baseline_n,
                         uint64_t candidate_n, uint64_t needed, const char* what) {
  CheckResult r;
  r.check = std::move(check);
  r.verdict = CheckVerdict::kInconclusive;
  r.threshold = threshold;
  r.baseline_n = baseline_n;
  r.candidate_n = candidate_n;
  r.needed = needed;
  const bool candidate_short = candidate_n < needed;
  r.detail = Format("inconclusive: %llu of %llu %s %s in the window",
                    static_cast<unsigned long long>(candidate_short ? candidate_n : baseline_n),
                    static_cast<unsigned long long>(needed),
                    candidate_short ? "candidate" : "baseline", what);
  return r;
}

CheckResult Latency(const LatencySketch& base, const LatencySketch& cand, const AnalysisPolicy& p,
                    double z) {
  const uint64_t n = base.Count(), m = cand.Count();
  if (n < p.min_requests || m < p.min_requests)
    return Inconclusive("latency", p.latency_ratio, n, m, p.min_requests, "successful requests");
  // The distribution of all n*m pairwise bucket differences, exactly.
  constexpr int kK = LatencySketch::kBucketCount;
  // long double: n*m pairs stay exact past 2^53 (a day of traffic in a window).
  std::vector<long double> differences(2 * kK - 1, 0);
  const std::vector<Bin> b = NonEmpty(base), c = NonEmpty(cand);
  for (const Bin& x : b) {
    for (const Bin& y : c)
      differences[static_cast<size_t>(y.index - x.index + kK - 1)] += x.count * y.count;
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(m);
  // Mann-Whitney: the interval's ends are the C-th smallest and largest differences.
  const double spread =
      z * std::sqrt(pairs * (static_cast<double>(n) + static_cast<double>(m) + 1) / 12.0);
  const long double total = static_cast<long double>(n) * static_cast<long double>(m);
  const long double rank_low = std::max<long double>(1, std::floor(pairs / 2 - spread));
  const long double rank_mid = std::floor((total + 1) / 2);
  const long double rank_high = total - rank_low + 1;
  auto at_rank = [&](long double rank) {
    long double seen = 0;
    for (size_t d = 0; d < differences.size(); ++d) {
      seen += differences[d];
      if (seen >= rank) return static_cast<int>(d) - (kK - 1);
    }
    return kK - 1;
  };
  CheckResult r;
  r.check = "latency";
  r.threshold = p.latency_ratio;
  r.baseline_n = n;
  r.candidate_n = m;
  r.value = std::pow(kGamma, at_rank(rank_mid));
  r.lower = std::pow(kGamma, at_rank(rank_low));
  r.upper = std::pow(kGamma, at_rank(rank_high));
  const double p50 = cand.QuantileMillis(0.5);
  const bool above_ceiling = p.latency_ceiling_ms > 0 && p50 > p.latency_ceiling_ms;
  if (r.lower >= p.latency_ratio || above_ceiling) {
    r.verdict = CheckVerdict::kFail;
  } else if (r.lower > 1 && r.value >= 1 + (p.latency_ratio - 1) / 2) {
    r.verdict = CheckVerdict::kWarn;  // surely slower, by half the threshold or more
  } else {
    r.verdict = CheckVerdict::kPass;
  }
  r.detail = Format(
      "candidate latency %.2fx baseline (interval %.2f-%.2fx at %.1f %%, threshold %.2fx), "
      "p50 %.3f ms against %.3f ms%s, %llu vs %llu successful requests",
      r.value, r.lower, r.upper, p.confidence * 100, p.latency_ratio, p50, base.QuantileMillis(0.5),
      above_ceiling ? Format(", above the %.1f ms ceiling", p.latency_ceiling_ms).c_str() : "",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(m));
  return r;
}

CheckResult Tail(const LatencySketch& base, const LatencySketch& cand, const AnalysisPolicy& p,
                 double z) {
  const uint64_t n = base.Count(), m = cand.Count();
  if (n < p.min_requests || m < p.min_requests)
    return Inconclusive("tail", p.tail_margin, n, m, p.min_requests, "successful requests");
  // The cut-off is the p99 bucket of both versions pooled: under A/A the two
  // sides are exchangeable, so their shares above it differ only by chance
  // (a cut-off from the baseline alone is itself noisy, and with a small
  // baseline already leaves ~2 % above it).
  LatencySketch pooled = base;
  pooled.Merge(cand);
  const int edge = LatencySketch::BucketOf(pooled.QuantileMicros(0.99));
  uint64_t base_slower = 0, cand_slower = 0;
  for (size_t i = static_cast<size_t>(edge) + 1; i < LatencySketch::kBucketCount; ++i) {
    base_slower += base.Buckets()[i];
    cand_slower += cand.Buckets()[i];
  }
  const Interval difference = NewcombeDifference(cand_slower, m, base_slower, n, z);
  CheckResult r;
  r.check = "tail";
  r.threshold = p.tail_margin;
  r.baseline_n = n;
  r.candidate_n = m;
  const double pc = static_cast<double>(cand_slower) / static_cast<double>(m);
  const double pb = static_cast<double>(base_slower) / static_cast<double>(n);
  r.value = pc - pb;
  r.lower = difference.low;
  r.upper = difference.high;
  if (r.lower >= p.tail_margin) {
    r.verdict = CheckVerdict::kFail;
  } else if (r.lower > 0 && r.value >= p.tail_margin / 2) {
    r.verdict = CheckVerdict::kWarn;  // surely a heavier tail, half the margin or more
  } else {
    r.verdict = CheckVerdict::kPass;
  }
  r.detail = Format(
      "%.2f %% of candidate requests slower than the pooled p99 (%.3f ms) against %.2f %% of the "
      "baseline's (difference %+.2f points, interval %+.2f to %+.2f, margin %.2f); p99 %.3f ms "
      "against %.3f ms, %llu vs %llu successful requests",
      pc * 100, LatencySketch::BucketValue(edge) / 1000, pb * 100, r.value * 100, r.lower * 100,
      r.upper * 100, p.tail_margin * 100, cand.QuantileMillis(0.99), base.QuantileMillis(0.99),
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(m));
  return r;
}

CheckResult Errors(const VersionWindowSample& base, const VersionWindowSample& cand,
                   const AnalysisPolicy& p, double z) {
  const uint64_t n = base.requests, m = cand.requests;
  if (n < p.min_requests || m < p.min_requests)
    return Inconclusive("errors", p.error_margin, n, m, p.min_requests, "requests");
  const uint64_t kb = std::min(base.server_errors, n), kc = std::min(cand.server_errors, m);
  const double pb = static_cast<double>(kb) / static_cast<double>(n);
  const double pc = static_cast<double>(kc) / static_cast<double>(m);
  const Interval wc = Wilson(kc, m, z);
  const Interval difference = NewcombeDifference(kc, m, kb, n, z);
  CheckResult r;
  r.check = "errors";
  r.threshold = p.error_margin;
  r.baseline_n = n;
  r.candidate_n = m;
  r.value = pc - pb;
  r.lower = difference.low;
  r.upper = difference.high;
  const bool above_ceiling = p.error_ceiling > 0 && wc.low >= p.error_ceiling;
  if (r.lower >= p.error_margin || above_ceiling) {
    r.verdict = CheckVerdict::kFail;
  } else if (r.lower > 0 && r.value >= p.error_margin / 2) {
    r.verdict = CheckVerdict::kWarn;  // surely more errors, half the margin or more
  } else {
    r.verdict = CheckVerdict::kPass;
  }
  r.detail = Format(
      "candidate server errors %.2f %% against %.2f %% (difference %+.2f points, interval "
      "%+.2f to %+.2f, margin %.2f)%s, %llu vs %llu requests",
      pc * 100, pb * 100, r.value * 100, r.lower * 100, r.upper * 100, p.error_margin * 100,
      above_ceiling ? Format(", surely above the %.2f %% ceiling", p.error_ceiling * 100).c_str()
                    : "",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(m));
  return r;
}
}  // namespace

const char* CheckVerdictName(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::kPass:
      return "pass";
    case CheckVerdict::kWarn:
      return "warn";
    case CheckVerdict::kFail:
      return "fail";
    default:
      return "inconclusive";
  }
}

double NormalQuantile(double confidence) {
  // Bisection on the standard normal tail, 1 - confidence split over two sides.
  const double tail = (1 - std::clamp(confidence, 0.5, 1 - 1e-12)) / 2;
  double low = 0, high = 40;
  for (int i = 0; i < 100; ++i) {
    const double mid = (low + high) / 2;
    (0.5 * std::erfc(mid / std::sqrt(2.0)) > tail ? low : high) = mid;
  }
  return (low + high) / 2;
}

std::vector<CheckResult> JudgeCandidate(const VersionWindowSample& baseline,
                                        const VersionWindowSample& candidate,
                                        const AnalysisPolicy& given) {
  // A policy from outside cannot turn the intervals off: a NaN or silly
  // confidence is the default, and a check needs at least one request.
  AnalysisPolicy policy = given;
  if (!(policy.confidence > 0.5 && policy.confidence < 1)) policy.confidence = 0.999;
  policy.min_requests = std::max<uint64_t>(policy.min_requests, 1);
  const double z = NormalQuantile(policy.confidence);
  return {Latency(baseline.latency, candidate.latency, policy, z),
          Tail(baseline.latency, candidate.latency, policy, z),
          Errors(baseline, candidate, policy, z)};
}

}  // namespace greylane
