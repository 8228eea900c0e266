// The analysis's control surface on a real in-process agent: who may read
// and change the policy, what an invalid one gets, that a change is
// audited and survives a restart; fault drills are admin only, bounded,
// audited, shown in the state, felt by the data plane, and stop.
#include <QTemporaryDir>
#include <QtTest>

#include "support/agent_test_support.h"

using namespace greylane;

namespace {
v1::AnalysisPolicy GetPolicy(v1::Agent::Stub& stub, const std::string& token,
                             grpc::Status* status = nullptr) {
  grpc::ClientContext c;
  test::Prepare(c, token);
  v1::AnalysisPolicy policy;
  const grpc::Status s = stub.GetPolicy(&c, {}, &policy);
  if (status) *status = s;
  return policy;
}

grpc::Status SetPolicy(v1::Agent::Stub& stub, const std::string& token,
                       const v1::AnalysisPolicy& policy, v1::AnalysisPolicy* out = nullptr) {
  grpc::ClientContext c;
  test::Prepare(c, token);
  v1::SetPolicyRequest r;
  *r.mutable_policy() = policy;
  r.set_reason("tighter for the bank model");
  v1::AnalysisPolicy answer;
  const grpc::Status s = stub.SetPolicy(&c, r, &answer);
  if (out) *out = answer;
  return s;
}

grpc::Status Drill(v1::Agent::Stub& stub, const std::string& token, double error_rate,
                   uint32_t seconds, v1::AgentState* out, uint32_t latency_ms = 0) {
  return test::Drill(stub, token, v1::CANDIDATE, latency_ms, error_rate, seconds, out);
}

v1::AuditEntry LastRow(v1::Agent::Stub& stub, const std::string& token) {
  const std::vector<v1::AuditEntry> rows = test::AuditRows(stub, token);
  return rows.empty() ? v1::AuditEntry{} : rows.back();
}
}  // namespace

class TestAnalysisControl final : public QObject {
  Q_OBJECT

 private slots:
  void thePolicyIsAdminsAuditedAndSurvivesARestart() {
    QTemporaryDir dir;
    AgentConfig config = test::DemoTestConfig(1000);
    config.state_dir = dir.path().toStdString();
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string viewer = test::DemoToken(*agent, "viewer");
    const std::string op = test::DemoToken(*agent, "operator");
    const std::string admin = test::DemoToken(*agent, "admin");

    grpc::Status status;
    v1::AnalysisPolicy policy = GetPolicy(*clients.control, viewer, &status);
    QVERIFY(status.ok());
    QCOMPARE(policy.armed(), false);
    QCOMPARE(policy.latency_ratio(), 1.25);
    QCOMPARE(policy.window_seconds(), 60u);

    policy.set_armed(true);
    policy.set_latency_ratio(1.5);
    QCOMPARE(SetPolicy(*clients.control, op, policy).error_code(),
             grpc::StatusCode::PERMISSION_DENIED);
    v1::AnalysisPolicy bad = policy;
    bad.set_confidence(1.5);
    const grpc::Status refused = SetPolicy(*clients.control, admin, bad);
    QCOMPARE(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(refused.error_message().find("confidence") != std::string::npos,
             refused.error_message().c_str());
    bad = policy;
    bad.set_sustain_seconds(0);
    QCOMPARE(SetPolicy(*clients.control, admin, bad).error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);

    v1::AnalysisPolicy set;
    QVERIFY(SetPolicy(*clients.control, admin, policy, &set).ok());
    QCOMPARE(set.armed(), true);
    QCOMPARE(set.latency_ratio(), 1.5);
    const v1::AuditEntry row = LastRow(*clients.control, viewer);
    QCOMPARE(row.action(), std::string("set_policy"));
    QCOMPARE(row.actor(), std::string("demo-admin"));
    QVERIFY2(row.evidence().find("armed false -> true") != std::string::npos &&
                 row.evidence().find("latency_ratio 1.25 -> 1.5") != std::string::npos,
             row.evidence().c_str());

    // The state carries the policy; a restart keeps it over the config's.
    grpc::ClientContext c;
    test::Prepare(c, viewer);
    v1::AgentState state;
    QVERIFY(clients.control->GetState(&c, {}, &state).ok());
    QCOMPARE(state.policy().latency_ratio(), 1.5);
    clients = {};
    agent.reset();
    agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    clients = test::Connect(*agent);
    policy = GetPolicy(*clients.control, test::DemoToken(*agent, "viewer"));
    QCOMPARE(policy.armed(), true);
    QCOMPARE(policy.latency_ratio(), 1.5);
  }

  void drillsAreAdminsBoundedFeltAndStopped() {
    auto agent = [] {
      std::string error;
      auto a = test::StartAgent(test::DemoTestConfig(1000), &error);
      if (!a) qFatal("%s", error.c_str());
      return a;
    }();
    test::Clients clients = test::Connect(*agent);
    const std::string op = test::DemoToken(*agent, "operator");
    const std::string admin = test::DemoToken(*agent, "admin");
    v1::AgentState state;
    QCOMPARE(Drill(*clients.control, op, 1, 60, &state).error_code(),
             grpc::StatusCode::PERMISSION_DENIED);
    for (const auto& [rate, seconds, latency] :
         {std::tuple{2.0, 60u, 0u}, std::tuple{0.5, 7200u, 0u}, std::tuple{0.0, 60u, 0u},
          std::tuple{0.0, 60u, 60000u}}) {
      const grpc::Status s = Drill(*clients.control, admin, rate, seconds, &state, latency);
      QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      QVERIFY2(s.error_message().find("fault drill:") == 0, s.error_message().c_str());
    }

    // Every candidate request fails while it runs; pinned to the candidate.
    QVERIFY(Drill(*clients.control, admin, 1, 60, &state).ok());
    QCOMPARE(state.drills_size(), 1);
    QCOMPARE(state.drills(0).version(), std::string("v2"));
    QCOMPARE(state.drills(0).error_rate(), 1.0);
    const v1::AuditEntry row = LastRow(*clients.control, op);
    QCOMPARE(row.action(), std::string("inject_fault"));
    QVERIFY2(
        row.evidence().find("100.00 % of requests failed for 60 s, until 20") != std::string::npos,
        row.evidence().c_str());
    inference::ModelInferResponse response;
    const auto request = test::DigitsRequest(test::Holdout().front());
    grpc::Status s = test::Infer(*clients.data, request, &response, "", "candidate");
    QCOMPARE(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    QVERIFY2(s.error_message().find("injected fault") != std::string::npos,
             s.error_message().c_str());
    QVERIFY(test::Infer(*clients.data, request, &response, "", "baseline").ok());

    // Stopped: served again, and the state no longer shows it.
    QVERIFY(Drill(*clients.control, admin, 0, 0, &state).ok());
    QCOMPARE(state.drills_size(), 0);
    QVERIFY(test::Infer(*clients.data, request, &response, "", "candidate").ok());
    QCOMPARE(Drill(*clients.control, admin, 0, 0, &state).error_code(),
             grpc::StatusCode::FAILED_PRECONDITION);  // nothing to stop

    // Promotion ends a candidate's drill: it must not follow v2 onto all traffic.
    QVERIFY(Drill(*clients.control, admin, 1, 60, &state).ok());
    {
      grpc::ClientContext c;
      test::Prepare(c, op);
      v1::PromoteRequest promote;
      promote.set_expected_revision(state.split().revision());
      promote.set_reason("v2 is good");
      QVERIFY(clients.control->Promote(&c, promote, &state).ok());
    }
    QCOMPARE(state.drills_size(), 0);
    QVERIFY2(
        LastRow(*clients.control, op).evidence().find("drill on 'v2' ended") != std::string::npos,
        LastRow(*clients.control, op).evidence().c_str());
    QVERIFY(test::Infer(*clients.data, request, &response, "", "baseline").ok());

    // A delayed request is answered after the added latency, from the timer thread.
    QVERIFY(Drill(*clients.control, admin, 0, 60, &state, 300).ok());
    const auto start = std::chrono::steady_clock::now();
    QVERIFY(test::Infer(*clients.data, request, &response, "", "candidate").ok());
    const auto waited = std::chrono::steady_clock::now() - start;
    QVERIFY(waited >= std::chrono::milliseconds(300));
    // Shut down with the drill running: nothing hangs.
    clients = {};
    agent.reset();
  }
};

QTEST_GUILESS_MAIN(TestAnalysisControl)
#include "test_analysis_control.moc"
