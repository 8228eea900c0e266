#include "agent/analysis/canary_judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

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

// A ratio in words: "2.31x", or "unbounded" when the baseline had none of
// the events (a division by zero, not "infx").
std::string Times(double ratio) {
  return std::isinf(ratio) ? std::string("unbounded") : Format("%.2fx", ratio);
}

// The regularized incomplete beta function I_x(a, b), by its continued
// fraction (modified Lentz); P(X >= k) for X ~ Binomial(n, p) is
// I_p(k, n - k + 1). Written here: the C++ library has no beta function.
double IncompleteBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - IncompleteBeta(b, a, 1 - x);
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x)) /
                       a;
  constexpr double kTiny = 1e-300;
  auto guard = [](double v) { return std::abs(v) < kTiny ? kTiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), f = d;
  for (int m = 1; m < 100000; ++m) {
    const double mm = m;
    double step = mm * (b - mm) * x / ((a + 2 * mm - 1) * (a + 2 * mm));
    d = 1 / guard(1 + step * d);
    c = guard(1 + step / c);
    f *= d * c;
    step = -(a + mm) * (a + b + mm) * x / ((a + 2 * mm) * (a + 2 * mm + 1));
    d = 1 / guard(1 + step * d);
    c = guard(1 + step / c);
    const double delta = d * c;
    f *= delta;
    if (std::abs(delta - 1) < 1e-13) break;
  }
  return std::clamp(front * f, 0.0, 1.0);
}

// The exact (Clopper-Pearson) interval for a proportion of `k` in `n` at a
// two-sided level `alpha`: exact, because the score intervals undercover at
// the few events and small alphas the judge lives on.
Interval ClopperPearson(uint64_t k, uint64_t n, double alpha) {
  if (n == 0) return {0, 1};
  k = std::min(k, n);
  const double kk = static_cast<double>(k), nn = static_cast<double>(n);
  // Bisection: P(X >= k | p) rises with p, P(X <= k | p) falls.
  auto solve = [](auto tail_of, double target, bool rising) {
    double low = 0, high = 1;
    for (int i = 0; i < 64; ++i) {
      const double mid = (low + high) / 2;
      ((tail_of(mid) < target) == rising ? low : high) = mid;
    }
    return (low + high) / 2;
  };
  const double lower =
      k == 0 ? 0
             : solve([&](double p) { return IncompleteBeta(kk, nn - kk + 1, p); }, alpha / 2, true);
  const double upper = k == n
                           ? 1
                           : solve([&](double p) { return 1 - IncompleteBeta(kk + 1, nn - kk, p); },
                                   alpha / 2, false);
  return {lower, upper};
}

// Newcombe's method for the difference kc/m - kb/n, built on exact
// single-proportion intervals (conservative).
Interval NewcombeDifference(uint64_t kc, uint64_t m, uint64_t kb, uint64_t n, double alpha) {
  const double pc = static_cast<double>(kc) / static_cast<double>(m);
  const double pb = static_cast<double>(kb) / static_cast<double>(n);
  const Interval wc = ClopperPearson(kc, m, alpha), wb = ClopperPearson(kb, n, alpha);
  const double d = pc - pb;
  return {d - std::sqrt((pc - wc.low) * (pc - wc.low) + (wb.high - pb) * (wb.high - pb)),
          d + std::sqrt((wc.high - pc) * (wc.high - pc) + (pb - wb.low) * (pb - wb.low))};
}

// Per second, what a rate check counts: the candidate's and the baseline's
// events (slow requests, server errors) and requests.
struct SecondCounts {
  uint64_t kc = 0, m = 0, kb = 0, n = 0;
};

// The totals without the `leave_out` seconds holding most candidate events:
// a rate check must still fail without them, so a burst inside fewer
// seconds than `sustain_seconds` warns and never fails.
SecondCounts TotalsLeavingOut(std::vector<SecondCounts> seconds, int leave_out) {
  std::sort(seconds.begin(), seconds.end(),
            [](const SecondCounts& x, const SecondCounts& y) { return x.kc > y.kc; });
  SecondCounts total;
  for (size_t i = static_cast<size_t>(std::max(0, leave_out)); i < seconds.size(); ++i) {
    total.kc += seconds[i].kc;
    total.m += seconds[i].m;
    total.kb += seconds[i].kb;
    total.n += seconds[i].n;
  }
  return total;
}

int SecondsWithEvents(const std::vector<SecondCounts>& seconds) {
  return static_cast<int>(std::count_if(seconds.begin(), seconds.end(),
                                        [](const SecondCounts& s) { return s.kc > 0; }));
}

// The ratio of two event rates, candidate over baseline. Given the events,
// the candidate's share of them is binomial with p = R m / (R m + n) when
// its rate is R times the baseline's: the exact conditional test for two
// rates of rare events, inverted into an interval for R.
struct Ratio {
  double value = 1, lower = 0, upper = std::numeric_limits<double>::infinity();
};

Ratio RateRatio(const SecondCounts& t, double alpha) {
  Ratio r;
  if (t.kc + t.kb == 0 || t.m == 0 || t.n == 0) return r;
  const double scale = static_cast<double>(t.n) / static_cast<double>(t.m);
  auto odds = [&](double share) {
    return share >= 1 ? std::numeric_limits<double>::infinity() : share / (1 - share) * scale;
  };
  const Interval share = ClopperPearson(t.kc, t.kc + t.kb, alpha);
  r.value = odds(static_cast<double>(t.kc) / static_cast<double>(t.kc + t.kb));
  r.lower = odds(share.low);
  r.upper = odds(share.high);
  return r;
}

// The confidence of one decision, as a normal quantile and as an alpha.
struct Level {
  double z = 0, alpha = 0;
};

// The merged last `seconds` seconds, and those seconds one by one.
struct Window {
  int seconds = 0;
  VersionWindowSample base, cand;
  std::span<const SecondSample> each;
};

// A check's result with what every verdict names: the check, its
// threshold, the window and both samples.
CheckResult Begun(const char* check, double threshold, const Window& w, uint64_t n, uint64_t m) {
  CheckResult r;
  r.check = check;
  r.threshold = threshold;
  r.baseline_n = n;
  r.candidate_n = m;
  r.window_seconds = w.seconds;
  return r;
}

CheckResult Inconclusive(const char* check, double threshold, const Window& w, uint64_t n,
                         uint64_t m, uint64_t needed, const char* what) {
  CheckResult r = Begun(check, threshold, w, n, m);
  r.verdict = CheckVerdict::kInconclusive;
  r.needed = needed;
  const bool candidate_short = m < needed;
  r.detail = Format("inconclusive: %llu of %llu %s %s in the last %d s",
                    static_cast<unsigned long long>(candidate_short ? m : n),
                    static_cast<unsigned long long>(needed),
                    candidate_short ? "candidate" : "baseline", what, w.seconds);
  return r;
}

// A failing test fails only when it is sustained (its evidence spread over
// enough seconds); short of that it warns (one stall, one burst).
CheckVerdict Decide(bool fails, bool sustained, bool warns) {
  if (fails && sustained) return CheckVerdict::kFail;
  if (fails || warns) return CheckVerdict::kWarn;
  return CheckVerdict::kPass;
}

std::string EvidenceText(const CheckResult& r) {
  if (r.evidence_seconds == 0) return Format("over the last %d s", r.window_seconds);
  return Format("over the last %d s, seen in %d of them", r.window_seconds, r.evidence_seconds);
}

// Where a rate check's events were, and whether its failure holds without
// the seconds holding most of them.
std::string SpreadText(const CheckResult& r, bool failed, bool holds, int leave_out) {
  std::string text = r.evidence_seconds == 0 ? Format("over the last %d s, none", r.window_seconds)
                                             : Format("over the last %d s, in %d of them",
                                                      r.window_seconds, r.evidence_seconds);
  if (failed && leave_out > 0) {
    text += holds ? Format(" (holds without the worst %d)", leave_out)
                  : Format(
                        " (not yet without its worst %d: maybe one burst; it fails once it "
                        "holds without)",
                        leave_out);
  }
  return text;
}

// Requests in a sketch above `micros`.
uint64_t CountAbove(const LatencySketch& sketch, double micros) {
  uint64_t above = 0;
  const std::vector<uint64_t>& buckets = sketch.Buckets();
  for (size_t i = static_cast<size_t>(LatencySketch::BucketOf(micros)) + 1; i < buckets.size(); ++i)
    above += buckets[i];
  return above;
}

// Which time a shift check compares: request latency, or for generative
// answers the time to first token or between tokens.
struct TimeMeasure {
  const char* check;  // latency | ttft | itl
  const char* noun;   // in the detail line
  const char* unit;   // what is counted
  LatencySketch VersionWindowSample::*sketch;
  // What min_requests counts: the independent units (requests, streams).
  // The gaps inside one stream are not independent: one pinned stream of
  // 100 tokens must not be 99 samples' worth of evidence.
  LatencySketch VersionWindowSample::*units;
  double AnalysisPolicy::*ratio;
  bool absolute_levels;  // the policy's p99 warning and ceiling apply
};

constexpr TimeMeasure kRequestLatency{"latency",
                                      "latency",
                                      "successful requests",
                                      &VersionWindowSample::latency,
                                      &VersionWindowSample::latency,
                                      &AnalysisPolicy::latency_ratio,
                                      true};
constexpr TimeMeasure kTimeToFirstToken{"ttft",
                                        "time to first token",
                                        "streams",
                                        &VersionWindowSample::ttft,
                                        &VersionWindowSample::ttft,
                                        &AnalysisPolicy::ttft_ratio,
                                        false};
constexpr TimeMeasure kInterTokenLatency{"itl",
                                         "inter-token latency",
                                         "token gaps",
                                         &VersionWindowSample::itl,
                                         &VersionWindowSample::ttft,
                                         &AnalysisPolicy::itl_ratio,
                                         false};

// The Hodges-Lehmann shift of one time, candidate over baseline.
CheckResult TimeShift(const TimeMeasure& t, const Window& w, const AnalysisPolicy& given,
                      const Level& level) {
  AnalysisPolicy p = given;
  p.latency_ratio = given.*t.ratio;
  if (!t.absolute_levels) p.p99_warning_ms = p.p99_ceiling_ms = 0;
  const double z = level.z;
  const LatencySketch &base = w.base.*t.sketch, &cand = w.cand.*t.sketch;
  const uint64_t n = base.Count(), m = cand.Count();
  const uint64_t base_units = (w.base.*t.units).Count(), cand_units = (w.cand.*t.units).Count();
  if (base_units < p.min_requests || cand_units < p.min_requests) {
    return Inconclusive(t.check, p.latency_ratio, w, base_units, cand_units, p.min_requests,
                        t.units == t.sketch ? t.unit : "streams");
  }
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
  CheckResult r = Begun(t.check, p.latency_ratio, w, n, m);
  r.value = std::pow(kGamma, at_rank(rank_mid));
  r.lower = std::pow(kGamma, at_rank(rank_low));
  r.upper = std::pow(kGamma, at_rank(rank_high));
  const double base_p50 = base.QuantileMicros(0.5);
  const double p99 = cand.QuantileMillis(0.99);
  // A large ratio of tiny latencies is no regression: the shift must also
  // be latency_min_ms in absolute terms.
  const double min_us = p.latency_min_ms * 1000;
  const bool big_enough = base_p50 * (r.value - 1) >= min_us;
  const bool shifted = r.lower > 1 && r.value >= p.latency_ratio && big_enough;
  // The p99 is surely above the ceiling when surely more than 1 % of requests are.
  const bool over_ceiling =
      p.p99_ceiling_ms > 0 &&
      ClopperPearson(CountAbove(cand, p.p99_ceiling_ms * 1000), m, level.alpha).low > 0.01;
  for (const SecondSample& s : w.each) {
    const LatencySketch& second = s.candidate.*t.sketch;
    if (second.Count() == 0) continue;
    const double second_p50 = second.QuantileMicros(0.5);
    const bool slow =
        shifted && second_p50 >= base_p50 * p.latency_ratio && second_p50 >= base_p50 + min_us;
    const bool high = over_ceiling && CountAbove(second, p.p99_ceiling_ms * 1000) > 0;
    r.evidence_seconds += slow || high ? 1 : 0;
  }
  const bool warns = (r.lower > 1 && r.value >= 1 + (p.latency_ratio - 1) / 2 && big_enough) ||
                     (p.p99_warning_ms > 0 && p99 > p.p99_warning_ms);
  r.verdict = Decide(shifted || over_ceiling, r.evidence_seconds >= p.sustain_seconds, warns);
  std::string levels;
  if (p.p99_ceiling_ms > 0 || p.p99_warning_ms > 0) {
    levels = Format(" (warning %.0f ms, ceiling %.0f ms%s)", p.p99_warning_ms, p.p99_ceiling_ms,
                    over_ceiling ? ", surely above the ceiling" : "");
  }
  r.detail = Format(
      "candidate %s %.2fx baseline (interval %.2f-%.2fx at %.1f %%, threshold %.2fx and "
      "+%.3g ms) %s; "
      "p50 %.3f ms against %.3f ms, candidate p99 %.3f ms%s; %llu candidate and %llu baseline "
      "%s",
      t.noun, r.value, r.lower, r.upper, p.confidence * 100, p.latency_ratio, p.latency_min_ms,
      EvidenceText(r).c_str(), cand.QuantileMillis(0.5), base_p50 / 1000, p99, levels.c_str(),
      static_cast<unsigned long long>(m), static_cast<unsigned long long>(n), t.unit);
  return r;
}

CheckResult Tail(const Window& w, const AnalysisPolicy& p, const Level& level) {
  const LatencySketch &base = w.base.latency, &cand = w.cand.latency;
  const uint64_t n = base.Count(), m = cand.Count();
  if (n < p.min_requests || m < p.min_requests)
    return Inconclusive("tail", p.tail_ratio, w, n, m, p.min_requests, "successful requests");
  // Slow = past the latency threshold times the baseline's p99 (and
  // latency_min_ms): so far out the baseline's own share is small, so a
  // candidate's 1 % of slow requests stands out. The baseline's alone: a
  // pooled p99 moves into the candidate's slow requests once they are over
  // 1 % of all traffic, and then counts none of them.
  const double base_p99 = base.QuantileMicros(0.99);
  const double cut = std::max(base_p99 * p.latency_ratio, base_p99 + p.latency_min_ms * 1000);
  std::vector<SecondCounts> seconds;
  for (const SecondSample& s : w.each) {
    seconds.push_back({CountAbove(s.candidate.latency, cut), s.candidate.latency.Count(),
                       CountAbove(s.baseline.latency, cut), s.baseline.latency.Count()});
  }
  auto ratio_of = [&](const SecondCounts& t) { return RateRatio(t, level.alpha); };
  auto fails = [&](const Ratio& r) { return r.lower > 1 && r.value >= p.tail_ratio; };
  const SecondCounts total = TotalsLeavingOut(seconds, 0);
  const Ratio all = ratio_of(total);
  const int leave_out = p.sustain_seconds - 1;
  const bool holds = fails(all) && fails(ratio_of(TotalsLeavingOut(seconds, leave_out)));
  CheckResult r = Begun("tail", p.tail_ratio, w, n, m);
  r.value = all.value;
  r.lower = all.lower;
  r.upper = all.upper;
  r.evidence_seconds = SecondsWithEvents(seconds);
  const bool warns = all.lower > 1 && all.value >= (1 + p.tail_ratio) / 2;
  r.verdict = Decide(fails(all), holds, warns);
  r.detail = Format(
      "%.2f %% of candidate requests slower than %.3f ms (%.2fx the baseline's p99, and +%.3g ms) "
      "against %.2f %% "
      "of the baseline's: %s (interval %s to %s, threshold %.2fx) %s; p99 %.3f ms against "
      "%.3f ms; %llu candidate and %llu baseline successful requests",
      100.0 * static_cast<double>(total.kc) / static_cast<double>(m), cut / 1000, p.latency_ratio,
      p.latency_min_ms, 100.0 * static_cast<double>(total.kb) / static_cast<double>(n),
      Times(r.value).c_str(), Times(r.lower).c_str(), Times(r.upper).c_str(), p.tail_ratio,
      SpreadText(r, fails(all), holds, leave_out).c_str(), cand.QuantileMillis(0.99),
      base.QuantileMillis(0.99), static_cast<unsigned long long>(m),
      static_cast<unsigned long long>(n));
  return r;
}

// The candidate's rate of bad events (server errors, wrong answers)
// against the baseline's, per second so a burst can be left out. "Surely
// more" is the exact conditional test (the rate ratio's interval above 1),
// the stronger test when the baseline has events too; the difference and
// its (conservative) interval are what the margin is judged on.
struct RateComparison {
  SecondCounts total;
  double difference = 0;
  Interval interval;
  Ratio ratio;
  bool above_ceiling = false;
  bool fails = false, holds = false, warns = false;
  int evidence_seconds = 0, leave_out = 0;
};

RateComparison CompareRates(const std::vector<SecondCounts>& seconds, double margin, double ceiling,
                            const AnalysisPolicy& p, const Level& level) {
  auto rates_of = [&](const SecondCounts& t) {
    RateComparison r;
    r.total = t;
    if (t.m == 0 || t.n == 0) return r;
    r.difference = static_cast<double>(t.kc) / static_cast<double>(t.m) -
                   static_cast<double>(t.kb) / static_cast<double>(t.n);
    r.interval = NewcombeDifference(t.kc, t.m, t.kb, t.n, level.alpha);
    r.ratio = RateRatio(t, level.alpha);
    r.above_ceiling = ceiling > 0 && ClopperPearson(t.kc, t.m, level.alpha).low >= ceiling;
    r.fails = (r.ratio.lower > 1 && r.difference >= margin) || r.above_ceiling;
    return r;
  };
  RateComparison all = rates_of(TotalsLeavingOut(seconds, 0));
  all.leave_out = p.sustain_seconds - 1;
  all.holds = all.fails && rates_of(TotalsLeavingOut(seconds, all.leave_out)).fails;
  all.warns = all.ratio.lower > 1 && all.difference >= margin / 2;
  all.evidence_seconds = SecondsWithEvents(seconds);
  return all;
}

CheckResult Errors(const Window& w, const AnalysisPolicy& p, const Level& level) {
  const uint64_t n = w.base.requests, m = w.cand.requests;
  if (n < p.min_requests || m < p.min_requests)
    return Inconclusive("errors", p.error_margin, w, n, m, p.min_requests, "requests");
  std::vector<SecondCounts> seconds;
  for (const SecondSample& s : w.each) {
    seconds.push_back(
        {std::min(s.candidate.server_errors, s.candidate.requests), s.candidate.requests,
         std::min(s.baseline.server_errors, s.baseline.requests), s.baseline.requests});
  }
  const RateComparison all = CompareRates(seconds, p.error_margin, p.error_ceiling, p, level);
  CheckResult r = Begun("errors", p.error_margin, w, n, m);
  r.value = all.difference;
  r.lower = all.interval.low;
  r.upper = all.interval.high;
  r.evidence_seconds = all.evidence_seconds;
  r.verdict = Decide(all.fails, all.holds, all.warns);
  const double pc = static_cast<double>(all.total.kc) / static_cast<double>(m);
  const double pb = static_cast<double>(all.total.kb) / static_cast<double>(n);
  r.detail = Format(
      "candidate server errors %.2f %% against %.2f %% (difference %+.2f points, interval "
      "%+.2f to %+.2f, margin %.2f; rate %s the baseline's, interval %s to %s)%s %s; %llu "
      "candidate and %llu baseline requests",
      pc * 100, pb * 100, r.value * 100, r.lower * 100, r.upper * 100, p.error_margin * 100,
      Times(all.ratio.value).c_str(), Times(all.ratio.lower).c_str(),
      Times(all.ratio.upper).c_str(),
      all.above_ceiling
          ? Format(", surely above the %.2f %% ceiling", p.error_ceiling * 100).c_str()
          : "",
      SpreadText(r, all.fails, all.holds, all.leave_out).c_str(),
      static_cast<unsigned long long>(m), static_cast<unsigned long long>(n));
  return r;
}

// Wrong answers among labelled outcomes: each version's accuracy with its
// exact interval, and the candidate's drop judged as errors are.
CheckResult Accuracy(const Window& w, const AnalysisPolicy& p, const Level& level) {
  const uint64_t n = w.base.outcomes, m = w.cand.outcomes;
  if (n < p.min_requests || m < p.min_requests) {
    return Inconclusive("accuracy", p.accuracy_margin, w, n, m, p.min_requests,
                        "labelled outcomes (RecordOutcome)");
  }
  std::vector<SecondCounts> seconds;
  for (const SecondSample& s : w.each) {
    seconds.push_back({std::min(s.candidate.incorrect, s.candidate.outcomes), s.candidate.outcomes,
                       std::min(s.baseline.incorrect, s.baseline.outcomes), s.baseline.outcomes});
  }
  const RateComparison all = CompareRates(seconds, p.accuracy_margin, 0, p, level);
  CheckResult r = Begun("accuracy", p.accuracy_margin, w, n, m);
  r.value = all.difference;  // wrong-answer rates differ by what the accuracies do
  r.lower = all.interval.low;
  r.upper = all.interval.high;
  r.evidence_seconds = all.evidence_seconds;
  r.verdict = Decide(all.fails, all.holds, all.warns);
  const Interval cand = ClopperPearson(m - all.total.kc, m, level.alpha);
  const Interval base = ClopperPearson(n - all.total.kb, n, level.alpha);
  r.detail = Format(
      "candidate accuracy %.2f %% (interval %.2f-%.2f %%) against %.2f %% (%.2f-%.2f %%): %s "
      "%.2f points (drop interval %+.2f to %+.2f, margin %.2f) %s; %llu candidate and %llu "
      "baseline labelled outcomes",
      100.0 * static_cast<double>(m - all.total.kc) / static_cast<double>(m), cand.low * 100,
      cand.high * 100, 100.0 * static_cast<double>(n - all.total.kb) / static_cast<double>(n),
      base.low * 100, base.high * 100, r.value > 0 ? "down" : "up", std::abs(r.value) * 100,
      r.lower * 100, r.upper * 100, p.accuracy_margin * 100,
      SpreadText(r, all.fails, all.holds, all.leave_out).c_str(),
      static_cast<unsigned long long>(m), static_cast<unsigned long long>(n));
  return r;
}

// Each version's predicted classes over some seconds.
struct ClassTotals {
  std::vector<uint64_t> cand, base;
  uint64_t m = 0, n = 0;
};

void AddClasses(const std::vector<uint64_t>& from, std::vector<uint64_t>* into, uint64_t* total) {
  if (into->size() < from.size()) into->resize(from.size(), 0);
  for (size_t c = 0; c < from.size(); ++c) {
    (*into)[c] += from[c];
    *total += from[c];
  }
}

// How far the two versions' class shares are apart, with simultaneous
// intervals: each class's difference of shares has Newcombe's interval at
// alpha / classes, so all hold together at alpha.
struct ClassShift {
  double divergence = 0, divergence_low = 0, divergence_high = 0;  // total variation
  int worst = -1;  // the class whose share moved surely most (else most)
  double worst_change = 0;
  Interval worst_interval;
};

ClassShift CompareClasses(const ClassTotals& t, double alpha) {
  ClassShift s;
  const size_t classes = std::max(t.cand.size(), t.base.size());
  if (t.m == 0 || t.n == 0 || classes == 0) return s;
  const double per_class = alpha / static_cast<double>(std::max<size_t>(classes, 2));
  double best_distance = -1, best_change = -1;
  for (size_t c = 0; c < classes; ++c) {
    const uint64_t kc = c < t.cand.size() ? t.cand[c] : 0;
    const uint64_t kb = c < t.base.size() ? t.base[c] : 0;
    if (kc == 0 && kb == 0) continue;
    const double d = static_cast<double>(kc) / static_cast<double>(t.m) -
                     static_cast<double>(kb) / static_cast<double>(t.n);
    const Interval i = NewcombeDifference(kc, t.m, kb, t.n, per_class);
    const double distance = i.low > 0 ? i.low : (i.high < 0 ? -i.high : 0);
    s.divergence += std::abs(d) / 2;
    s.divergence_low += distance / 2;
    s.divergence_high += std::max(std::abs(i.low), std::abs(i.high)) / 2;
    if (distance > best_distance || (distance == best_distance && std::abs(d) > best_change)) {
      best_distance = distance;
      best_change = std::abs(d);
      s.worst = static_cast<int>(c);
      s.worst_change = d;
      s.worst_interval = i;
    }
  }
  s.divergence_high = std::min(1.0, s.divergence_high);
  return s;
}

// The window's class totals without the `leave_out` seconds whose candidate
// predictions moved most from the baseline's shares (as the rate checks
// leave out their worst seconds), looking at one class or all (-1).
ClassTotals ClassTotalsLeavingOut(std::span<const SecondSample> each, const ClassTotals& all,
                                  int leave_out, int only_class) {
  std::vector<std::pair<double, size_t>> moved;
  for (size_t i = 0; i < each.size(); ++i) {
    const std::vector<uint64_t>& cand = each[i].candidate.predictions;
    uint64_t m = 0;
    for (const uint64_t k : cand) m += k;
    double shift = 0;
    for (size_t c = 0; c < std::max(cand.size(), all.base.size()); ++c) {
      if (only_class >= 0 && c != static_cast<size_t>(only_class)) continue;
      const double expected = c < all.base.size() && all.n > 0
                                  ? static_cast<double>(m) * static_cast<double>(all.base[c]) /
                                        static_cast<double>(all.n)
                                  : 0;
      shift += std::abs((c < cand.size() ? static_cast<double>(cand[c]) : 0) - expected);
    }
    moved.emplace_back(shift, i);
  }
  std::sort(moved.begin(), moved.end(), std::greater<>());
  ClassTotals t;
  for (size_t k = static_cast<size_t>(std::max(0, leave_out)); k < moved.size(); ++k) {
    const SecondSample& s = each[moved[k].second];
    AddClasses(s.candidate.predictions, &t.cand, &t.m);
    AddClasses(s.baseline.predictions, &t.base, &t.n);
  }
  return t;
}

double ShareOf(const std::vector<uint64_t>& classes, uint64_t total, int c) {
  if (c < 0 || static_cast<size_t>(c) >= classes.size() || total == 0) return 0;
  return static_cast<double>(classes[static_cast<size_t>(c)]) / static_cast<double>(total);
}

int SecondsWithPredictions(std::span<const SecondSample> each) {
  return static_cast<int>(std::count_if(each.begin(), each.end(), [](const SecondSample& s) {
    return std::any_of(s.candidate.predictions.begin(), s.candidate.predictions.end(),
                       [](uint64_t k) { return k > 0; });
  }));
}

// The share of predictions that would have to move for the candidate's
// classes to match the baseline's (total variation distance).
CheckResult Predictions(const Window& w, const ClassTotals& all, const ClassShift& shift,
                        const AnalysisPolicy& p, const Level& level) {
  const uint64_t n = all.n, m = all.m;
  if (n < p.min_requests || m < p.min_requests) {
    return Inconclusive("predictions", p.prediction_divergence, w, n, m, p.min_requests,
                        "predictions (answers with a score per class)");
  }
  auto fails = [&](const ClassShift& s) {
    return s.divergence_low > 0 && s.divergence >= p.prediction_divergence;
  };
  const int leave_out = p.sustain_seconds - 1;
  const bool holds =
      fails(shift) &&
      fails(CompareClasses(ClassTotalsLeavingOut(w.each, all, leave_out, -1), level.alpha));
  CheckResult r = Begun("predictions", p.prediction_divergence, w, n, m);
  r.value = shift.divergence;
  r.lower = shift.divergence_low;
  r.upper = shift.divergence_high;
  r.evidence_seconds = SecondsWithPredictions(w.each);
  const bool warns = shift.divergence_low > 0 && shift.divergence >= p.prediction_divergence / 2;
  r.verdict = Decide(fails(shift), holds, warns);
  r.detail = Format(
      "candidate predictions differ from the baseline's by %.2f %% (total variation; interval "
      "%.2f-%.2f %%, threshold %.2f %%); most in class %d: %.2f %% of the candidate's against "
      "%.2f %% %s; %llu candidate and %llu baseline predictions",
      r.value * 100, r.lower * 100, r.upper * 100, p.prediction_divergence * 100, shift.worst,
      ShareOf(all.cand, m, shift.worst) * 100, ShareOf(all.base, n, shift.worst) * 100,
      SpreadText(r, fails(shift), holds, leave_out).c_str(), static_cast<unsigned long long>(m),
      static_cast<unsigned long long>(n));
  return r;
}

// The largest change in one class's share (a bank's rejection rate).
CheckResult ClassShare(const Window& w, const ClassTotals& all, const ClassShift& shift,
                       const AnalysisPolicy& p, const Level& level) {
  const uint64_t n = all.n, m = all.m;
  if (n < p.min_requests || m < p.min_requests) {
    return Inconclusive("class_share", p.class_share_margin, w, n, m, p.min_requests,
                        "predictions (answers with a score per class)");
  }
  auto fails = [&](const ClassShift& s) {
    const Interval& i = s.worst_interval;
    return (i.low > 0 || i.high < 0) && std::abs(s.worst_change) >= p.class_share_margin;
  };
  const int leave_out = p.sustain_seconds - 1;
  const bool holds =
      fails(shift) && fails(CompareClasses(
                          ClassTotalsLeavingOut(w.each, all, leave_out, shift.worst), level.alpha));
  CheckResult r = Begun("class_share", p.class_share_margin, w, n, m);
  const Interval& i = shift.worst_interval;
  r.value = std::abs(shift.worst_change);
  // The interval of the change's size: how far from no change it surely is.
  r.lower = i.low > 0 ? i.low : (i.high < 0 ? -i.high : 0);
  r.upper = std::max(std::abs(i.low), std::abs(i.high));
  r.evidence_seconds = SecondsWithPredictions(w.each);
  const bool warns = r.lower > 0 && r.value >= p.class_share_margin / 2;
  r.verdict = Decide(fails(shift), holds, warns);
  const double pc = ShareOf(all.cand, m, shift.worst), pb = ShareOf(all.base, n, shift.worst);
  r.detail = Format(
      "class %d is %.2f %% of the candidate's predictions against %.2f %% of the baseline's "
      "(change %+.2f points, interval %+.2f to %+.2f, margin %.2f; the largest of any class) "
      "%s; %llu candidate and %llu baseline predictions",
      shift.worst, pc * 100, pb * 100, shift.worst_change * 100, i.low * 100, i.high * 100,
      p.class_share_margin * 100, SpreadText(r, fails(shift), holds, leave_out).c_str(),
      static_cast<unsigned long long>(m), static_cast<unsigned long long>(n));
  return r;
}

// Over all windows, shortest first: the first to fail (the freshest
// evidence), else the first to warn, else the longest judged.
CheckResult Pick(const std::vector<CheckResult>& results) {
  for (CheckVerdict wanted : {CheckVerdict::kFail, CheckVerdict::kWarn}) {
    for (const CheckResult& r : results) {
      if (r.verdict == wanted) return r;
    }
  }
  for (auto r = results.rbegin(); r != results.rend(); ++r) {
    if (r->verdict == CheckVerdict::kPass) return *r;
  }
  return results.back();
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

std::string ValidatePolicy(AnalysisPolicy* p) {
  auto finite = [](double v) { return std::isfinite(v); };
  if (p->window_seconds < 1 || p->window_seconds > 3600)
    return "window_seconds must be 1 to 3600 (it is " + std::to_string(p->window_seconds) + ")";
  if (!(p->confidence >= 0.9 && p->confidence < 1))
    return "confidence must be at least 0.9 and below 1, e.g. 0.999";
  if (p->min_requests < 1 || p->min_requests > 10'000'000)
    return "min_requests must be 1 to 10000000";
  if (p->sustain_seconds < 1 || p->sustain_seconds > p->window_seconds)
    return "sustain_seconds must be 1 to window_seconds (" + std::to_string(p->window_seconds) +
           ")";
  if (!finite(p->latency_ratio) || p->latency_ratio <= 1 || p->latency_ratio > 100)
    return "latency_ratio must be above 1 and at most 100, e.g. 1.25";
  if (!finite(p->latency_min_ms) || p->latency_min_ms < 0 || p->latency_min_ms > 60000)
    return "latency_min_ms must be 0 to 60000, e.g. 1";
  if (!finite(p->tail_ratio) || p->tail_ratio <= 1 || p->tail_ratio > 1000)
    return "tail_ratio must be above 1 and at most 1000, e.g. 2";
  if (!finite(p->error_margin) || p->error_margin <= 0 || p->error_margin > 1)
    return "error_margin must be above 0 and at most 1 (a share: 0.01 is 1 point)";
  if (!finite(p->error_ceiling) || p->error_ceiling < 0 || p->error_ceiling > 1)
    return "error_ceiling must be 0 (off) to 1 (a share: 0.05 is 5 %)";
  for (double ms : {p->p99_warning_ms, p->p99_ceiling_ms}) {
    if (!finite(ms) || ms < 0 || ms > 3.6e6)
      return "p99_warning_ms and p99_ceiling_ms must be 0 (off) to 3600000";
  }
  if (p->p99_warning_ms > 0 && p->p99_ceiling_ms > 0 && p->p99_warning_ms > p->p99_ceiling_ms)
    return "p99_warning_ms must not be above p99_ceiling_ms";
  if (!finite(p->accuracy_margin) || p->accuracy_margin < 0 || p->accuracy_margin > 1)
    return "accuracy_margin must be 0 (off) to 1 (a share: 0.02 is 2 points)";
  if (!finite(p->prediction_divergence) || p->prediction_divergence < 0 ||
      p->prediction_divergence > 1)
    return "prediction_divergence must be 0 (off) to 1 (a share of predictions: 0.05 is 5 %)";
  if (!finite(p->class_share_margin) || p->class_share_margin < 0 || p->class_share_margin > 1)
    return "class_share_margin must be 0 (off) to 1 (a share: 0.01 is 1 point)";
  for (const auto& [name, ratio] :
       {std::pair{"ttft_ratio", p->ttft_ratio}, std::pair{"itl_ratio", p->itl_ratio}}) {
    if (!finite(ratio) || (ratio != 0 && (ratio <= 1 || ratio > 100))) {
      return std::string(name) +
             " must be 0 (off) or above 1 up to 100 (1.25 fails a 25 % slowdown)";
    }
  }
  if (p->breaker_failures < 0 || p->breaker_failures > 1000)
    return "breaker_failures must be 0 (off) to 1000, e.g. 5";
  if (p->breaker_cooldown_seconds < 1 || p->breaker_cooldown_seconds > 3600)
    return "breaker_cooldown_seconds must be 1 to 3600, e.g. 30";
  for (double rps : {p->candidate_rate_limit, p->baseline_rate_limit}) {
    if (!finite(rps) || rps < 0 || rps > 1e7 || (rps > 0 && rps < 1))
      return "candidate_rate_limit and baseline_rate_limit must be 0 (none) or 1 to 10000000 "
             "requests per second";
  }
  return "";
}

std::vector<int> JudgedWindows(int window_seconds) {
  std::vector<int> windows;
  const int longest = std::max(1, window_seconds);
  for (int s = 1; s < longest; s *= 2) windows.push_back(s);
  windows.push_back(longest);
  return windows;
}

std::vector<CheckResult> JudgeCandidate(std::span<const SecondSample> seconds,
                                        const AnalysisPolicy& given) {
  // A policy that does not validate is judged with the defaults rather than
  // with its intervals turned off.
  AnalysisPolicy policy = given;
  if (!ValidatePolicy(&policy).empty()) policy = AnalysisPolicy{.armed = given.armed};
  const std::vector<int> windows = JudgedWindows(policy.window_seconds);
  // Bonferroni over the windows judged together.
  Level level;
  level.alpha = (1 - policy.confidence) / static_cast<double>(windows.size());
  level.z = NormalQuantile(1 - level.alpha);
  if (seconds.size() > static_cast<size_t>(policy.window_seconds))
    seconds = seconds.last(static_cast<size_t>(policy.window_seconds));

  std::vector<CheckResult> latency, tail, errors, accuracy, predictions, class_share, ttft, itl;
  Window w;
  ClassTotals classes;
  size_t merged = 0;
  auto judge = [&] {
    latency.push_back(TimeShift(kRequestLatency, w, policy, level));
    tail.push_back(Tail(w, policy, level));
    errors.push_back(Errors(w, policy, level));
    if (policy.accuracy_margin > 0) accuracy.push_back(Accuracy(w, policy, level));
    // One comparison of the class shares serves both checks.
    ClassShift shift;
    if (policy.prediction_divergence > 0 || policy.class_share_margin > 0)
      shift = CompareClasses(classes, level.alpha);
    if (policy.prediction_divergence > 0)
      predictions.push_back(Predictions(w, classes, shift, policy, level));
    if (policy.class_share_margin > 0)
      class_share.push_back(ClassShare(w, classes, shift, policy, level));
    if (policy.ttft_ratio > 0) ttft.push_back(TimeShift(kTimeToFirstToken, w, policy, level));
    if (policy.itl_ratio > 0) itl.push_back(TimeShift(kInterTokenLatency, w, policy, level));
  };
  for (int length : windows) {
    const size_t want = std::min(static_cast<size_t>(length), seconds.size());
    if (want == merged && merged != 0) continue;  // the same seconds as the shorter window
    for (; merged < want; ++merged) {
      const SecondSample& s = seconds[seconds.size() - 1 - merged];
      w.base.latency.Merge(s.baseline.latency);
      w.base.requests += s.baseline.requests;
      w.base.server_errors += s.baseline.server_errors;
      w.cand.latency.Merge(s.candidate.latency);
      w.cand.requests += s.candidate.requests;
      w.cand.server_errors += s.candidate.server_errors;
      w.base.outcomes += s.baseline.outcomes;
      w.base.incorrect += s.baseline.incorrect;
      w.cand.outcomes += s.candidate.outcomes;
      w.cand.incorrect += s.candidate.incorrect;
      w.base.ttft.Merge(s.baseline.ttft);
      w.base.itl.Merge(s.baseline.itl);
      w.cand.ttft.Merge(s.candidate.ttft);
      w.cand.itl.Merge(s.candidate.itl);
      AddClasses(s.candidate.predictions, &classes.cand, &classes.m);
      AddClasses(s.baseline.predictions, &classes.base, &classes.n);
    }
    w.seconds = static_cast<int>(merged);
    w.each = seconds.last(merged);
    judge();
  }
  if (latency.empty()) judge();  // no seconds yet
  std::vector<CheckResult> picked = {Pick(latency), Pick(tail), Pick(errors)};
  for (const auto* results : {&accuracy, &predictions, &class_share, &ttft, &itl}) {
    if (!results->empty()) picked.push_back(Pick(*results));
  }
  return picked;
}

}  // namespace greylane
