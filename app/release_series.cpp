#include "app/release_series.h"

#include <QObject>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <tuple>

#include "common/audit_vocabulary.h"
#include "common/basis_points.h"

namespace greylane {
namespace {
constexpr double kGap = std::numeric_limits<double>::quiet_NaN();

QString Percent(uint32_t basis_points) {
  return QString::fromStdString(FormatBasisPoints(basis_points));
}
}  // namespace

namespace {
uint64_t Successes(const MetricsPoint& p) {
  return p.buckets.empty() ? 0 : 1;
}
uint64_t Successes(const MinutePoint& p) {
  return p.successes;
}
double Seconds(const MetricsPoint&) {
  return 1;
}
double Seconds(const MinutePoint& p) {
  return p.seconds;
}

// Appends points [first, last) to `v`, with a NaN gap wherever
// consecutive points are further apart than `gap_ms`.
// The p50 and p99 of the time charted, and whether the point has one.
template <typename Point>
std::tuple<double, double, bool> Times(const Point& p, ChartedTime charted) {
  switch (charted) {
    case ChartedTime::kFirstToken:
      return {p.ttft_p50_ms, p.ttft_p99_ms, p.generative && p.ttft_p50_ms > 0};
    case ChartedTime::kBetweenTokens:
      return {p.itl_p50_ms, p.itl_p99_ms, p.generative && p.itl_p50_ms > 0};
    default:
      // A latency exists only with successful requests: none is a gap, not 0.
      return {p.p50_ms, p.p99_ms, Successes(p) > 0};
  }
}

template <typename It>
void AppendPoints(It first, It last, int64_t newest, double ms_per_x, int64_t gap_ms,
                  ChartedTime charted, VersionSeries& v) {
  const auto n = static_cast<qsizetype>(std::distance(first, last));
  for (auto* list : {&v.p99, &v.p50, &v.rate, &v.errors}) list->reserve(n + 8);
  int64_t previous = 0;
  for (auto it = first; it != last; ++it) {
    const double x = static_cast<double>(it->end_unix_ms - newest) / ms_per_x;
    if (previous && it->end_unix_ms - previous > gap_ms) {
      const double mid = static_cast<double>((previous + it->end_unix_ms) / 2 - newest) / ms_per_x;
      for (auto* list : {&v.p99, &v.p50, &v.rate, &v.errors}) list->append({mid, kGap});
    }
    previous = it->end_unix_ms;
    v.rate.append({x, static_cast<double>(it->requests) / Seconds(*it)});
    v.errors.append(
        {x, it->requests ? 100.0 * static_cast<double>(it->server_errors) / it->requests : kGap});
    const auto [p50, p99, has] = Times(*it, charted);
    v.p99.append({x, has ? p99 : kGap});
    v.p50.append({x, has ? p50 : kGap});
  }
}

void AppendMarkers(const std::vector<AuditRecord>& trail, int64_t from, int64_t newest,
                   double ms_per_x, ReleaseSeries& out) {
  for (auto it = trail.rbegin(); it != trail.rend(); ++it) {
    if (it->time_unix_ms < from) break;
    if (it->time_unix_ms > newest) continue;
    if (ParseAuditOutcome(it->outcome) != AuditOutcome::kOk) continue;
    ChangeMarker marker;
    marker.x = static_cast<double>(it->time_unix_ms - newest) / ms_per_x;
    const std::optional<AuditAction> action = ParseAuditAction(it->action);
    if (action == AuditAction::kRollback) {
      marker.kind = ChangeMarker::Kind::Rollback;
      marker.label = QObject::tr("rollback → %1").arg(Percent(it->after.candidate_basis_points));
    } else if (action == AuditAction::kPromote) {
      marker.kind = ChangeMarker::Kind::Promote;
      marker.label =
          QObject::tr("promote %1").arg(QString::fromStdString(it->after.baseline_version));
    } else if (action == AuditAction::kSetSplit) {
      marker.kind = ChangeMarker::Kind::Split;
      marker.label = QObject::tr("→ %1").arg(Percent(it->after.candidate_basis_points));
    } else if (action == AuditAction::kLoadCandidate) {
      marker.kind = ChangeMarker::Kind::Load;
      marker.label =
          QObject::tr("load %1").arg(QString::fromStdString(it->after.candidate_version));
    } else if (action == AuditAction::kHealth) {
      // "candidate 'v2' is UNHEALTHY: …" -> the part before the message.
      marker.kind = it->reason.find(" is UNHEALTHY") != std::string::npos
                        ? ChangeMarker::Kind::Unhealthy
                        : ChangeMarker::Kind::Healthy;
      marker.label = QString::fromStdString(it->reason).section(u':', 0, 0).left(60);
    } else {
      continue;
    }
    out.markers.append(marker);
  }
}
}  // namespace

ReleaseSeries BuildReleaseSeries(const MetricsHistory& history,
                                 const std::array<std::string, 2>& versions,
                                 const std::vector<AuditRecord>& trail, int window_seconds,
                                 ChartedTime charted) {
  ReleaseSeries out;
  const int64_t newest = history.NewestUnixMs();
  out.newest_unix_ms = newest;
  const int64_t from = newest - (int64_t{window_seconds} + 1) * 1000;
  for (size_t i = 0; i < versions.size(); ++i) {
    const auto& points = history.Points(versions[i]);
    // Only the visible window: walk back from the newest point.
    auto first = points.end();
    while (first != points.begin() && std::prev(first)->end_unix_ms > from) --first;
    AppendPoints(first, points.end(), newest, 1000.0, kGapAfterMs, charted, out.versions[i]);
  }
  AppendMarkers(trail, from, newest, 1000.0, out);
  return out;
}

ReleaseSeries BuildMinuteSeries(const MinuteHistory& history,
                                const std::array<std::string, 2>& versions,
                                const std::vector<AuditRecord>& trail, int64_t from_unix_ms,
                                int64_t to_unix_ms, double seconds_per_x, ChartedTime charted) {
  ReleaseSeries out;
  out.newest_unix_ms = to_unix_ms;
  out.seconds_per_x = seconds_per_x;
  out.point_seconds = 60;
  const double ms_per_x = seconds_per_x * 1000;
  for (size_t i = 0; i < versions.size(); ++i) {
    const std::vector<MinutePoint>& points = history.Points(versions[i]);
    const auto by_end = [](const MinutePoint& p, int64_t value) { return p.end_unix_ms < value; };
    const auto first = std::lower_bound(points.begin(), points.end(), from_unix_ms + 1, by_end);
    const auto last = std::lower_bound(first, points.end(), to_unix_ms + 1, by_end);
    AppendPoints(first, last, to_unix_ms, ms_per_x, kMinuteGapAfterMs, charted, out.versions[i]);
  }
  AppendMarkers(trail, from_unix_ms, to_unix_ms, ms_per_x, out);
  return out;
}

}  // namespace greylane
