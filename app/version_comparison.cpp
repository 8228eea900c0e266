#include "app/version_comparison.h"

#include <QObject>

namespace greylane {

QString RelativeDiff(double value, double reference) {
  if (reference <= 0) return {};
  const double percent = (value / reference - 1) * 100;
  return QStringLiteral("%1%2 %").arg(percent >= 0 ? "+" : "").arg(percent, 0, 'f', 0);
}

CandidateComparison CompareCandidate(const WindowSummary& baseline, const WindowSummary& candidate,
                                     const ComparisonRule& rule) {
  CandidateComparison c;
  QStringList reasons;
  // Errors need no latency: a candidate that only fails is the worst case.
  if (candidate.requests > 0 &&
      candidate.server_error_rate > baseline.server_error_rate + rule.error_margin) {
    reasons << QObject::tr("server errors %1 % against %2 %")
                   .arg(candidate.server_error_rate * 100, 0, 'f', 2)
                   .arg(baseline.server_error_rate * 100, 0, 'f', 2);
  }
  if (baseline.successes > 0 && candidate.successes > 0) {
    c.p50_diff = RelativeDiff(candidate.p50_ms, baseline.p50_ms);
    c.p99_diff = RelativeDiff(candidate.p99_ms, baseline.p99_ms);
    if (baseline.successes < rule.min_successes || candidate.successes < rule.min_successes) {
      if (reasons.isEmpty()) {
        c.why = QObject::tr("too few requests to judge latency (%1 and %2 successful, %3 needed)")
                    .arg(baseline.successes)
                    .arg(candidate.successes)
                    .arg(rule.min_successes);
      }
    } else {
      for (const auto& [name, value, reference] :
           {std::tuple{"p50", candidate.p50_ms, baseline.p50_ms},
            std::tuple{"p99", candidate.p99_ms, baseline.p99_ms}}) {
        if (value > reference * (1 + rule.min_relative) &&
            value - reference >= rule.min_absolute_ms) {
          reasons << QObject::tr("%1 %2 ms against %3 ms")
                         .arg(QLatin1String(name))
                         .arg(value, 0, 'f', 2)
                         .arg(reference, 0, 'f', 2);
        }
      }
    }
  }
  c.worse = !reasons.isEmpty();
  if (c.worse) c.why = reasons.join(QStringLiteral("; "));
  return c;
}

}  // namespace greylane
