#pragma once
// The candidate judged against the live baseline, every second, from the
// exact per-second sketches and counters the agent already keeps. Written
// here: no Debian library compares two log-bucketed sketches.
//
// Each check gives pass, warn, fail or inconclusive (with the sample still
// needed), and every figure behind it: the effect, its interval, the
// threshold, both sample counts and the window it was seen over, so an
// automatic rollback can be explained the next morning.
//
// Latency: the Hodges-Lehmann estimate of the candidate/baseline latency
// ratio (the median of all pairwise log-differences, exact from the two
// bucket histograms: bucket i against bucket j is a ratio of gamma^(j-i))
// with its Mann-Whitney interval; optionally the candidate's p99 against an
// absolute warning level and ceiling.
// Tail: requests slower than `latency_ratio` x the pooled p99 are counted
// per version; the ratio of the two rates with Wilson's interval on the
// candidate's share of those slow requests (the conditional test for two
// rare-event rates). A tail-only regression or a rise in variance.
// Errors: the difference of server-error rates with Newcombe's interval;
// client errors never count.
// Outcome quality, each off until the policy sets its threshold:
// accuracy: the rate of wrong answers among labelled outcomes
// (RecordOutcome), judged as errors are; predictions: the total variation
// distance between the two versions' shares of predicted classes, with a
// simultaneous (Bonferroni over classes) Newcombe interval per class, its
// lower end the sum of each class interval's distance from zero;
// class_share: the largest change of one class's share (a rejection rate).
// Generative answers, off until the policy sets their ratio: ttft and itl,
// the time to first token and between tokens, each judged as latency is.
//
// Testing every second is repeated testing. Three things keep an A/A pair
// quiet: (1) a check fails only when its interval excludes "no difference"
// AND the estimated effect is past the threshold; (2) every evaluation
// looks at windows of 1, 2, 4, ... seconds up to the policy's window, so a
// fault is seen in seconds, and the confidence is Bonferroni-corrected over
// those windows; (3) the evidence must come from at least
// `sustain_seconds` distinct seconds, so one stall or one burst of errors
// (which stays inside every overlapping window for as long as the window
// lasts) warns and never fails. tests/test_canary_judge.cpp measures the
// A/A rate this gives; the A/A soak measures it on real traffic.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/latency_sketch.h"

namespace greylane {

enum class CheckVerdict { kPass, kWarn, kFail, kInconclusive };
const char* CheckVerdictName(CheckVerdict verdict);  // pass | warn | fail | inconclusive

struct AnalysisPolicy {
  bool armed = false;           // false: judge and report, never roll back
  int window_seconds = 60;      // the longest window judged every second
  uint64_t min_requests = 50;   // per version, in a window
  double confidence = 0.999;    // of every decision, over all windows together
  int sustain_seconds = 2;      // a failure must hold without its worst (sustain - 1) seconds
  double latency_ratio = 1.25;  // HL ratio at or past this fails (when surely above 1)
  double latency_min_ms =
      1;  // and the shift is at least this many ms (0.02 vs 0.03 ms is no regression)
  double p99_warning_ms = 0;   // candidate p99 above this warns (0: off)
  double p99_ceiling_ms = 0;   // candidate p99 surely above this fails (0: off)
  double tail_ratio = 2;       // rate of slow requests, candidate over baseline
  double error_margin = 0.01;  // server-error rate difference that fails
  double error_ceiling = 0;    // candidate server-error rate surely above this fails (0: off)
  // Data-plane protection, kept with the policy so it is set, audited and
  // stored the same way.
  int breaker_failures = 5;           // consecutive server errors that open a breaker (0: off)
  int breaker_cooldown_seconds = 30;  // before an open breaker lets a trial through
  double candidate_rate_limit = 0;    // requests/s; excess goes to the baseline (0: none)
  double baseline_rate_limit = 0;     // requests/s; excess is refused (0: none)
  // Outcome quality (0: the check is off).
  double accuracy_margin = 0;        // accuracy drop (a share) that fails; needs RecordOutcome
  double prediction_divergence = 0;  // total variation between class shares that fails
  double class_share_margin = 0;     // change of one class's share that fails
  // Generative answers, judged as latency is (0: the check is off): the
  // candidate/baseline ratio of time to first token, and of the time
  // between tokens, that fails.
  double ttft_ratio = 0;
  double itl_ratio = 0;
  friend bool operator==(const AnalysisPolicy&, const AnalysisPolicy&) = default;
};

// Clamps a policy from outside into one the judge can use, or says why not.
// Empty: valid (`policy` may have been adjusted in harmless ways).
std::string ValidatePolicy(AnalysisPolicy* policy);

struct VersionWindowSample {
  LatencySketch latency;  // successful requests only
  uint64_t requests = 0;
  uint64_t server_errors = 0;  // client errors are not the version's fault
  uint64_t outcomes = 0;       // labelled by the caller
  uint64_t incorrect = 0;
  std::vector<uint64_t> predictions;  // answered rows per top class
  LatencySketch ttft;                 // generative streams: time to first token
  LatencySketch itl;                  // and between tokens
};

// One sealed second of both versions.
struct SecondSample {
  VersionWindowSample baseline, candidate;
};

struct CheckResult {
  std::string check;  // latency | tail | errors | accuracy | predictions | class_share | ttft | itl
  CheckVerdict verdict = CheckVerdict::kInconclusive;
  // The effect: a ratio (latency, tail), a difference of rates (errors,
  // accuracy: the drop), a share of predictions moved (predictions,
  // class_share). Past `threshold` is worse.
  double value = 0;
  double lower = 0;  // its interval
  double upper = 0;
  double threshold = 0;
  uint64_t baseline_n = 0;  // the samples the check used
  uint64_t candidate_n = 0;
  uint64_t needed = 0;       // per version, when inconclusive
  int window_seconds = 0;    // the window the verdict was reached over
  int evidence_seconds = 0;  // distinct seconds in it showing the effect
  std::string detail;        // one line in words, with every number
};

// `seconds` oldest first; only the last `policy.window_seconds` are used.
std::vector<CheckResult> JudgeCandidate(std::span<const SecondSample> seconds,
                                        const AnalysisPolicy& policy);

// The windows judged, shortest first: 1, 2, 4, ... and the policy's window.
std::vector<int> JudgedWindows(int window_seconds);

// The two-sided normal quantile for a confidence level (0.999 -> 3.29).
double NormalQuantile(double confidence);

}  // namespace greylane
