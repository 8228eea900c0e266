// The sketch's accuracy promise on skewed data, exact merging, the wire
// form, the per-thread recorder and a slow subscriber's queue.
#include <QtTest>

#include <algorithm>
#include <random>
#include <thread>

#include "agent/metrics/frame_queue.h"
#include "agent/metrics/metrics_hub.h"
#include "agent/metrics/version_recorder.h"
#include "common/latency_sketch.h"
#include "greylane/v1/agent.pb.h"

using greylane::LatencySketch;

namespace {
double Exact(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1))];
}

std::vector<double> Samples(const QString& shape, int n) {
  std::mt19937_64 rng(42);
  std::vector<double> values;
  values.reserve(static_cast<size_t>(n));
  std::lognormal_distribution<double> lognormal(std::log(800.0), 0.9);  // microseconds
  std::normal_distribution<double> fast(300.0, 40.0), slow(45000.0, 9000.0);
  std::bernoulli_distribution tail(0.05);
  std::exponential_distribution<double> exponential(1.0 / 2000.0);
  for (int i = 0; i < n; ++i) {
    double v = 0;
    if (shape == "lognormal") v = lognormal(rng);
    if (shape == "bimodal") v = tail(rng) ? slow(rng) : fast(rng);
    if (shape == "exponential") v = exponential(rng) + 5;
    values.push_back(std::max(v, 2.0));
  }
  return values;
}
}  // namespace

class TestLatencySketch final : public QObject {
  Q_OBJECT

 private slots:
  void quantilesWithinOnePercent_data() const {
    QTest::addColumn<QString>("shape");
    QTest::newRow("log-normal") << "lognormal";
    QTest::newRow("bimodal (5 % slow tail)") << "bimodal";
    QTest::newRow("exponential") << "exponential";
  }
  void quantilesWithinOnePercent() const {
    QFETCH(QString, shape);
    const std::vector<double> values = Samples(shape, 200000);
    LatencySketch sketch;
    for (const double v : values) sketch.Add(v);
    QCOMPARE(sketch.Count(), values.size());
    for (const double q : {0.5, 0.9, 0.99, 0.999}) {
      const double exact = Exact(values, q);
      const double estimate = sketch.QuantileMicros(q);
      const double error = std::abs(estimate - exact) / exact;
      QVERIFY2(error <= 0.01, qPrintable(QString("q=%1 exact=%2 sketch=%3 error=%4 %")
                                             .arg(q)
                                             .arg(exact)
                                             .arg(estimate)
                                             .arg(error * 100)));
    }
  }

  void mergeIsExact() const {
    const std::vector<double> values = Samples("bimodal", 50000);
    LatencySketch whole, a, b;
    for (size_t i = 0; i < values.size(); ++i) {
      whole.Add(values[i]);
      (i % 3 ? a : b).Add(values[i]);
    }
    a.Merge(b);
    QCOMPARE(a.Count(), whole.Count());
    QVERIFY(a.Buckets() == whole.Buckets());
    QCOMPARE(a.QuantileMicros(0.99), whole.QuantileMicros(0.99));
  }

  void protoRoundTripAndDifference() const {
    LatencySketch sketch;
    for (const double v : Samples("lognormal", 1000)) sketch.Add(v);
    sketch.Add(0.5);  // the zero bucket
    greylane::v1::LatencySketch wire;
    sketch.ToProto(&wire);
    QVERIFY(wire.bucket_index_size() < 400);  // sparse
    LatencySketch back;
    QVERIFY(LatencySketch::FromProto(wire, &back));
    QVERIFY(back.Buckets() == sketch.Buckets());

    LatencySketch later = sketch;
    later.Add(1234.0, 5);
    const LatencySketch diff = LatencySketch::Difference(later, sketch);
    QCOMPARE(diff.Count(), 5ull);

    wire.set_relative_accuracy(0.02);
    QVERIFY(!LatencySketch::FromProto(wire, &back));  // other accuracy: refuse to merge
  }

  void emptyAndExtremeValues() const {
    LatencySketch sketch;
    QCOMPARE(sketch.QuantileMicros(0.99), 0.0);
    sketch.Add(1e15);  // clamps into the last bucket, does not crash
    sketch.Add(-3);
    sketch.Add(std::nan(""));
    QCOMPARE(sketch.Count(), 3ull);
  }

  void recorderCountsEveryRequestFromTwoThreads() const {
    greylane::VersionRecorder recorder;
    const int per_thread = 200000;
    auto work = [&] {
      for (int i = 0; i < per_thread; ++i) {
        recorder.RecordOk(static_cast<uint64_t>(1000 + i % 5000));
        if (i % 100 == 0) recorder.RecordServerError();
        if (i % 250 == 0) recorder.RecordClientError();
      }
    };
    std::thread t1(work), t2(work);
    t1.join();
    t2.join();
    const auto totals = recorder.Snapshot();
    QCOMPARE(totals.ok, 2ull * per_thread);
    QCOMPARE(totals.latency.Count(), 2ull * per_thread);
    QCOMPARE(totals.server_errors, 2ull * per_thread / 100);
    QCOMPARE(totals.client_errors, 2ull * per_thread / 250);
    QVERIFY(recorder.TakeMaxNanos() >= 5999);
    QCOMPARE(recorder.TakeMaxNanos(), 0ull);
  }

  void hubWindowsAreDeltas() const {
    greylane::VersionRecorder base, cand;
    greylane::MetricsHub hub("a", 4);
    const greylane::WindowSource sources[] = {{greylane::v1::BASELINE, "v1", &base},
                                              {greylane::v1::CANDIDATE, "v2", &cand}};
    for (int i = 0; i < 10; ++i) base.RecordOk(2'000'000);
    cand.RecordClientError();
    auto first = hub.Seal(1000, 1, 500, sources);
    QCOMPARE(first->versions(0).requests(), 10ull);
    QCOMPARE(first->versions(1).client_errors(), 1ull);
    QVERIFY(std::abs(first->versions(0).latency_p50_ms() - 2.0) / 2.0 <= 0.01);
    base.RecordOk(1'000'000);
    auto second = hub.Seal(2000, 1, 500, sources);
    QCOMPARE(second->versions(0).requests(), 1ull);
    QCOMPARE(second->versions(1).requests(), 0ull);
    QCOMPARE(second->sequence(), first->sequence() + 1);
    for (int i = 0; i < 5; ++i) hub.Seal(3000 + i * 1000, 1, 500, sources);
    QCOMPARE(hub.Recent(100).size(), 4u);  // the ring is bounded
  }

  void slowSubscriberLosesOldestAndIsTold() const {
    greylane::FrameQueue queue(3);
    for (uint64_t i = 1; i <= 5; ++i) {
      auto frame = std::make_shared<greylane::v1::MetricsFrame>();
      frame->set_sequence(i);
      queue.Push(frame);
    }
    QCOMPARE(queue.Size(), 3u);
    auto next = queue.Pop();
    QCOMPARE(next->sequence(), 3ull);
    QCOMPARE(next->dropped_before(), 2ull);
    next = queue.Pop();
    QCOMPARE(next->sequence(), 4ull);
    QCOMPARE(next->dropped_before(), 0ull);
    QCOMPARE(queue.DroppedTotal(), 2ull);
  }
};

QTEST_GUILESS_MAIN(TestLatencySketch)
#include "test_latency_sketch.moc"
