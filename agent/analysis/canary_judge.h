#pragma once
// The candidate judged against the live baseline over one sliding window,
// from the exact sketches and counters the agent already keeps. Written
// here: no Debian library compares two log-bucketed sketches.
//
// Each check gives pass, warn, fail or inconclusive (with the sample still
// needed), and every figure behind it: the effect, its interval, the
// threshold and both sample counts, so an automatic rollback can be
// explained the next morning.
//
// Latency shift: the Hodges-Lehmann estimate of the candidate/baseline
// latency ratio (the median of all pairwise log-differences, computed
// exactly from the two bucket histograms: bucket i against bucket j is a
// ratio of gamma^(j-i)) with its Mann-Whitney confidence interval.
// Tail: the shares of each version's requests slower than the p99 of both
// pooled (equal by chance alone under A/A), their difference with
// Newcombe's interval: a tail-only regression or a rise in variance.
// Errors: the difference of server-error rates with Newcombe's interval;
// client errors never count.
//
// Repeated testing every second: a check fails only when its whole
// interval (at 99.9 % by default) lies beyond an effect-size threshold, not
// merely beyond "no difference", and the agent acts only on a failure
// sustained for several evaluations. tests/test_canary_judge.cpp measures
// the A/A false-failure rate this gives over thousands of windows.
#include <cstdint>
#include <string>
#include <vector>

#include "common/latency_sketch.h"

namespace greylane {

enum class CheckVerdict { kPass, kWarn, kFail, kInconclusive };
const char* CheckVerdictName(CheckVerdict verdict);  // pass | warn | fail | inconclusive

struct AnalysisPolicy {
  int window_seconds = 30;        // the sliding window judged every second
  uint64_t min_requests = 100;    // per version, in the window
  double confidence = 0.999;      // of every interval
  double latency_ratio = 1.25;    // fail when the whole ratio interval is above
  double latency_ceiling_ms = 0;  // and/or the candidate's p50 above this (0: off)
  double tail_margin = 0.01;      // share above the pooled p99: candidate's minus baseline's
  double error_margin = 0.01;     // fail when the rate difference is surely above this
  double error_ceiling = 0;       // and/or the candidate's rate surely above this (0: off)
};

struct VersionWindowSample {
  LatencySketch latency;  // successful requests only
  uint64_t requests = 0;
  uint64_t server_errors = 0;  // client errors are not the version's fault
};

struct CheckResult {
  std::string check;  // latency | tail | errors
  CheckVerdict verdict = CheckVerdict::kInconclusive;
  double value = 0;  // the effect: a ratio (latency) or a difference of shares (tail, errors)
  double lower = 0;  // its interval
  double upper = 0;
  double threshold = 0;
  uint64_t baseline_n = 0;  // the samples the check used
  uint64_t candidate_n = 0;
  uint64_t needed = 0;  // per version, when inconclusive
  std::string detail;   // one line in words, with every number
};

std::vector<CheckResult> JudgeCandidate(const VersionWindowSample& baseline,
                                        const VersionWindowSample& candidate,
                                        const AnalysisPolicy& policy);

// The two-sided normal quantile for a confidence level (0.999 -> 3.29).
double NormalQuantile(double confidence);

}  // namespace greylane
