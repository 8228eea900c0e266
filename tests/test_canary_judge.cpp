// The canary judge on synthetic streams of seconds, judged every second as
// the agent does: an A/A pair never fails over an hour of evaluations; a
// median shift, a tail-only regression, a rise in variance and a higher
// error rate fail within seconds; one bad second only warns; small samples
// are inconclusive and say what they still need. The outcome-quality checks
// likewise: an A/A pair with labels and class predictions never fails; a
// less accurate candidate, a moved rejection rate and a changed class mix
// fail.
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
  // Outcome quality, drawn only when asked for (the other tests' random
  // streams stay as they were): each answer's class from these shares,
  // and `labelled` of the answers given an outcome, wrong at `wrong_rate`.
  std::vector<double> classes = {};
  double labelled = 0;
  double wrong_rate = 0.03;
};

// A bank's three answers: approve, review, reject.
const std::vector<double> kBank = {0.80, 0.12, 0.08};
const std::vector<double> kDigits = {0.10, 0.11, 0.09, 0.10, 0.10, 0.09, 0.10, 0.11, 0.10, 0.10};

VersionWindowSample Window(std::mt19937_64& rng, uint64_t requests, const Shape& s) {
  VersionWindowSample w;
  std::lognormal_distribution<double> latency(std::log(s.median_ms * 1000), s.sigma);
  std::uniform_real_distribution<double> unit(0, 1);
  std::discrete_distribution<size_t> pick(s.classes.begin(), s.classes.end());
  for (uint64_t i = 0; i < requests; ++i) {
    ++w.requests;
    if (unit(rng) < s.error_rate) {
      ++w.server_errors;
      continue;
    }
    double micros = latency(rng);
    if (unit(rng) < s.slow_share) micros += s.slow_extra_ms * 1000;
    w.latency.Add(micros);
    if (!s.classes.empty()) {
      const size_t c = pick(rng);
      if (w.predictions.size() <= c) w.predictions.resize(c + 1, 0);
      ++w.predictions[c];
    }
    if (s.labelled > 0 && unit(rng) < s.labelled) {
      ++w.outcomes;
      if (unit(rng) < s.wrong_rate) ++w.incorrect;
    }
  }
  return w;
}

// One sealed second as the agent's ticker makes it.
v1::MetricsFrame Frame(int64_t end_ms, const VersionWindowSample& baseline,
                       const VersionWindowSample& candidate, const std::string& version = "v2",
                       uint32_t candidate_basis_points = 0) {
  v1::MetricsFrame f;
  f.set_window_end_unix_ms(end_ms);
  f.set_candidate_basis_points(candidate_basis_points);
  for (const auto& [slot, name, sample] : {std::tuple{v1::BASELINE, std::string("v1"), &baseline},
                                           std::tuple{v1::CANDIDATE, version, &candidate}}) {
    v1::VersionWindow* w = f.add_versions();
    w->set_slot(slot);
    w->set_version(name);
    w->set_requests(sample->requests);
    w->set_server_errors(sample->server_errors);
    w->set_outcomes(sample->outcomes);
    w->set_incorrect(sample->incorrect);
    for (const uint64_t k : sample->predictions) w->add_predictions(k);
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

const CheckResult& Named(const std::vector<CheckResult>& results, const std::string& check) {
  for (const CheckResult& r : results) {
    if (r.check == check) return r;
  }
  return results.front();
}

// The seeds' bank gates: accuracy within 2 points, the class mix within
// 5 %, any one class (the rejection rate) within 1 point.
AnalysisPolicy QualityPolicy() {
  AnalysisPolicy p;
  p.accuracy_margin = 0.02;
  p.prediction_divergence = 0.05;
  p.class_share_margin = 0.01;
  return p;
}

// A stream of sealed seconds judged as the agent judges them.
struct Stream {
  std::mt19937_64 rng;
  AnalysisPolicy policy;
  std::vector<SecondSample> seconds;

  std::vector<CheckResult> Next(uint64_t base_rps, uint64_t cand_rps, const Shape& base,
                                const Shape& cand) {
    seconds.push_back({Window(rng, base_rps, base), Window(rng, cand_rps, cand)});
    if (seconds.size() > static_cast<size_t>(policy.window_seconds)) seconds.erase(seconds.begin());
    return JudgeCandidate(seconds, policy);
  }
  // Seconds until the check fails (or -1 within `limit`).
  int SecondsToFail(const std::string& check, int limit, uint64_t base_rps, uint64_t cand_rps,
                    const Shape& cand, std::string* detail = nullptr, const Shape& base = {}) {
    for (int s = 1; s <= limit; ++s) {
      const auto results = Next(base_rps, cand_rps, base, cand);
      if (VerdictOf(results, check) == CheckVerdict::kFail) {
        if (detail) *detail = Named(results, check).detail;
        return s;
      }
    }
    return -1;
  }
};
}  // namespace

class TestCanaryJudge final : public QObject {
  Q_OBJECT

 private slots:
  void normalQuantiles() const {
    QVERIFY(std::abs(NormalQuantile(0.95) - 1.95996) < 1e-3);
    QVERIFY(std::abs(NormalQuantile(0.999) - 3.29053) < 1e-3);
    QCOMPARE(JudgedWindows(30), (std::vector<int>{1, 2, 4, 8, 16, 30}));
    QCOMPARE(JudgedWindows(60), (std::vector<int>{1, 2, 4, 8, 16, 32, 60}));
    QCOMPARE(JudgedWindows(1), (std::vector<int>{1}));
  }

  // The same version on both sides, judged every second for 10 minutes in
  // each of six shapes: a 10 % canary at 200 and 1000 requests/s, a 50/50
  // split, a candidate busier than the baseline, light traffic and a small
  // baseline: no check ever fails. Warnings are counted and printed.
  void anAAPairNeverFails() const {
    int fails = 0, warns = 0, evaluations = 0;
    uint64_t seed = 20261124;
    for (const auto& [base_rps, cand_rps] :
         {std::pair{180u, 20u}, std::pair{900u, 100u}, std::pair{100u, 100u}, std::pair{20u, 180u},
          std::pair{45u, 5u}, std::pair{270u, 30u}}) {
      Stream stream{std::mt19937_64(seed++), {}, {}};
      for (int s = 0; s < 600; ++s, ++evaluations) {
        for (const CheckResult& r : stream.Next(base_rps, cand_rps, {}, {})) {
          fails += r.verdict == CheckVerdict::kFail;
          warns += r.verdict == CheckVerdict::kWarn;
          if (r.verdict == CheckVerdict::kFail) qWarning("A/A fail: %s", r.detail.c_str());
        }
      }
    }
    qInfo("A/A: %d evaluations x 3 checks: %d fails, %d warnings", evaluations, fails, warns);
    QCOMPARE(fails, 0);
  }

  // The quality checks on, the same model on both sides (labels on half the
  // answers, 3 % wrong; a bank's three classes and ten digits), judged every
  // second for 10 minutes in four shapes: none of them ever fails.
  void anAAPairNeverFailsOnQuality() const {
    int fails = 0, warns = 0, evaluations = 0;
    qint64 judged_ns = 0;
    uint64_t seed = 20261125;
    for (const auto& [base_rps, cand_rps, classes] :
         {std::tuple{180u, 20u, &kBank}, std::tuple{900u, 100u, &kDigits},
          std::tuple{100u, 100u, &kBank}, std::tuple{270u, 30u, &kDigits}}) {
      Stream stream{std::mt19937_64(seed++), QualityPolicy(), {}};
      const Shape same{.classes = *classes, .labelled = 0.5};
      for (int s = 0; s < 600; ++s, ++evaluations) {
        QElapsedTimer timer;
        timer.start();
        const auto results = stream.Next(base_rps, cand_rps, same, same);
        judged_ns += timer.nsecsElapsed();
        for (const CheckResult& r : results) {
          if (r.check != "accuracy" && r.check != "predictions" && r.check != "class_share")
            continue;
          fails += r.verdict == CheckVerdict::kFail;
          warns += r.verdict == CheckVerdict::kWarn;
          if (r.verdict == CheckVerdict::kFail) qWarning("A/A fail: %s", r.detail.c_str());
        }
      }
    }
    qInfo(
        "A/A quality: %d evaluations x 3 checks: %d fails, %d warnings; %.2f ms an evaluation "
        "(sampling included)",
        evaluations, fails, warns, static_cast<double>(judged_ns) / 1e6 / evaluations);
    QCOMPARE(fails, 0);
  }

  // Off by default: only the three data-plane checks are judged.
  void qualityChecksAreOffUntilThePolicySetsThem() const {
    Stream plain{std::mt19937_64(7), {}, {}};
    QCOMPARE(plain.Next(100, 100, {}, {}).size(), size_t{3});
    Stream quality{std::mt19937_64(7), QualityPolicy(), {}};
    const auto results = quality.Next(100, 100, {}, {});
    QCOMPARE(results.size(), size_t{6});
    // No labels, no class scores: inconclusive, saying what is missing.
    QCOMPARE(Named(results, "accuracy").verdict, CheckVerdict::kInconclusive);
    QVERIFY2(
        Named(results, "accuracy").detail ==
            "inconclusive: 0 of 50 candidate labelled outcomes (RecordOutcome) in the last 1 s",
        Named(results, "accuracy").detail.c_str());
    QCOMPARE(Named(results, "predictions").verdict, CheckVerdict::kInconclusive);
    AnalysisPolicy bad = QualityPolicy();
    bad.accuracy_margin = 1.5;
    QVERIFY(ValidatePolicy(&bad).find("accuracy_margin") != std::string::npos);
    bad = QualityPolicy();
    bad.class_share_margin = -0.1;
    QVERIFY(ValidatePolicy(&bad).find("class_share_margin") != std::string::npos);
  }

  // 10 % of the candidate's answers wrong against 3 % (labels on every
  // answer, 20 a second): accuracy fails within a minute, with both
  // accuracies and their intervals in the evidence.
  void aLessAccurateCandidateFails() const {
    Stream stream{std::mt19937_64(11), QualityPolicy(), {}};
    std::string detail;
    const Shape labelled{.classes = kBank, .labelled = 1};
    Shape worse = labelled;
    worse.wrong_rate = 0.10;
    int seconds = -1;
    for (int s = 1; s <= 60 && seconds < 0; ++s) {
      const auto results = stream.Next(180, 20, labelled, worse);
      if (VerdictOf(results, "accuracy") == CheckVerdict::kFail) {
        seconds = s;
        detail = Named(results, "accuracy").detail;
      }
    }
    qInfo("accuracy 90 %% against 97 %% failed after %d s: %s", seconds, detail.c_str());
    QVERIFY(seconds > 0);
    QVERIFY2(detail.find("candidate accuracy") != std::string::npos &&
                 detail.find("interval") != std::string::npos,
             detail.c_str());
  }

  // The bank's rejection rate 8 % -> 11 % (+3 points, margin 1): class_share
  // fails; that is 3 % of answers moved, under the 5 % divergence, so
  // predictions does not.
  void aMovedRejectionRateFailsClassShare() const {
    Stream stream{std::mt19937_64(13), QualityPolicy(), {}};
    const Shape base{.classes = kBank};
    const Shape cand{.classes = {0.77, 0.12, 0.11}};
    int seconds = -1;
    std::vector<CheckResult> results;
    for (int s = 1; s <= 60 && seconds < 0; ++s) {
      results = stream.Next(500, 500, base, cand);
      if (VerdictOf(results, "class_share") == CheckVerdict::kFail) seconds = s;
    }
    qInfo("rejection rate +3 points failed after %d s: %s", seconds,
          Named(results, "class_share").detail.c_str());
    QVERIFY(seconds > 0);
    QVERIFY2(Named(results, "class_share").detail.rfind("class 2 is", 0) == 0,
             Named(results, "class_share").detail.c_str());
    QVERIFY(VerdictOf(results, "predictions") != CheckVerdict::kFail);
  }

  // A tenth of the digits answered as the next digit: predictions fails.
  void aChangedClassMixFailsPredictions() const {
    Stream stream{std::mt19937_64(17), QualityPolicy(), {}};
    std::vector<double> moved = kDigits;
    for (size_t c = 0; c < moved.size(); ++c) moved[c] = 0.85 * kDigits[c] + 0.15 * (c == 3);
    std::string detail;
    const int seconds = stream.SecondsToFail("predictions", 60, 180, 20, {.classes = moved},
                                             &detail, {.classes = kDigits});
    qInfo("class mix moved 15 %% failed after %d s: %s", seconds, detail.c_str());
    QVERIFY(seconds > 0);
  }

  // The hostile review's false rollback: inputs of one class while the
  // candidate had no traffic, then a 50 % split with the usual mix. The
  // versions answer alike in every second; only the weighting changed.
  void aSplitChangeWithANewInputMixIsNoFailure() const {
    CanaryAnalysis analysis(QualityPolicy());
    std::mt19937_64 rng(19);
    std::vector<double> sevens(10, 0.0);
    sevens[7] = 1;
    int64_t t = 1'000'000;
    for (int s = 0; s < 20; ++s, t += 1000) {
      analysis.Add(Frame(t, Window(rng, 100, {.classes = sevens, .labelled = 1}),
                         Window(rng, 0, {}), "v2", 0));
    }
    for (int s = 0; s < 30; ++s, t += 1000) {
      const Shape digits{.classes = kDigits, .labelled = 1};
      const AnalysisVerdict v =
          analysis.Add(Frame(t, Window(rng, 50, digits), Window(rng, 50, digits), "v2", 5000));
      for (const CheckResult& r : v.checks)
        QVERIFY2(r.verdict != CheckVerdict::kFail, r.detail.c_str());
    }
  }

  // What a policy from outside cannot do: turn the intervals off.
  void aBadPolicyIsRefusedAndCannotTurnTheIntervalsOff() const {
    AnalysisPolicy silly;
    silly.confidence = std::nan("");
    QVERIFY(ValidatePolicy(&silly).find("confidence") != std::string::npos);
    silly = {};
    silly.latency_ratio = 0.5;
    QVERIFY(ValidatePolicy(&silly).find("latency_ratio") != std::string::npos);
    silly = {};
    silly.sustain_seconds = 70;
    QVERIFY(ValidatePolicy(&silly).find("sustain_seconds") != std::string::npos);
    silly = {};
    silly.p99_warning_ms = 900;
    silly.p99_ceiling_ms = 800;
    QVERIFY(!ValidatePolicy(&silly).empty());
    AnalysisPolicy fine;
    QCOMPARE(ValidatePolicy(&fine), std::string());

    // Judged anyway (by the defaults), a silly policy fails nothing under A/A.
    silly = {};
    silly.confidence = 0.2;
    silly.min_requests = 0;
    Stream stream{std::mt19937_64(7), silly, {}};
    for (int i = 0; i < 120; ++i) {
      for (const CheckResult& r : stream.Next(90, 10, {}, {}))
        QVERIFY2(r.verdict != CheckVerdict::kFail, r.detail.c_str());
    }
    // Nothing at all: inconclusive, not a NaN that passes.
    for (const CheckResult& r : JudgeCandidate({}, silly))
      QCOMPARE(r.verdict, CheckVerdict::kInconclusive);
  }

  // 30 s of A/A, then the candidate 1.5x slower: fails within seconds,
  // with every number in the words.
  void aSlowerCandidateFails() const {
    Stream stream{std::mt19937_64(1), {}, {}};
    for (int s = 0; s < 30; ++s) stream.Next(180, 20, {}, {});
    std::string detail;
    const int after = stream.SecondsToFail("latency", 30, 180, 20, {.median_ms = 7.5}, &detail);
    qInfo("1.5x slower at 20 of 200 req/s: latency fails after %d s: %s", after, detail.c_str());
    QVERIFY(after > 0 && after <= 5);
    for (const char* words : {"interval", "threshold 1.25x", "candidate and", "over the last"})
      QVERIFY2(detail.find(words) != std::string::npos, detail.c_str());
  }

  // 1 % of the candidate's requests +500 ms: the median does not move, the
  // tail check fails once the slow requests are more than chance.
  void aTailOnlyRegressionFails() const {
    Stream stream{std::mt19937_64(2), {}, {}};
    for (int s = 0; s < 30; ++s) stream.Next(180, 20, {}, {});
    std::string detail;
    const Shape tail{.slow_share = 0.01, .slow_extra_ms = 500};
    const int after = stream.SecondsToFail("tail", 120, 180, 20, tail, &detail);
    qInfo("1 %% of requests +500 ms at 20 of 200 req/s: tail fails after %d s: %s", after,
          detail.c_str());
    // 0.2 slow requests a second: tens of seconds before they are surely more than chance.
    QVERIFY(after > 0 && after <= 60);
    QVERIFY(VerdictOf(JudgeCandidate(stream.seconds, {}), "latency") != CheckVerdict::kFail);
  }

  // 30 % of the candidate's requests +150 ms: more than 1 % of all traffic,
  // which once moved a pooled p99 into the slow requests and hid them.
  void aPartialSlowdownFails() const {
    Stream stream{std::mt19937_64(9), {}, {}};
    for (int s = 0; s < 30; ++s) stream.Next(180, 20, {}, {});
    const int after =
        stream.SecondsToFail("tail", 30, 180, 20, {.slow_share = 0.3, .slow_extra_ms = 150});
    qInfo("30 %% of requests +150 ms at 20 of 200 req/s: tail fails after %d s", after);
    QVERIFY(after > 0 && after <= 10);
  }

  // Same median, twice the spread (Kayenta #780: variability).
  void aRiseInVarianceFails() const {
    Stream stream{std::mt19937_64(3), {}, {}};
    const int after = stream.SecondsToFail("tail", 60, 180, 20, {.sigma = 0.8});
    qInfo("twice the spread at 20 of 200 req/s: tail fails after %d s", after);
    QVERIFY(after > 0);
    QVERIFY(VerdictOf(JudgeCandidate(stream.seconds, {}), "latency") != CheckVerdict::kFail);
  }

  void moreErrorsFail() const {
    // Against a baseline without errors (the demo's), and one with 0.5 %.
    for (const double baseline_rate : {0.0, 0.005}) {
      Stream stream{std::mt19937_64(4), {}, {}};
      const Shape base{.error_rate = baseline_rate};
      for (int s = 0; s < 30; ++s) stream.Next(180, 20, base, base);
      int after = -1;
      std::string detail;
      for (int s = 1; s <= 60 && after < 0; ++s) {
        const auto results = stream.Next(180, 20, base, {.error_rate = 0.05});
        if (VerdictOf(results, "errors") == CheckVerdict::kFail)
          after = s, detail = Named(results, "errors").detail;
      }
      qInfo("5 %% errors against %.1f %% at 20 of 200 req/s: errors fail after %d s: %s",
            baseline_rate * 100, after, detail.c_str());
      QVERIFY(after > 0 && after <= (baseline_rate == 0 ? 10 : 30));
      QVERIFY(VerdictOf(JudgeCandidate(stream.seconds, {}), "latency") != CheckVerdict::kFail);
    }
    // A ceiling fails a candidate even when the baseline errs as much.
    Stream both{std::mt19937_64(5), {.error_ceiling = 0.01}, {}};
    std::vector<CheckResult> results;
    for (int s = 0; s < 30; ++s)
      results = both.Next(180, 20, {.error_rate = 0.05}, {.error_rate = 0.05});
    QCOMPARE(VerdictOf(results, "errors"), CheckVerdict::kFail);
    QVERIFY(Named(results, "errors").detail.find("ceiling") != std::string::npos);
  }

  // One stalled second (every candidate request +300 ms) or one burst of
  // errors stays in every window for as long as the window lasts: it
  // warns, and never fails, because its evidence is one second.
  void oneBadSecondOnlyWarns() const {
    for (const Shape& bad :
         {Shape{.slow_share = 1, .slow_extra_ms = 300}, Shape{.error_rate = 0.5}}) {
      Stream stream{std::mt19937_64(8), {}, {}};
      for (int s = 0; s < 30; ++s) stream.Next(180, 20, {}, {});
      bool warned = false;
      for (int s = 0; s < 40; ++s) {
        for (const CheckResult& r : stream.Next(180, 20, {}, s == 0 ? bad : Shape{})) {
          QVERIFY2(r.verdict != CheckVerdict::kFail, r.detail.c_str());
          warned = warned || r.verdict == CheckVerdict::kWarn;
        }
      }
      QVERIFY(warned);
    }
  }

  // Never a silent pass: too few requests say how many more are needed,
  // even when the few there are look terrible.
  void smallSamplesAreInconclusive() const {
    Stream stream{std::mt19937_64(5), {}, {}};
    std::vector<CheckResult> results;
    for (int s = 0; s < 2; ++s)
      results = stream.Next(450, 21, {}, {.median_ms = 50, .error_rate = 0.5});
    for (const CheckResult& r : results) {
      QCOMPARE(r.verdict, CheckVerdict::kInconclusive);
      QCOMPARE(r.needed, 50ull);
    }
    QVERIFY2(Named(results, "errors").detail ==
                 "inconclusive: 42 of 50 candidate requests in the last 2 s",
             Named(results, "errors").detail.c_str());
    QCOMPARE(std::string(CheckVerdictName(results[0].verdict)), std::string("inconclusive"));
  }

  // Every second: an A/A minute never fails; a slower candidate fails, and
  // rolls back only when armed, with every number as evidence.
  void aFailureRollsBackWhenArmed() const {
    for (const bool armed : {false, true}) {
      std::mt19937_64 rng(6);
      CanaryAnalysis analysis(AnalysisPolicy{.armed = armed});
      int64_t t = 1'800'000'000'000;
      for (int s = 0; s < 60; ++s, t += 1000) {
        const AnalysisVerdict v = analysis.Add(Frame(t, Window(rng, 180, {}), Window(rng, 20, {})));
        QVERIFY2(!v.rollback && v.failing_seconds == 0, v.evidence.c_str());
      }
      int rollback_at = -1, failing = 0;
      std::string evidence;
      for (int s = 0; s < 30 && rollback_at < 0; ++s, t += 1000) {
        const AnalysisVerdict v =
            analysis.Add(Frame(t, Window(rng, 180, {}), Window(rng, 20, {.median_ms = 10})));
        failing = std::max(failing, v.failing_seconds);
        if (v.rollback) rollback_at = s + 1, evidence = v.evidence;
      }
      QVERIFY(failing > 0);
      if (!armed) {
        QCOMPARE(rollback_at, -1);
        continue;
      }
      QVERIFY2(evidence.find("analysis: candidate 'v2' failed:") == 0 &&
                   evidence.find("interval") != std::string::npos,
               evidence.c_str());
      qInfo("2x slower candidate at 20 of 200 req/s: rollback after %d s", rollback_at);
      QVERIFY(rollback_at <= 5);
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
      if (s > 0) QCOMPARE(v.checks[2].verdict, CheckVerdict::kWarn);
      reported += static_cast<int>(v.new_warnings.size());
    }
    QCOMPARE(reported, 2);  // at the start and after 5 minutes
    const AnalysisVerdict fresh = analysis.Add(Frame(t, errors(9000, 0), errors(40, 0), "v3"));
    QCOMPARE(fresh.candidate_version, std::string("v3"));
    QCOMPARE(fresh.checks[2].verdict, CheckVerdict::kInconclusive);  // 40 of 50, not 30 s of v2
  }
};

QTEST_GUILESS_MAIN(TestCanaryJudge)
#include "test_canary_judge.moc"
