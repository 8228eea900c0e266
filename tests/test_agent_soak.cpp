// Soak (label "soak", not run by CI): minutes of open-loop load through a
// real agent while a subscriber counts every frame. Nothing may be lost
// (frames add up to exactly what the load generator sent) and memory may
// grow only by the metrics ring, which fills for 17 minutes and then holds.
// GREYLANE_SOAK_SECONDS sets the length.
#include <QtTest>

#include <fstream>
#include <thread>

#include "agent/load/load_generator.h"
#include "support/agent_test_support.h"

using namespace greylane;

namespace {
long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}
}  // namespace

class TestAgentSoak final : public QObject {
  Q_OBJECT

 private slots:
  void minutesOfLoadLoseNothingAndMemoryStaysFlat() const {
    const int seconds = qEnvironmentVariableIntValue("GREYLANE_SOAK_SECONDS") > 0
                            ? qEnvironmentVariableIntValue("GREYLANE_SOAK_SECONDS")
                            : 180;
    std::string error;
    auto agent = test::StartAgent(test::DemoTestConfig(1000), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);

    grpc::ClientContext context;
    test::Prepare(context, test::DemoToken(*agent, "viewer"), seconds + 120);
    auto reader = clients.control->WatchMetrics(&context, {});
    v1::MetricsFrame frame;
    QVERIFY(reader->Read(&frame));
    uint64_t counted = 0, dropped = 0;
    std::atomic<bool> stop{false};
    std::thread counter([&] {
      v1::MetricsFrame f;
      while (!stop && reader->Read(&f)) {
        for (const auto& v : f.versions()) counted += v.requests();
        dropped += f.dropped_before();
      }
    });

    LoadOptions options;
    options.target = agent->DataAddress();
    options.rps = 2000;
    options.users = 5000;
    options.duration_s = seconds;
    long warm_kib = 0;
    std::vector<long> samples;
    const LoadReport report = RunLoad(
        options,
        [&](int second, const LoadStats&) {
          if (second == 30) warm_kib = ResidentKiB();
          if (second > 30 && second % 10 == 0) samples.push_back(ResidentKiB());
        },
        &error);
    QVERIFY2(error.empty(), error.c_str());
    // Two more frames so every request has been sealed and delivered.
    const uint64_t target = report.total.sent;
    for (int i = 0; i < 50 && counted < target; ++i) QTest::qWait(100);
    stop = true;
    context.TryCancel();
    counter.join();
    const long end_kib = ResidentKiB();
    size_t ring_bytes = 0;
    const auto ring = agent->Hub().Recent(agent->Hub().RingCapacity());
    for (const auto& f : ring) ring_bytes += f->SpaceUsedLong();
    qInfo("soak: metrics ring holds %zu frames in %zu KiB (full at %zu frames, about %zu KiB)",
          ring.size(), ring_bytes / 1024, agent->Hub().RingCapacity(),
          ring.empty() ? 0 : ring_bytes / ring.size() * agent->Hub().RingCapacity() / 1024);
    qInfo("soak: %d s, sent %llu, ok %llu, errors %llu, frames counted %llu, dropped frames %llu",
          seconds, static_cast<unsigned long long>(report.total.sent),
          static_cast<unsigned long long>(report.total.ok),
          static_cast<unsigned long long>(report.total.errors),
          static_cast<unsigned long long>(counted), static_cast<unsigned long long>(dropped));
    qInfo("soak: client p50 %.3f ms p99 %.3f ms; RSS warm %ld KiB, end %ld KiB (%+ld KiB)",
          report.total.latency.QuantileMillis(0.5), report.total.latency.QuantileMillis(0.99),
          warm_kib, end_kib, end_kib - warm_kib);
    QCOMPARE(report.total.errors, 0ull);
    QCOMPARE(dropped, 0ull);
    QCOMPARE(counted, report.total.sent);
    if (warm_kib > 0) {
      // Growth beyond the ring's own frames (allocator settling aside) would
      // be a leak proportional to traffic.
      const long ring_growth_kib =
          static_cast<long>(ring_bytes / 1024) * (seconds - 30) / std::max(seconds, 1);
      qInfo("soak: RSS growth after warm-up %ld KiB, of which ring about %ld KiB",
            end_kib - warm_kib, ring_growth_kib);
      QVERIFY2(end_kib - warm_kib - ring_growth_kib < 4 * 1024,
               "memory grew by more than the metrics ring plus 4 MiB after warm-up");
    }
  }
};

QTEST_GUILESS_MAIN(TestAgentSoak)
#include "test_agent_soak.moc"
