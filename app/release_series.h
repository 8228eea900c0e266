#pragma once
// What the release charts draw, computed from the history and the trail
// without widgets (so it is tested without a display): per version the
// p99, p50, requests/s and error-% series over the visible window, and one
// marker per change in force. x is seconds before the newest point.
//
// A second with no data is a gap (a NaN point), never a line bridging it:
// a frozen agent sends no frames, and a version whose every request failed
// has no latency. Drawing either as a steady line would lie.
#include <QList>
#include <QPointF>
#include <QString>

#include <array>
#include <string>
#include <vector>

#include "app/metrics_history.h"
#include "common/audit_record.h"

namespace greylane {

struct VersionSeries {
  QList<QPointF> p99, p50, rate, errors;
};

struct ChangeMarker {
  enum class Kind { Rollback, Promote, Split, Load, Unhealthy, Healthy };
  double x = 0;
  QString label;
  Kind kind = Kind::Split;
};

struct ReleaseSeries {
  int64_t newest_unix_ms = 0;             // x = 0
  std::array<VersionSeries, 2> versions;  // baseline, candidate
  QList<ChangeMarker> markers;
};

// Frames end on whole seconds; a step over this is missing data.
inline constexpr int64_t kGapAfterMs = 1500;

ReleaseSeries BuildReleaseSeries(const MetricsHistory& history,
                                 const std::array<std::string, 2>& versions,
                                 const std::vector<AuditRecord>& trail, int window_seconds);

}  // namespace greylane
