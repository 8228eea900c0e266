#include "app/release_series.h"

#include <QObject>

#include <cmath>
#include <limits>
#include <optional>

#include "common/audit_vocabulary.h"
#include "common/basis_points.h"

namespace greylane {
namespace {
constexpr double kGap = std::numeric_limits<double>::quiet_NaN();

QString Percent(uint32_t basis_points) {
  return QString::fromStdString(FormatBasisPoints(basis_points));
}
}  // namespace

ReleaseSeries BuildReleaseSeries(const MetricsHistory& history,
                                 const std::array<std::string, 2>& versions,
                                 const std::vector<AuditRecord>& trail, int window_seconds) {
  ReleaseSeries out;
  const int64_t newest = history.NewestUnixMs();
  out.newest_unix_ms = newest;
  const int64_t from = newest - (int64_t{window_seconds} + 1) * 1000;
  for (size_t i = 0; i < versions.size(); ++i) {
    VersionSeries& v = out.versions[i];
    const auto& points = history.Points(versions[i]);
    // Only the visible window: walk back from the newest point.
    auto first = points.end();
    while (first != points.begin() && std::prev(first)->end_unix_ms > from) --first;
    const qsizetype n = points.end() - first;
    for (auto* list : {&v.p99, &v.p50, &v.rate, &v.errors}) list->reserve(n + 8);
    int64_t previous = 0;
    for (auto it = first; it != points.end(); ++it) {
      const double x = (it->end_unix_ms - newest) / 1000.0;
      if (previous && it->end_unix_ms - previous > kGapAfterMs) {
        const double mid = ((previous + it->end_unix_ms) / 2 - newest) / 1000.0;
        for (auto* list : {&v.p99, &v.p50, &v.rate, &v.errors}) list->append({mid, kGap});
      }
      previous = it->end_unix_ms;
      v.rate.append({x, static_cast<double>(it->requests)});
      v.errors.append(
          {x, it->requests ? 100.0 * static_cast<double>(it->server_errors) / it->requests : kGap});
      // A latency exists only with successful requests: none is a gap, not 0.
      const bool answered = it->zero_count > 0 || !it->buckets.empty();
      v.p99.append({x, answered ? it->p99_ms : kGap});
      v.p50.append({x, answered ? it->p50_ms : kGap});
    }
  }
  for (auto it = trail.rbegin(); it != trail.rend(); ++it) {
    if (it->time_unix_ms < from) break;
    if (ParseAuditOutcome(it->outcome) != AuditOutcome::kOk) continue;
    ChangeMarker marker;
    marker.x = (it->time_unix_ms - newest) / 1000.0;
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
  return out;
}

}  // namespace greylane
