// The canary judge on synthetic windows: an A/A pair never fails over
// thousands of windows; a median shift, a tail-only regression, a rise in
// variance and a higher error rate fail; small samples are inconclusive
// and say what they still need.
#include <QtTest>

#include <cmath>
#include <random>
#include <tuple>

#include "agent/analysis/canary_analysis.h"
#include "agent/analysis/canary_judge.h"

using namespace greylane;

namespace {
struct Shape {
  double median_ms = 5;
  double sigma = 0.4;     // of log-latency
  double slow_share = 0;  // requests given `slow_extra_ms` more
  double slow_extra_ms = 0;
  double error_rate = 0.005;
};

VersionWindowSample Window(std::mt19937_64& rng, uint64_t requests, const Shape& s) {
  VersionWindowSample w;
  std::lognormal_distribution<double> latency(std::log(s.median_ms * 1000), s.sigma);
  std::uniform_real_distribution<double> unit(0, 1);
  for (uint64_t i = 0; i < requests; ++i) {
    ++w.requests;
    if (unit(rng) < s.error_rate) {
      ++w.server_errors;
      continue;
    }
    double micros = latency(rng);
    if (unit(rng) < s.slow_share) micros += s.slow_extra_ms * 1000;
    w.latency.Add(micros);
  }
  return w;
}

// One sealed second as the agent's ticker makes it.
v1::MetricsFrame Frame(int64_t end_ms, const VersionWindowSample& baseline,
                       const VersionWindowSample& candidate, const std::string& version = "v2") {
  v1::MetricsFrame f;
  f.set_window_end_unix_ms(end_ms);
  for (const auto& [slot, name, sample] : {std::tuple{v1::BASELINE, std::string("v1"), &baseline},
                                           std::tuple{v1::CANDIDATE, version, &candidate}}) {
    v1::VersionWindow* w = f.add_versions();
    w->set_slot(slot);
    w->set_version(name);
    w->set_requests(sample->requests);
    w->set_server_errors(sample->server_errors);
    sample->latency.ToProto(w->mutable_latency());
  }
  return f;
}

CheckVerdict VerdictOf(const std::vector<CheckResult>& results, const std::string& check) {
  for (const CheckResult& r : results) {
    if (r.check == check) return r.verdict;
  }
  return CheckVerdict::kInconclusive;
}
}  // namespace

class TestCanaryJudge final : public QObject {
  Q_OBJECT

 private slots:
  void normalQuantiles() const {
    QVERIFY(std::abs(NormalQuantile(0.95) - 1.95996) < 1e-3);
    QVERIFY(std::abs(NormalQuantile(0.999) - 3.29053) < 1e-3);
  }

  // The same version on both sides, judged over 3000 windows of many
  // shapes: a 10 % canary at 30 to 300 requests/s for 30 s, an even split,
  // a late ramp (the candidate busier than the baseline) and a small
  // baseline: no check ever fails. Warnings are counted and printed.
  void anAAPairNeverFails() const {
    std::mt19937_64 rng(20261124);
    const AnalysisPolicy policy;
    int fails = 0, warns = 0, windows = 0;
    for (const auto& [baseline, candidate] :
         {std::pair{900u, 100u}, std::pair{2700u, 300u}, std::pair{8100u, 900u},
          std::pair{1500u, 1500u}, std::pair{100u, 100u}, std::pair{100u, 1000u}}) {
      for (int i = 0; i < 500; ++i, ++windows) {
        const auto results =
            JudgeCandidate(Window(rng, baseline, {}), Window(rng, candidate, {}), policy);
        for (const CheckResult& r : results) {
          fails += r.verdict == CheckVerdict::kFail;
          warns += r.verdict == CheckVerdict::kWarn;
          if (r.verdict == CheckVerdict::kFail) qWarning("A/A fail: %s", r.detail.c_str());
        }
      }
    }
    qInfo("A/A: %d windows x 3 checks: %d fails, %d warnings", windows, fails, warns);
    QCOMPARE(fails, 0);
  }

  // What a policy from outside cannot do: turn the intervals off.
  void aBadPolicyKeepsTheIntervals() const {
    std::mt19937_64 rng(7);
    AnalysisPolicy silly;
    silly.confidence = std::nan("");
    silly.min_requests = 0;
    for (int i = 0; i < 200; ++i) {
      for (const CheckResult& r :
           JudgeCandidate(Window(rng, 300, {}), Window(rng, 30, {}), silly)) {
        QVERIFY2(r.verdict != CheckVerdict::kFail, r.detail.c_str());
      }
    }
    // Nothing at all: inconclusive, not a NaN that passes.
    for (const CheckResult& r : JudgeCandidate({}, {}, silly))
      QCOMPARE(r.verdict, CheckVerdict::kInconclusive);
  }

  void aSlowerCandidateFails() const {
    std::mt19937_64 rng(1);
    const auto results = JudgeCandidate(Window(rng, 2700, {}), Window(rng, 300, {.median_ms = 7.5}),
                                        AnalysisPolicy{});
    QCOMPARE(VerdictOf(results, "latency"), CheckVerdict::kFail);
    QVERIFY2(results[0].lower > 1.25 && results[0].value > 1.4 && results[0].value < 1.6,
             results[0].detail.c_str());
    // The words carry every number: effect, interval, threshold, samples.
    QVERIFY2(results[0].detail.find("interval") != std::string::npos &&
                 results[0].detail.find("threshold 1.25x") != std::string::npos &&
                 results[0].detail.find(std::to_string(results[0].candidate_n) + " successful") !=
                     std::string::npos,
             results[0].detail.c_str());
  }

  // 3 % of the candidate's requests +500 ms: the median does not move.
  void aTailOnlyRegressionFails() const {
    std::mt19937_64 rng(2);
    const auto results = JudgeCandidate(
        Window(rng, 9000, {}), Window(rng, 1000, {.slow_share = 0.03, .slow_extra_ms = 500}),
        AnalysisPolicy{});
    QVERIFY(VerdictOf(results, "latency") != CheckVerdict::kFail);
    QCOMPARE(VerdictOf(results, "tail"), CheckVerdict::kFail);
    qInfo("tail: %s", results[1].detail.c_str());
  }

  // Same median, twice the spread (Kayenta #780: variability).
  void aRiseInVarianceFails() const {
    std::mt19937_64 rng(3);
    const auto results =
        JudgeCandidate(Window(rng, 9000, {}), Window(rng, 1000, {.sigma = 0.9}), AnalysisPolicy{});
    QVERIFY(VerdictOf(results, "latency") != CheckVerdict::kFail);
    QCOMPARE(VerdictOf(results, "tail"), CheckVerdict::kFail);
  }

  void moreErrorsFail() const {
    std::mt19937_64 rng(4);
    const auto results = JudgeCandidate(Window(rng, 5400, {}),
                                        Window(rng, 600, {.error_rate = 0.05}), AnalysisPolicy{});
    QCOMPARE(VerdictOf(results, "errors"), CheckVerdict::kFail);
    QCOMPARE(VerdictOf(results, "latency"), CheckVerdict::kPass);
    // A ceiling fails a candidate even when the baseline errs as much.
    AnalysisPolicy ceiling;
    ceiling.error_ceiling = 0.01;
    const auto both = JudgeCandidate(Window(rng, 5400, {.error_rate = 0.05}),
                                     Window(rng, 600, {.error_rate = 0.05}), ceiling);
    QCOMPARE(VerdictOf(both, "errors"), CheckVerdict::kFail);
    QVERIFY(both[2].detail.find("ceiling") != std::string::npos);
  }

  // Never a silent pass: too few requests say how many more are needed,
  // even when the few there are look terrible.
  void smallSamplesAreInconclusive() const {
    std::mt19937_64 rng(5);
    const auto results =
        JudgeCandidate(Window(rng, 900, {}), Window(rng, 42, {.median_ms = 50, .error_rate = 0.5}),
                       AnalysisPolicy{});
    for (const CheckResult& r : results) {
      QCOMPARE(r.verdict, CheckVerdict::kInconclusive);
      QCOMPARE(r.needed, 100ull);
    }
    QVERIFY2(results[2].detail == "inconclusive: 42 of 100 candidate requests in the window",
             results[2].detail.c_str());
    QCOMPARE(std::string(CheckVerdictName(results[0].verdict)), std::string("inconclusive"));
  }

  // Every second over a sliding window: an A/A minute never fails; a
  // slower candidate fails, and rolls back only when armed and only once
  // the failure has lasted `sustain_seconds`, with every number as evidence.
  void aSustainedFailureRollsBackWhenArmed() const {
    for (const bool armed : {false, true}) {
      std::mt19937_64 rng(6);
      CanaryAnalysis analysis({.policy = {}, .sustain_seconds = 3, .armed = armed});
      int64_t t = 1'800'000'000'000;
      for (int s = 0; s < 60; ++s, t += 1000) {
        const AnalysisVerdict v = analysis.Add(Frame(t, Window(rng, 270, {}), Window(rng, 30, {})));
        QVERIFY2(!v.rollback && v.failing_seconds == 0, v.evidence.c_str());
      }
      int first_fail = -1, rollback_at = -1;
      std::string evidence;
      for (int s = 0; s < 30 && rollback_at < 0; ++s, t += 1000) {
        const AnalysisVerdict v =
            analysis.Add(Frame(t, Window(rng, 270, {}), Window(rng, 30, {.median_ms = 10})));
        if (v.failing_seconds == 1) first_fail = s;
        if (v.rollback) rollback_at = s, evidence = v.evidence;
      }
      QVERIFY(first_fail >= 0);
      if (!armed) {
        QCOMPARE(rollback_at, -1);
        continue;
      }
      QCOMPARE(rollback_at, first_fail + 2);  // the third failing second in a row
      QVERIFY2(evidence.find("analysis: candidate 'v2' failed for 3 s") == 0 &&
                   evidence.find("interval") != std::string::npos,
               evidence.c_str());
      qInfo("2x slower candidate at 30 of 300 req/s: first fail after %d s, rollback after %d s",
            first_fail + 1, rollback_at + 1);
    }
  }

  // A new candidate starts its window anew; a warning is reported once per
  // 5 minutes, not every second.
  void warningsAreMergedAndANewCandidateStartsAfresh() const {
    CanaryAnalysis analysis({});
    auto errors = [](uint64_t requests, uint64_t failed) {
      VersionWindowSample w;
      w.requests = requests;
      w.server_errors = failed;
      w.latency.Add(5000, requests - failed);
      return w;
    };
    int64_t t = 1'800'000'000'000;
    int reported = 0;
    for (int s = 0; s < 400; ++s, t += 1000) {
      // 0.8 % against 0 %: surely worse, under the 1-point margin: a warning.
      const AnalysisVerdict v = analysis.Add(Frame(t, errors(9000, 0), errors(1000, 8)));
      QCOMPARE(v.checks[2].verdict, CheckVerdict::kWarn);
      reported += static_cast<int>(v.new_warnings.size());
    }
    QCOMPARE(reported, 2);  // at 0 s and after 5 minutes
    const AnalysisVerdict fresh = analysis.Add(Frame(t, errors(9000, 0), errors(50, 0), "v3"));
    QCOMPARE(fresh.candidate_version, std::string("v3"));
    QCOMPARE(fresh.checks[2].verdict, CheckVerdict::kInconclusive);  // 50 of 100, not 30 s of v2
  }
};

QTEST_GUILESS_MAIN(TestCanaryJudge)
#include "test_canary_judge.moc"
