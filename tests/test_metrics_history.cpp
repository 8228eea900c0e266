// The console's metrics memory: bounded, windows exact (merged sketches),
// history replayed after a reconnect not counted twice.
#include <QtTest>

#include <cmath>

#include "app/metrics_history.h"
#include "app/release_series.h"

using namespace greylane;

namespace {
v1::MetricsFrame Frame(int64_t end_ms, const std::vector<double>& v1_micros, uint64_t errors = 0) {
  v1::MetricsFrame frame;
  frame.set_window_end_unix_ms(end_ms);
  auto* v = frame.add_versions();
  v->set_slot(v1::BASELINE);
  v->set_version("v1");
  LatencySketch sketch;
  for (const double m : v1_micros) sketch.Add(m);
  v->set_requests(v1_micros.size() + errors);
  v->set_server_errors(errors);
  v->set_latency_p50_ms(sketch.QuantileMillis(0.5));
  v->set_latency_p99_ms(sketch.QuantileMillis(0.99));
  sketch.ToProto(v->mutable_latency());
  return frame;
}
}  // namespace

class TestMetricsHistory final : public QObject {
  Q_OBJECT

 private slots:
  // A missing second and a second without a successful request are gaps
  // (NaN), never a line bridging them; markers come from changes in force.
  void gapsStayGaps() const {
    MetricsHistory history;
    for (int s = 1; s <= 10; ++s) history.Add(Frame(s * 1000, {500.0, 520.0}));
    history.Add(Frame(11000, {}, 7));                                      // every request failed
    for (int s = 50; s <= 52; ++s) history.Add(Frame(s * 1000, {500.0}));  // 38 s frozen
    auto row = [](int64_t at, const char* action, const char* outcome, const char* reason) {
      AuditRecord r;
      r.time_unix_ms = at;
      r.action = action;
      r.outcome = outcome;
      r.reason = reason;
      return r;
    };
    std::vector<AuditRecord> trail;
    trail.push_back(row(11000, "health", "ok",
                        "candidate 'v2' is UNHEALTHY: upstream 127.0.0.1:1 ModelInfer: Deadline"));
    trail.push_back(row(51000, "rollback", "ok", "p99"));
    trail.push_back(row(51500, "rollback", "denied", "viewer tried"));
    const ReleaseSeries series = BuildReleaseSeries(history, {"v1", "v2"}, trail, 300);
    QCOMPARE(series.newest_unix_ms, int64_t{52000});
    const VersionSeries& v = series.versions[0];
    int gaps = 0;
    for (const QPointF& p : v.rate) gaps += std::isnan(p.y());
    QCOMPARE(gaps, 1);  // the freeze
    // The failed second: 7 requests, 100 % errors, no latency.
    const auto failed =
        std::find_if(v.rate.begin(), v.rate.end(), [](const QPointF& p) { return p.x() == -41.0; });
    QVERIFY(failed != v.rate.end());
    QCOMPARE(failed->y(), 7.0);
    const qsizetype at = failed - v.rate.begin();
    QCOMPARE(v.errors[at].y(), 100.0);
    QVERIFY(std::isnan(v.p99[at].y()));
    QVERIFY(std::isnan(v.p50[at].y()));
    QVERIFY(!std::isnan(v.p99[at - 1].y()));
    QVERIFY(series.versions[1].rate.isEmpty());  // nothing for v2
    QCOMPARE(series.markers.size(), 2);          // the denied attempt changed nothing
    QCOMPARE(series.markers[0].kind, ChangeMarker::Kind::Rollback);
    QCOMPARE(series.markers[0].x, -1.0);
    QCOMPARE(series.markers[1].kind, ChangeMarker::Kind::Unhealthy);
    QCOMPARE(series.markers[1].label, QStringLiteral("candidate 'v2' is UNHEALTHY"));
  }

  void ringIsBounded() const {
    MetricsHistory history(60);
    for (int s = 1; s <= 1000; ++s) history.Add(Frame(s * 1000, {100.0}));
    QCOMPARE(history.Points("v1").size(), 60u);
    QCOMPARE(history.Points("v1").front().end_unix_ms, 941000);
    QCOMPARE(history.Points("v9").size(), 0u);
  }

  void windowPercentilesAreMergedNotAveraged() const {
    MetricsHistory history;
    // Nine quiet seconds at 1 ms and one busy second at 100 ms: the 10 s p99
    // is the busy second's latency, which averaging p99s would hide.
    for (int s = 1; s <= 9; ++s) history.Add(Frame(s * 1000, std::vector<double>(100, 1000.0)));
    history.Add(Frame(10000, std::vector<double>(50, 100000.0), 5));
    const WindowSummary w = history.Summarize("v1", 10);
    QCOMPARE(w.requests, 955ull);
    QVERIFY(std::abs(w.p99_ms - 100.0) / 100.0 <= 0.01);
    QVERIFY(std::abs(w.p50_ms - 1.0) <= 0.01);
    QVERIFY(std::abs(w.requests_per_second - 95.5) < 1e-9);
    QVERIFY(std::abs(w.server_error_rate - 5.0 / 955.0) < 1e-12);
    const WindowSummary last = history.Summarize("v1", 1);
    QCOMPARE(last.requests, 55ull);
  }

  // The long windows: minutes from the agent's history, x in minutes, a
  // re-read minute replaces the earlier reading, a minute with no data is
  // a gap and the rate is per second of data (a partial minute included).
  void minutesDrawTheLongWindows() const {
    constexpr int64_t kMinute = 60'000;
    const int64_t t0 = 1'800'000'000'000 / kMinute * kMinute;
    auto minute = [&](int64_t end, uint32_t seconds, uint64_t requests, uint64_t errors,
                      double p99) {
      v1::MetricsFrame f;
      f.set_window_end_unix_ms(end);
      f.set_window_seconds(seconds);
      auto* v = f.add_versions();
      v->set_version("v2");
      v->set_requests(requests);
      v->set_server_errors(errors);
      v->set_latency_p99_ms(p99);
      v->set_latency_p50_ms(p99 / 2);
      return f;
    };
    MinuteHistory history;
    for (int m = 1; m <= 10; ++m) history.Merge(minute(t0 + m * kMinute, 60, 600, 6, 4.0));
    // Minutes 11-13 missing (agent down), 14 all failed, 15 half read then whole.
    history.Merge(minute(t0 + 14 * kMinute, 60, 120, 120, 0));
    history.Merge(minute(t0 + 15 * kMinute, 30, 300, 0, 8.0));
    history.Merge(minute(t0 + 15 * kMinute, 60, 1200, 0, 9.0));
    QCOMPARE(history.Points("v2").size(), 12u);
    QCOMPARE(history.NewestUnixMs(), t0 + 15 * kMinute);

    std::vector<AuditRecord> trail(1);
    trail[0].time_unix_ms = t0 + 12 * kMinute + 30'000;
    trail[0].action = "rollback";
    trail[0].outcome = "ok";
    const ReleaseSeries series =
        BuildMinuteSeries(history, {"v1", "v2"}, trail, t0 + 2 * kMinute, t0 + 15 * kMinute);
    QCOMPARE(series.seconds_per_x, 60.0);
    const VersionSeries& v = series.versions[1];
    QVERIFY(series.versions[0].p99.isEmpty());
    // Minutes 3..10, a gap, 14, 15: ends after `from` only.
    QCOMPARE(v.rate.size(), 8 + 1 + 2);
    QCOMPARE(v.rate.front().x(), -12.0);
    QCOMPARE(v.rate.front().y(), 10.0);  // 600 requests over 60 s
    QVERIFY(std::isnan(v.rate[8].y()));
    QCOMPARE(v.errors[9].y(), 100.0);
    QVERIFY(std::isnan(v.p99[9].y()));  // nothing succeeded: no latency
    QCOMPARE(v.rate.back().x(), 0.0);
    QCOMPARE(v.rate.back().y(), 20.0);  // the re-read, whole minute
    QCOMPARE(v.p99.back().y(), 9.0);
    QCOMPARE(series.markers.size(), 1);
    QCOMPARE(series.markers[0].x, -2.5);

    // A partial minute's rate is per second of data.
    MinuteHistory partial;
    partial.Merge(minute(t0 + kMinute, 30, 300, 0, 1.0));
    QCOMPARE(
        BuildMinuteSeries(partial, {"v2", "v1"}, {}, t0, t0 + kMinute).versions[0].rate.front().y(),
        10.0);
    history.DropBefore(t0 + 14 * kMinute);
    QCOMPARE(history.Points("v2").size(), 2u);
  }

  void replayedHistoryIsNotCountedTwice() const {
    MetricsHistory history;
    for (int s = 1; s <= 5; ++s) history.Add(Frame(s * 1000, {500.0}));
    for (int s = 1; s <= 6; ++s) history.Add(Frame(s * 1000, {500.0}));  // backfill again
    QCOMPARE(history.Points("v1").size(), 6u);
  }
};

QTEST_GUILESS_MAIN(TestMetricsHistory)
#include "test_metrics_history.moc"
