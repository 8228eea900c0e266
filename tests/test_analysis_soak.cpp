// The A/A soak (label "soak", not run by CI; ./dev.sh soak): both slots
// serve the same model file, candidate 10 %, the default policy armed,
// 200 req/s for GREYLANE_AA_MINUTES (default 30). Every second's verdict is
// read from the metrics stream: no check may fail and nothing may roll back.
// GREYLANE_AA_QUALITY=1 also turns on the outcome-quality checks (the
// example config's 2 points, 5 % and 1 point) with every answer's label
// reported back.
#include <QtTest>

#include <atomic>
#include <filesystem>
#include <thread>

#include "agent/load/load_generator.h"
#include "support/agent_test_support.h"

using namespace greylane;

class TestAnalysisSoak final : public QObject {
  Q_OBJECT

 private slots:
  void anAAPairNeverFailsNorRollsBack() const {
    const int minutes = qEnvironmentVariableIntValue("GREYLANE_AA_MINUTES") > 0
                            ? qEnvironmentVariableIntValue("GREYLANE_AA_MINUTES")
                            : 30;
    AgentConfig config = test::DemoTestConfig(1000);
    config.candidate = config.baseline;  // the same model file on both sides
    config.candidate.version = "v1-copy";
    config.analysis.armed = true;
    const bool quality = qEnvironmentVariableIntValue("GREYLANE_AA_QUALITY") > 0;
    if (quality) {
      config.analysis.accuracy_margin = 0.02;
      config.analysis.prediction_divergence = 0.05;
      config.analysis.class_share_margin = 0.01;
    }
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);

    grpc::ClientContext context;
    test::Prepare(context, test::DemoToken(*agent, "viewer"), minutes * 60 + 120);
    auto reader = clients.control->WatchMetrics(&context, {});
    std::atomic<bool> stop{false};
    uint64_t evaluated = 0, judged = 0, fails = 0, warns = 0, inconclusive = 0, rolled = 0;
    std::string first_fail;
    std::thread watcher([&] {
      v1::MetricsFrame f;
      while (!stop && reader->Read(&f)) {
        if (!f.has_analysis()) continue;
        ++evaluated;
        rolled += f.analysis().rolled_back() ? 1 : 0;
        for (const v1::CheckResult& c : f.analysis().checks()) {
          judged += c.verdict() == v1::CHECK_PASS || c.verdict() == v1::CHECK_WARN ||
                    c.verdict() == v1::CHECK_FAIL;
          warns += c.verdict() == v1::CHECK_WARN;
          inconclusive += c.verdict() == v1::CHECK_INCONCLUSIVE;
          if (c.verdict() == v1::CHECK_FAIL) {
            if (first_fail.empty()) first_fail = c.detail();
            ++fails;
          }
        }
      }
    });

    LoadOptions options;
    options.target = agent->DataAddress();
    options.rps = 200;
    options.users = 5000;
    options.duration_s = minutes * 60.0;
    options.outcomes = quality ? 1 : 0;
    const LoadReport report = RunLoad(options, {}, &error);
    QVERIFY2(error.empty(), error.c_str());
    stop = true;
    context.TryCancel();
    watcher.join();

    grpc::ClientContext c;
    test::Prepare(c, test::DemoToken(*agent, "viewer"));
    v1::AgentState state;
    QVERIFY(clients.control->GetState(&c, {}, &state).ok());
    qInfo(
        "A/A soak%s: %d min at 200 req/s, %llu requests sent, %llu outcomes recorded; %llu "
        "seconds judged, %llu check verdicts (%llu inconclusive), %llu warnings, %llu fails, %llu "
        "rollbacks; phase %s",
        quality ? " with the quality checks" : "", minutes,
        static_cast<unsigned long long>(report.total.sent),
        static_cast<unsigned long long>(report.total.outcomes_recorded),
        static_cast<unsigned long long>(evaluated), static_cast<unsigned long long>(judged),
        static_cast<unsigned long long>(inconclusive), static_cast<unsigned long long>(warns),
        static_cast<unsigned long long>(fails), static_cast<unsigned long long>(rolled),
        v1::Phase_Name(state.phase()).c_str());
    QVERIFY2(fails == 0, first_fail.c_str());
    QCOMPARE(rolled, 0ull);
    QCOMPARE(state.phase(), v1::CANARY);
    QVERIFY(judged > evaluated);  // the checks did judge, not only wait for samples
  }
};

QTEST_GUILESS_MAIN(TestAnalysisSoak)
#include "test_analysis_soak.moc"
