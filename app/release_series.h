#pragma once
// What the release charts draw, computed from the history and the trail
// without widgets (so it is tested without a display): per version the
// p99, p50, requests/s and error-% series over the visible window, and one
// marker per change in force. x is seconds before the newest point (live
// seconds), or minutes before the span's end (the agent's minute history).
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
#include "app/minute_history.h"
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
  double seconds_per_x = 1;               // 60: x counts minutes; 3600: hours
  double point_seconds = 1;               // how far apart points are
  std::array<VersionSeries, 2> versions;  // baseline, candidate
  QList<ChangeMarker> markers;
};

// Frames end on whole seconds; a step over this is missing data.
inline constexpr int64_t kGapAfterMs = 1500;
// Minutes end on whole minutes; a step over this is a minute with no data.
inline constexpr int64_t kMinuteGapAfterMs = 90'000;

ReleaseSeries BuildReleaseSeries(const MetricsHistory& history,
                                 const std::array<std::string, 2>& versions,
                                 const std::vector<AuditRecord>& trail, int window_seconds,
                                 ChartedTime charted = ChartedTime::kRequest);

// The long windows: minutes ending in (from, to], x in minutes (or hours,
// seconds_per_x 3600) before `to`. A minute's rate is its requests over the
// seconds it holds data for.
ReleaseSeries BuildMinuteSeries(const MinuteHistory& history,
                                const std::array<std::string, 2>& versions,
                                const std::vector<AuditRecord>& trail, int64_t from_unix_ms,
                                int64_t to_unix_ms, double seconds_per_x = 60,
                                ChartedTime charted = ChartedTime::kRequest);

}  // namespace greylane
