// Rollout plans on a real in-process agent with real traffic: a healthy
// candidate walks every step to 100 % and is promoted; a faulty one stops
// at the first step it fails; a step that stays inconclusive pauses and
// says why; a split set by hand pauses the plan; a restart mid-plan
// resumes at the step it reached (at a gate, and baking); pause, resume
// and abort are the operator's and audited.
#include <QTemporaryDir>
#include <QtTest>

#include <thread>

#include "support/agent_test_support.h"

using namespace greylane;

namespace {
v1::RolloutStep Step(uint32_t bp, uint32_t bake, bool gate = false) {
  v1::RolloutStep s;
  s.set_candidate_basis_points(bp);
  s.set_bake_seconds(bake);
  s.set_gate(gate);
  return s;
}

v1::RolloutPlan Plan(std::initializer_list<v1::RolloutStep> steps, bool auto_promote = false) {
  v1::RolloutPlan plan;
  for (const auto& s : steps) *plan.add_steps() = s;
  plan.set_auto_promote(auto_promote);
  plan.set_name("test plan");
  return plan;
}

grpc::Status Start(v1::Agent::Stub& stub, const std::string& token, const v1::RolloutPlan& plan,
                   v1::AgentState* out = nullptr) {
  v1::StartRolloutRequest r;
  *r.mutable_plan() = plan;
  r.set_expected_revision(test::State(stub, token).split().revision());
  r.set_reason("ship v2");
  grpc::ClientContext c;
  test::Prepare(c, token);
  v1::AgentState state;
  const grpc::Status s = stub.StartRollout(&c, r, &state);
  if (out) *out = state;
  return s;
}

using ControlCall = grpc::Status (v1::Agent::Stub::*)(grpc::ClientContext*,
                                                      const v1::RolloutControlRequest&,
                                                      v1::AgentState*);
grpc::Status Control(v1::Agent::Stub& stub, const std::string& token, ControlCall call,
                     v1::AgentState* out = nullptr) {
  v1::RolloutControlRequest r;
  r.set_reason("on-call decision");
  grpc::ClientContext c;
  test::Prepare(c, token);
  v1::AgentState state;
  const grpc::Status s = (stub.*call)(&c, r, &state);
  if (out) *out = state;
  return s;
}

// Rows of `action` that took effect (refused attempts are rows too).
int Count(const std::vector<v1::AuditEntry>& rows, const std::string& action) {
  return static_cast<int>(std::count_if(rows.begin(), rows.end(), [&](const auto& r) {
    return r.action() == action && r.outcome() == "ok";
  }));
}

AgentConfig Config(const QTemporaryDir& dir, bool armed = false) {
  AgentConfig config = test::DemoTestConfig(0);
  config.state_dir = dir.path().toStdString();
  config.analysis.armed = armed;
  config.analysis.min_requests = 30;
  return config;
}
}  // namespace

class TestRollout final : public QObject {
  Q_OBJECT

 private slots:
  void aHealthyCandidateWalksEveryStepAndIsPromoted() {
    QTemporaryDir dir;
    std::string error;
    auto agent = test::StartAgent(Config(dir), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string op = test::DemoToken(*agent, "operator");
    test::BackgroundLoad traffic(agent->DataAddress(), 600);

    v1::AgentState state;
    QVERIFY(Start(*clients.control, op, Plan({Step(1000, 2), Step(5000, 2), Step(10000, 2)}, true),
                  &state)
                .ok());
    QCOMPARE(state.split().candidate_basis_points(), 1000u);
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_BAKING);
    // A second plan while one runs is refused.
    QCOMPARE(Start(*clients.control, op, Plan({Step(500, 1)})).error_code(),
             grpc::StatusCode::FAILED_PRECONDITION);

    QTRY_VERIFY_WITH_TIMEOUT(
        test::State(*clients.control, op).rollout().phase() == v1::ROLLOUT_DONE, 60000);
    state = test::State(*clients.control, op);
    QCOMPARE(state.phase(), v1::PROMOTED);
    QCOMPARE(state.versions(0).version(), std::string("v2"));  // the new baseline
    QVERIFY2(state.rollout().detail().find("promoted") != std::string::npos,
             state.rollout().detail().c_str());
    const auto rows = test::AuditRows(*clients.control, op);
    QCOMPARE(Count(rows, "start_rollout"), 1);
    QCOMPARE(Count(rows, "rollout_step"), 2);  // to 50 %, to 100 %
    const auto promoted = std::find_if(rows.begin(), rows.end(),
                                       [](const auto& r) { return r.action() == "promote"; });
    QVERIFY(promoted != rows.end());
    QCOMPARE(promoted->actor(), std::string("rollout"));
    QCOMPARE(promoted->role(), std::string("system"));
    QVERIFY2(promoted->evidence().find("passing seconds") != std::string::npos,
             promoted->evidence().c_str());
    QCOMPARE(Count(rows, "rollback"), 0);
  }

  void aFaultyCandidateStopsAtTheFirstStep() {
    QTemporaryDir dir;
    std::string error;
    auto agent = test::StartAgent(Config(dir, /*armed=*/true), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string op = test::DemoToken(*agent, "operator");
    QVERIFY(
        test::Drill(*clients.control, test::DemoToken(*agent, "admin"), v1::CANDIDATE, 200, 0, 120)
            .ok());
    test::BackgroundLoad traffic(agent->DataAddress(), 600);
    QVERIFY(Start(*clients.control, op, Plan({Step(1000, 5), Step(5000, 5), Step(10000, 5)}, true))
                .ok());
    QTRY_VERIFY_WITH_TIMEOUT(
        test::State(*clients.control, op).rollout().phase() == v1::ROLLOUT_ABORTED, 30000);
    const v1::AgentState state = test::State(*clients.control, op);
    QCOMPARE(state.rollout().step(), 0u);
    QCOMPARE(state.split().candidate_basis_points(), 0u);
    QCOMPARE(state.phase(), v1::ROLLED_BACK);
    QVERIFY2(state.rollout().detail().find("rolled back by analysis at step 1 of 3") !=
                 std::string::npos,
             state.rollout().detail().c_str());
    const auto rows = test::AuditRows(*clients.control, op);
    QCOMPARE(Count(rows, "rollout_step"), 0);
    QCOMPARE(Count(rows, "promote"), 0);
  }

  void anInconclusiveStepPausesAndSaysWhy() {
    QTemporaryDir dir;
    std::string error;
    auto agent = test::StartAgent(Config(dir), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string op = test::DemoToken(*agent, "operator");
    const std::string viewer = test::DemoToken(*agent, "viewer");

    // Refusals: a viewer, a plan that moves traffic back, a bad weight.
    QCOMPARE(Start(*clients.control, viewer, Plan({Step(1000, 5)})).error_code(),
             grpc::StatusCode::PERMISSION_DENIED);
    grpc::Status bad = Start(*clients.control, op, Plan({Step(5000, 5), Step(1000, 5)}));
    QCOMPARE(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(bad.error_message().find("step 2") != std::string::npos, bad.error_message().c_str());
    QCOMPARE(Start(*clients.control, op, Plan({Step(20000, 5)})).error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(Start(*clients.control, op, Plan({Step(5000, 5)}, true)).error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);  // promote needs a last step of 100 %
    QCOMPARE(Control(*clients.control, op, &v1::Agent::Stub::ResumeRollout).error_code(),
             grpc::StatusCode::FAILED_PRECONDITION);
    QCOMPARE(Control(*clients.control, op, &v1::Agent::Stub::AbortRollout).error_code(),
             grpc::StatusCode::FAILED_PRECONDITION);

    // No traffic at all: every check stays inconclusive.
    v1::RolloutPlan plan = Plan({Step(1000, 5), Step(5000, 5)});
    plan.set_max_extend_seconds(2);
    QVERIFY(Start(*clients.control, op, plan).ok());
    QTRY_VERIFY_WITH_TIMEOUT(
        test::State(*clients.control, op).rollout().phase() == v1::ROLLOUT_PAUSED, 15000);
    v1::AgentState state = test::State(*clients.control, op);
    QVERIFY2(state.rollout().detail().find("stayed inconclusive") != std::string::npos &&
                 state.rollout().detail().find("of 30") != std::string::npos,
             state.rollout().detail().c_str());
    QCOMPARE(state.split().candidate_basis_points(), 1000u);  // it keeps its weight
    auto rows = test::AuditRows(*clients.control, op);
    QCOMPARE(rows.back().action(), std::string("pause_rollout"));
    QCOMPARE(rows.back().actor(), std::string("rollout"));

    // Resumed, then a split set by hand pauses it; resume goes back to the step's weight.
    QVERIFY(Control(*clients.control, op, &v1::Agent::Stub::ResumeRollout, &state).ok());
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_BAKING);
    QCOMPARE(state.rollout().extended_seconds(), 0u);
    {
      grpc::ClientContext c;
      test::Prepare(c, op);
      v1::SetSplitRequest r;
      r.set_candidate_basis_points(300);
      r.set_expected_revision(state.split().revision());
      r.set_reason("less, while we look");
      QVERIFY(clients.control->SetSplit(&c, r, &state).ok());
    }
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_PAUSED);
    QVERIFY2(state.rollout().detail().find("by hand") != std::string::npos,
             state.rollout().detail().c_str());
    QVERIFY(Control(*clients.control, op, &v1::Agent::Stub::ResumeRollout, &state).ok());
    QCOMPARE(state.split().candidate_basis_points(), 1000u);
    QVERIFY(Control(*clients.control, op, &v1::Agent::Stub::PauseRollout, &state).ok());
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_PAUSED);
    QVERIFY(Control(*clients.control, op, &v1::Agent::Stub::AbortRollout, &state).ok());
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_ABORTED);
    QCOMPARE(state.split().candidate_basis_points(), 0u);
    rows = test::AuditRows(*clients.control, op);
    QCOMPARE(rows.back().action(), std::string("abort_rollout"));
    QCOMPARE(rows.back().actor(), std::string("demo-operator"));
  }

  void anOpenBreakerPausesThePlanAndBlocksPromotion() {
    QTemporaryDir dir;
    std::string error;
    auto agent = test::StartAgent(Config(dir), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string op = test::DemoToken(*agent, "operator");
    test::BackgroundLoad traffic(agent->DataAddress(), 600);
    QVERIFY(Start(*clients.control, op, Plan({Step(2000, 2), Step(10000, 2)}, true)).ok());
    // Every candidate request fails.
    QVERIFY(
        test::Drill(*clients.control, test::DemoToken(*agent, "admin"), v1::CANDIDATE, 0, 1, 120)
            .ok());
    // The breaker hides the failures from the analysis; the plan must not
    // read that as passing.
    QTRY_VERIFY_WITH_TIMEOUT(
        test::State(*clients.control, op).rollout().phase() == v1::ROLLOUT_PAUSED, 15000);
    v1::AgentState state = test::State(*clients.control, op);
    QVERIFY2(state.rollout().detail().find("circuit breaker") != std::string::npos,
             state.rollout().detail().c_str());
    QCOMPARE(state.rollout().step(), 0u);
    v1::PromoteRequest r;
    r.set_expected_revision(state.split().revision());
    r.set_reason("ship it anyway");
    grpc::ClientContext c;
    test::Prepare(c, op);
    const grpc::Status promoted = clients.control->Promote(&c, r, &state);
    QCOMPARE(promoted.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    QVERIFY2(promoted.error_message().find("circuit breaker") != std::string::npos,
             promoted.error_message().c_str());
  }

  void aRestartResumesAtTheStepItReached() {
    QTemporaryDir dir;
    const AgentConfig config = Config(dir);
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    auto clients = std::make_unique<test::Clients>(test::Connect(*agent));
    std::string op = test::DemoToken(*agent, "operator");
    auto traffic = std::make_unique<test::BackgroundLoad>(agent->DataAddress(), 600);
    QVERIFY(Start(*clients->control, op,
                  Plan({Step(1000, 2), Step(5000, 2, /*gate=*/true), Step(10000, 600)}))
                .ok());
    QTRY_VERIFY_WITH_TIMEOUT(
        test::State(*clients->control, op).rollout().phase() == v1::ROLLOUT_AT_GATE, 60000);

    auto restart = [&] {
      traffic.reset();
      clients.reset();
      agent.reset();
      agent = test::StartAgent(config, &error);
      if (!agent) return false;
      clients = std::make_unique<test::Clients>(test::Connect(*agent));
      op = test::DemoToken(*agent, "operator");
      traffic = std::make_unique<test::BackgroundLoad>(agent->DataAddress(), 600);
      return true;
    };
    QVERIFY2(restart(), error.c_str());
    v1::AgentState state = test::State(*clients->control, op);
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_AT_GATE);
    QCOMPARE(state.rollout().step(), 1u);
    QCOMPARE(state.split().candidate_basis_points(), 5000u);

    // Through the gate to the last step; a restart while it bakes goes on baking there.
    QVERIFY(Control(*clients->control, op, &v1::Agent::Stub::ResumeRollout).ok());
    QTRY_VERIFY_WITH_TIMEOUT(test::State(*clients->control, op).rollout().step() == 2u, 10000);
    QVERIFY2(restart(), error.c_str());
    state = test::State(*clients->control, op);
    QCOMPARE(state.rollout().phase(), v1::ROLLOUT_BAKING);
    QCOMPARE(state.rollout().step(), 2u);
    QCOMPARE(state.split().candidate_basis_points(), 10000u);
    QVERIFY2(state.rollout().detail().find("after a restart") != std::string::npos,
             state.rollout().detail().c_str());
    // And it still counts: at 100 % a second passes when nothing fails.
    QTRY_VERIFY_WITH_TIMEOUT(test::State(*clients->control, op).rollout().baked_seconds() >= 2,
                             15000);
    const auto rows = test::AuditRows(*clients->control, op);
    const auto start = std::find_if(rows.rbegin(), rows.rend(),
                                    [](const auto& r) { return r.action() == "start"; });
    QVERIFY(start != rows.rend());
    QVERIFY2(start->evidence().find("resumes at step 3 of 3") != std::string::npos,
             start->evidence().c_str());
  }
};

QTEST_GUILESS_MAIN(TestRollout)
#include "test_rollout.moc"
