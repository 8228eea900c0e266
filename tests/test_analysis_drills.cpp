// The automated analysis end to end with real traffic: greylane-load's
// generator at 200 req/s through an in-process agent, candidate 10 %, the
// default policy armed with the accuracy and predictions checks turned on
// (every answer's label reported back). Each fault drill on the candidate (InjectFault)
// must end in an automatic rollback by the analysis, with the evidence in
// its audit row; detection time is the drill row to the rollback row.
// GREYLANE_DRILL_RUNS (default 1) repeats each drill and prints the median
// and worst; GREYLANE_DRILL_ONLY=tail runs only the drills of that check:
// `GREYLANE_DRILL_RUNS=10 QTEST_FUNCTION_TIMEOUT=3600000
// build/tests/test_analysis_drills`.
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <thread>

#include "support/agent_test_support.h"

using namespace greylane;

namespace {

struct Drill {
  const char* name;
  uint32_t added_latency_ms;
  double latency_share;
  double error_rate;
  double wrong_answer_rate;
  const char* key;          // for GREYLANE_DRILL_ONLY
  const char* expected[2];  // a check that must have failed: either
};

std::vector<v1::AuditEntry> RowsAfter(v1::Agent::Stub& control, const std::string& token,
                                      uint64_t after) {
  grpc::ClientContext c;
  test::Prepare(c, token);
  v1::ListAuditRequest r;
  r.set_after_sequence(after);
  r.set_limit(1000);
  v1::ListAuditResponse response;
  control.ListAudit(&c, r, &response);
  return {response.entries().begin(), response.entries().end()};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

class TestAnalysisDrills final : public QObject {
  Q_OBJECT

 private slots:
  void drillsRollBackWithTheEvidence() const {
    const int runs = std::max(1, qEnvironmentVariableIntValue("GREYLANE_DRILL_RUNS"));
    AgentConfig config = test::DemoTestConfig(1000);
    config.analysis.armed = true;
    // Outcome quality too, with every answer's label reported as callers
    // with ground truth would (the defaults leave these checks off).
    config.analysis.accuracy_margin = 0.02;
    config.analysis.prediction_divergence = 0.05;
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string operator_token = test::DemoToken(*agent, "operator");
    const std::string admin = test::DemoToken(*agent, "admin");
    test::BackgroundLoad load(agent->DataAddress(), 3600, 200, 1.0);

    // A candidate slowed throughout fails latency, and tail too (its
    // requests are all past the baseline's p99): whichever is first.
    // A fifth of answers wrong fails accuracy (labels) or predictions (the
    // classes moved): whichever is first.
    const Drill drills[] = {
        {"+200 ms on every request", 200, 1, 0, 0, "latency", {"latency", "tail"}},
        {"5 % errors", 0, 0, 0.05, 0, "errors", {"errors", "errors"}},
        {"1 % of requests +500 ms", 500, 0.01, 0, 0, "tail", {"tail", "tail"}},
        {"20 % of answers wrong", 0, 0, 0, 0.2, "quality", {"accuracy", "predictions"}}};
    const QByteArray only = qgetenv("GREYLANE_DRILL_ONLY");
    for (const Drill& drill : drills) {
      if (!only.isEmpty() && only != drill.key) continue;
      std::vector<double> seconds;
      for (int run = 0; run < runs; ++run) {
        // A fresh canary at 10 %, healthy for a while: nothing rolls back.
        v1::AgentState state = test::State(*clients.control, operator_token);
        if (state.split().candidate_basis_points() != 1000) {
          grpc::ClientContext c;
          test::Prepare(c, operator_token);
          v1::SetSplitRequest r;
          r.set_candidate_basis_points(1000);
          r.set_expected_revision(state.split().revision());
          r.set_reason("drill: a fresh canary");
          QVERIFY(clients.control->SetSplit(&c, r, &state).ok());
        }
        QTest::qWait(8000);
        state = test::State(*clients.control, operator_token);
        QVERIFY2(state.phase() == v1::CANARY,
                 ("the healthy canary was rolled back: " + state.last_change().reason()).c_str());
        for (const v1::CheckResult& check : state.analysis().checks())
          QVERIFY2(check.verdict() != v1::CHECK_FAIL, check.detail().c_str());

        grpc::ClientContext c;
        test::Prepare(c, admin);
        v1::InjectFaultRequest fault;
        fault.set_slot(v1::CANDIDATE);
        fault.set_added_latency_ms(drill.added_latency_ms);
        fault.set_latency_share(drill.latency_share);
        fault.set_error_rate(drill.error_rate);
        fault.set_wrong_answer_rate(drill.wrong_answer_rate);
        fault.set_duration_seconds(120);
        fault.set_reason(std::string("drill: ") + drill.name);
        const grpc::Status injected = clients.control->InjectFault(&c, fault, &state);
        QVERIFY2(injected.ok(), injected.error_message().c_str());
        QCOMPARE(state.drills_size(), 1);
        const uint64_t drill_row = state.last_change().audit_sequence();

        // Until the analysis rolls back (bounded: 1 % of 20 req/s is one slow request
        // in 5 s, so a tail needs tens of seconds).
        QTRY_VERIFY_WITH_TIMEOUT(
            test::State(*clients.control, operator_token).phase() == v1::ROLLED_BACK, 180000);
        int64_t drill_ms = 0;
        v1::AuditEntry rollback;
        for (const v1::AuditEntry& row : RowsAfter(*clients.control, operator_token, drill_row)) {
          if (row.action() == "inject_fault") drill_ms = row.time_unix_ms();
          if (row.action() == "rollback") rollback = row;
        }
        QVERIFY(drill_ms > 0);
        QCOMPARE(rollback.actor(), std::string("analysis"));
        QCOMPARE(rollback.role(), std::string("system"));
        const std::string& evidence = rollback.evidence();
        QVERIFY2(
            evidence.find("interval") != std::string::npos &&
                (evidence.find(std::string("[") + drill.expected[0] + "]") != std::string::npos ||
                 evidence.find(std::string("[") + drill.expected[1] + "]") != std::string::npos),
            evidence.c_str());
        seconds.push_back(static_cast<double>(rollback.time_unix_ms() - drill_ms) / 1000);
        qInfo("%s, run %d: rolled back after %.2f s: %s", drill.name, run + 1, seconds.back(),
              rollback.evidence().c_str());

        grpc::ClientContext stop;
        test::Prepare(stop, admin);
        fault.set_duration_seconds(0);
        fault.set_reason("drill over");
        QVERIFY(clients.control->InjectFault(&stop, fault, &state).ok());
        QCOMPARE(state.drills_size(), 0);
      }
      qInfo("DRILL %s: detection median %.2f s, worst %.2f s over %d runs", drill.name,
            Median(seconds), *std::max_element(seconds.begin(), seconds.end()), runs);
    }
    load.Stop();
    QVERIFY2(load.Error().empty(), load.Error().c_str());
  }
};

QTEST_GUILESS_MAIN(TestAnalysisDrills)
#include "test_analysis_drills.moc"
