// The canary judge on synthetic windows: an A/A pair never fails over
// thousands of windows; a median shift, a tail-only regression, a rise in
// variance and a higher error rate fail; small samples are inconclusive
// and say what they still need.
#include <QtTest>

#include <random>

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

  // The same version on both sides, judged over 3000 windows of several
  // sizes (a 10 % candidate share at 30 to 300 requests/s for 30 s): no
  // check ever fails. Warnings are counted and printed, not judged.
  void anAAPairNeverFails() const {
    std::mt19937_64 rng(20261124);
    const AnalysisPolicy policy;
    int fails = 0, warns = 0, windows = 0;
    for (const uint64_t candidate : {100u, 300u, 900u}) {
      for (int i = 0; i < 1000; ++i, ++windows) {
        const auto results =
            JudgeCandidate(Window(rng, candidate * 9, {}), Window(rng, candidate, {}), policy);
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
};

QTEST_GUILESS_MAIN(TestCanaryJudge)
#include "test_canary_judge.moc"
