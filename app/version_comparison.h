#pragma once
// The candidate against the baseline over the cards' window, as the console
// colours it until the agent's automatic analysis replaces it. A latency
// difference is called worse only when it is large both relatively and
// absolutely and both sides have enough successful requests: "p99 +146 %"
// on 27 µs at 10 requests/s is noise, not a regression.
#include <QString>

#include "app/metrics_history.h"

namespace greylane {

struct ComparisonRule {
  double min_relative = 0.10;    // +10 %
  double min_absolute_ms = 1.0;  // and +1 ms
  uint64_t min_successes = 100;  // per version, in the window
  double error_margin = 0.001;   // +0.1 percentage points of server errors
};

struct CandidateComparison {
  QString p50_diff;  // "+18 %", "" when not comparable
  QString p99_diff;
  bool worse = false;
  QString why;  // plain: what made it worse, or why it is not judged
};

CandidateComparison CompareCandidate(const WindowSummary& baseline, const WindowSummary& candidate,
                                     const ComparisonRule& rule = {});

// "+18 %" / "-3 %" of value against reference; "" when the reference is 0.
QString RelativeDiff(double value, double reference);

}  // namespace greylane
