// Data-plane protection. The breaker and the rate limit on a fake clock;
// then on a real in-process agent: the candidate's breaker opens after
// exactly N failures, its users are served by the baseline during the
// cool-down, trials close it once the fault is gone, each transition is
// audited; the baseline's breaker only reports; a rate limit holds the
// candidate to its ceiling under twice that load and spills the rest, and
// the baseline's refuses its excess with RESOURCE_EXHAUSTED.
#include <QtTest>

#include <thread>

#include "agent/load/load_generator.h"
#include "agent/routing/circuit_breaker.h"
#include "agent/routing/rate_limit.h"
#include "support/agent_test_support.h"
#include "support/http_test_client.h"

using namespace greylane;

namespace {
constexpr int64_t kSecond = 1'000'000'000;

grpc::Status ChangePolicy(v1::Agent::Stub& stub, const std::string& admin,
                          const std::function<void(v1::AnalysisPolicy*)>& change) {
  v1::AnalysisPolicy policy;
  {
    grpc::ClientContext c;
    test::Prepare(c, admin);
    if (grpc::Status s = stub.GetPolicy(&c, {}, &policy); !s.ok()) return s;
  }
  grpc::ClientContext c;
  test::Prepare(c, admin);
  v1::SetPolicyRequest r;
  change(&policy);
  *r.mutable_policy() = policy;
  r.set_reason("protect the canary");
  v1::AnalysisPolicy out;
  return stub.SetPolicy(&c, r, &out);
}

std::vector<v1::AuditEntry> Rows(v1::Agent::Stub& stub, const std::string& token,
                                 const std::string& action) {
  std::vector<v1::AuditEntry> rows;
  for (const auto& row : test::AuditRows(stub, token))
    if (row.action() == action) rows.push_back(row);
  return rows;
}

// Users the router sends to the candidate at `bp`.
std::vector<std::string> CandidateUsers(uint32_t bp, size_t count) {
  std::vector<std::string> users;
  for (int i = 0; users.size() < count; ++i) {
    const std::string user = "user-" + std::to_string(i);
    if (Router::BucketOf(user) < bp) users.push_back(user);
  }
  return users;
}
}  // namespace

class TestProtection final : public QObject {
  Q_OBJECT

 private slots:
  void breakerOpensAfterNFailuresAndTrialsCloseIt() {
    CircuitBreaker b;
    b.Configure(5, std::chrono::seconds(30));
    int64_t t = 100 * kSecond;
    for (int i = 0; i < 4; ++i) b.OnFailure(false, t, "boom");
    b.OnSuccess(false);  // a success in between starts the count again
    for (int i = 0; i < 4; ++i) b.OnFailure(false, t, "boom");
    QCOMPARE(b.Snapshot().state, BreakerState::kClosed);
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kAdmitted);
    b.OnFailure(false, t, "upstream 503");
    QCOMPARE(b.Snapshot().state, BreakerState::kOpen);
    auto events = b.TakeEvents();
    QCOMPARE(events.size(), size_t{1});
    QCOMPARE(events[0].to, BreakerState::kOpen);
    QCOMPARE(events[0].failures, 5u);
    QCOMPARE(events[0].last_error, std::string("upstream 503"));

    // Cool-down: diverted, or admitted where there is nowhere else to go.
    QCOMPARE(b.Admit(t + 29 * kSecond, true), BreakerAdmit::kRefused);
    QCOMPARE(b.Admit(t + 29 * kSecond, false), BreakerAdmit::kAdmitted);
    b.OnFailure(false, t, "late");  // admitted before it opened: says nothing new
    // Then one trial at a time; a failed trial opens it again.
    t += 30 * kSecond;
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kTrial);
    QCOMPARE(b.Snapshot().state, BreakerState::kHalfOpen);
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kRefused);
    b.OnFailure(true, t, "still down");
    QCOMPARE(b.Snapshot().state, BreakerState::kOpen);
    events = b.TakeEvents();
    QCOMPARE(events.size(), size_t{1});
    QVERIFY(events[0].reopened);
    QCOMPARE(b.Admit(t + kSecond, true), BreakerAdmit::kRefused);
    b.CountDiverted();
    // kTrialSuccesses trials in a row close it.
    t += 30 * kSecond;
    for (uint32_t i = 0; i < CircuitBreaker::kTrialSuccesses; ++i) {
      QCOMPARE(b.Admit(t, true), BreakerAdmit::kTrial);
      QCOMPARE(b.Snapshot().state, BreakerState::kHalfOpen);
      b.OnSuccess(true);
    }
    QCOMPARE(b.Snapshot().state, BreakerState::kClosed);
    events = b.TakeEvents();
    QCOMPARE(events.size(), size_t{1});
    QCOMPARE(events[0].to, BreakerState::kClosed);
    QCOMPARE(events[0].diverted, uint64_t{1});
    QCOMPARE(events[0].failed_trials, 1u);
    QCOMPARE(b.Snapshot().times_opened, uint64_t{2});
    // A client error frees the trial without deciding anything.
    for (int i = 0; i < 5; ++i) b.OnFailure(false, t, "x");
    t += 31 * kSecond;
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kTrial);
    b.OnNeutral(true);
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kTrial);
    // Turned off: closed, and failures never open it.
    b.Configure(0, std::chrono::seconds(30));
    QCOMPARE(b.Snapshot().state, BreakerState::kClosed);
    for (int i = 0; i < 50; ++i) b.OnFailure(false, t, "x");
    QCOMPARE(b.Admit(t, true), BreakerAdmit::kAdmitted);
  }

  void breakerOpensOnceUnderRacingFailures() {
    CircuitBreaker b;
    b.Configure(5, std::chrono::seconds(30));
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&b] {
        for (int j = 0; j < 1000; ++j) b.OnFailure(false, kSecond, "x");
      });
    }
    for (auto& t : threads) t.join();
    QCOMPARE(b.TakeEvents().size(), size_t{1});
    QCOMPARE(b.Snapshot().times_opened, uint64_t{1});
  }

  void rateLimitHoldsItsRateWithABurstOfATenth() {
    RateLimit unlimited;
    for (int i = 0; i < 1000; ++i) QVERIFY(unlimited.TryTake(0));
    RateLimit limit;
    limit.Configure(100);
    // Twice the rate, evenly, for 10 s.
    int admitted = 0;
    for (int i = 0; i < 2000; ++i) admitted += limit.TryTake(kSecond + i * (kSecond / 200));
    QVERIFY2(admitted >= 1000 && admitted <= 1010, std::to_string(admitted).c_str());
    // After an idle second the burst is a tenth of a second's worth.
    int burst = 0;
    while (limit.TryTake(20 * kSecond)) ++burst;
    QCOMPARE(burst, 10);
    limit.Configure(0);
    QVERIFY(limit.TryTake(20 * kSecond));
    // A low rate still lets a little jitter through (a burst of two), and a
    // new rate starts afresh: the old one's debt does not outlive it.
    limit.Configure(1);
    QVERIFY(limit.TryTake(30 * kSecond));
    QVERIFY(limit.TryTake(30 * kSecond));
    QVERIFY(!limit.TryTake(30 * kSecond));
    limit.Configure(1000);
    QVERIFY(limit.TryTake(30 * kSecond));
  }

  void candidateBreakerSendsItsUsersToTheBaseline() {
    constexpr uint32_t kBp = 5000;
    std::string error;
    auto agent = test::StartAgent(test::DemoTestConfig(kBp), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string viewer = test::DemoToken(*agent, "viewer");
    const std::string admin = test::DemoToken(*agent, "admin");
    QVERIFY(ChangePolicy(*clients.control, admin, [](v1::AnalysisPolicy* p) {
              p->set_breaker_cooldown_seconds(1);
            }).ok());
    QVERIFY(test::Drill(*clients.control, admin, v1::CANDIDATE, 0, 1.0, 600).ok());

    const auto request = test::DigitsRequest(test::Holdout()[0]);
    const std::vector<std::string> users = CandidateUsers(kBp, 40);
    inference::ModelInferResponse response;
    std::string slot;
    for (int i = 0; i < 5; ++i) {
      const grpc::Status s = test::Infer(*clients.data, request, &response, users[i], {}, &slot);
      QCOMPARE(s.error_code(), grpc::StatusCode::UNAVAILABLE);
      QCOMPARE(slot, std::string("candidate"));
    }
    // Exactly five: the sixth candidate user is served by the baseline.
    for (int i = 5; i < 15; ++i) {
      QVERIFY(test::Infer(*clients.data, request, &response, users[i], {}, &slot).ok());
      QCOMPARE(slot, std::string("baseline"));
      QCOMPARE(response.model_version(), std::string("v1"));
    }
    // Pinned to the candidate: refused, saying why.
    const grpc::Status pinned =
        test::Infer(*clients.data, request, &response, users[0], "candidate", &slot);
    QCOMPARE(pinned.error_code(), grpc::StatusCode::UNAVAILABLE);
    QVERIFY2(pinned.error_message().find("circuit breaker open") != std::string::npos,
             pinned.error_message().c_str());
    // Over REST too, naming the version whose breaker refused it.
    std::string pixels;
    for (const float p : test::Holdout()[0].pixels)
      pixels += (pixels.empty() ? "" : ",") + std::to_string(p);
    const test::Reply rest = test::Exchange(
        agent->HttpAddress(),
        test::Post("/v2/models/digits/versions/v2/infer",
                   R"({"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[)" +
                       pixels + "]}]}"));
    QCOMPARE(rest.status, 503);
    QVERIFY2(rest.head.find("x-greylane-version: v2\r\n") != std::string::npos, rest.head.c_str());
    QVERIFY2(rest.head.find("x-greylane-slot: candidate\r\n") != std::string::npos,
             rest.head.c_str());
    QVERIFY2(rest.body.find("circuit breaker open") != std::string::npos, rest.body.c_str());

    agent->Release().Housekeep();
    v1::AgentState state = test::State(*clients.control, viewer);
    QCOMPARE(state.breakers_size(), 2);
    QCOMPARE(state.breakers(1).slot(), v1::CANDIDATE);
    QCOMPARE(state.breakers(1).state(), v1::BREAKER_OPEN);
    QCOMPARE(state.breakers(1).failures_to_open(), 5u);
    QVERIFY(state.breakers(1).diverted() >= 11);
    QCOMPARE(state.breakers(0).state(), v1::BREAKER_CLOSED);
    auto opened = Rows(*clients.control, viewer, "breaker_open");
    QCOMPARE(opened.size(), size_t{1});
    QCOMPARE(opened[0].actor(), std::string("breaker"));
    QCOMPARE(opened[0].role(), std::string("system"));
    QVERIFY2(opened[0].reason().find("after 5 consecutive") != std::string::npos,
             opened[0].reason().c_str());
    QVERIFY2(opened[0].evidence().find("injected fault") != std::string::npos,
             opened[0].evidence().c_str());

    // The fault ends; after the cool-down, trials find the candidate well.
    QVERIFY(test::Drill(*clients.control, admin, v1::CANDIDATE, 0, 0, 0).ok());
    size_t next = 15;
    int served_by_candidate = 0;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
          if (!test::Infer(*clients.data, request, &response, users[next++ % users.size()], {},
                           &slot)
                   .ok())
            return false;
          served_by_candidate += slot == "candidate";
          return served_by_candidate > static_cast<int>(CircuitBreaker::kTrialSuccesses);
        }(),
        10000);
    agent->Release().Housekeep();
    state = test::State(*clients.control, viewer);
    QCOMPARE(state.breakers(1).state(), v1::BREAKER_CLOSED);
    QCOMPARE(state.breakers(1).times_opened(), uint64_t{1});
    auto closed = Rows(*clients.control, viewer, "breaker_close");
    QCOMPARE(closed.size(), size_t{1});
    QVERIFY2(closed[0].evidence().find("open for") != std::string::npos,
             closed[0].evidence().c_str());
    // Candidate users are the candidate's again.
    for (int i = 0; i < 5; ++i) {
      QVERIFY(test::Infer(*clients.data, request, &response, users[i], {}, &slot).ok());
      QCOMPARE(slot, std::string("candidate"));
    }
  }

  // A refusal by an open breaker says when trials start: Retry-After is the
  // cool-down left, not a second (shown over REST; the OpenAI routes read
  // the same admission).
  void anOpenBreakersRefusalSaysWhenToRetry() {
    std::string error;
    auto agent = test::StartAgent(test::DemoTestConfig(5000), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string admin = test::DemoToken(*agent, "admin");
    QVERIFY(ChangePolicy(*clients.control, admin, [](v1::AnalysisPolicy* p) {
              p->set_breaker_cooldown_seconds(40);
            }).ok());
    QVERIFY(test::Drill(*clients.control, admin, v1::CANDIDATE, 0, 1.0, 600).ok());
    const auto request = test::DigitsRequest(test::Holdout()[0]);
    inference::ModelInferResponse response;
    for (int i = 0; i < 5; ++i) {
      QCOMPARE(test::Infer(*clients.data, request, &response, "u", "candidate").error_code(),
               grpc::StatusCode::UNAVAILABLE);
    }
    const auto retry_after = [](const std::string& head) {
      const size_t at = head.find("Retry-After: ");
      return at == std::string::npos ? -1 : std::atoi(head.c_str() + at + 13);
    };
    std::string zeros = "0";
    for (int i = 1; i < 64; ++i) zeros += ",0";
    const test::Reply rest = test::Exchange(
        agent->HttpAddress(),
        test::Post("/v2/models/digits/versions/v2/infer",
                   R"({"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[)" +
                       zeros + "]}]}"));
    QCOMPARE(rest.status, 503);
    QVERIFY2(rest.body.find("circuit breaker open") != std::string::npos, rest.body.c_str());
    QVERIFY2(retry_after(rest.head) >= 30 && retry_after(rest.head) <= 40, rest.head.c_str());
  }

  void baselineBreakerOnlyReports() {
    std::string error;
    auto agent = test::StartAgent(test::DemoTestConfig(0), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string viewer = test::DemoToken(*agent, "viewer");
    const std::string admin = test::DemoToken(*agent, "admin");
    QVERIFY(test::Drill(*clients.control, admin, v1::BASELINE, 0, 1.0, 600).ok());
    const auto request = test::DigitsRequest(test::Holdout()[0]);
    inference::ModelInferResponse response;
    std::string slot;
    for (int i = 0; i < 10; ++i) {
      QCOMPARE(test::Infer(*clients.data, request, &response, "u" + std::to_string(i), {}, &slot)
                   .error_code(),
               grpc::StatusCode::UNAVAILABLE);
      QCOMPARE(slot, std::string("baseline"));  // never the candidate
    }
    agent->Release().Housekeep();
    const v1::AgentState state = test::State(*clients.control, viewer);
    QCOMPARE(state.breakers(0).state(), v1::BREAKER_OPEN);
    const auto opened = Rows(*clients.control, viewer, "breaker_open");
    QCOMPARE(opened.size(), size_t{1});
    QVERIFY2(opened[0].reason().find("the baseline keeps serving") != std::string::npos,
             opened[0].reason().c_str());
  }

  void rateLimitsHoldTheCandidateAndRefuseTheBaselinesExcess() {
    std::string error;
    auto agent = test::StartAgent(test::DemoTestConfig(10000), &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    const std::string admin = test::DemoToken(*agent, "admin");
    QVERIFY(ChangePolicy(*clients.control, admin, [](v1::AnalysisPolicy* p) {
              p->set_candidate_rate_limit(100);
            }).ok());
    // Every request is meant for the candidate, at twice its ceiling.
    LoadOptions load;
    load.target = agent->DataAddress();
    load.rps = 200;
    load.duration_s = 5;
    load.users = 5000;
    LoadReport report = RunLoad(load, {}, &error);
    QVERIFY2(error.empty(), error.c_str());
    QCOMPARE(report.total.errors, uint64_t{0});
    const uint64_t candidate = report.total.by_version["v2"].served;
    const uint64_t spilled = report.total.by_version["v1"].served;
    const double ceiling = 100 * report.elapsed_s;
    qInfo("candidate served %llu (ceiling %.0f over %.2f s), baseline took %llu",
          static_cast<unsigned long long>(candidate), ceiling, report.elapsed_s,
          static_cast<unsigned long long>(spilled));
    QVERIFY2(candidate >= 0.95 * ceiling && candidate <= 1.05 * ceiling,
             std::to_string(candidate).c_str());
    QCOMPARE(candidate + spilled, report.total.ok);
    const VersionTotals totals =
        agent->Pair()
            .RecorderAt(CanaryPair::SlotOf(ReleaseRole::kCandidate, agent->Pair().Split().Load()))
            .Snapshot();
    QCOMPARE(totals.spilled, spilled);

    // The baseline has nowhere to spill: its excess is refused and counted.
    QVERIFY(ChangePolicy(*clients.control, admin, [](v1::AnalysisPolicy* p) {
              p->set_candidate_rate_limit(0);
              p->set_baseline_rate_limit(50);
            }).ok());
    {
      grpc::ClientContext c;
      test::Prepare(c, admin);
      v1::SetSplitRequest r;
      r.set_candidate_basis_points(0);
      r.set_expected_revision(test::State(*clients.control, admin).split().revision());
      r.set_reason("baseline only");
      v1::AgentState out;
      QVERIFY(clients.control->SetSplit(&c, r, &out).ok());
    }
    load.rps = 100;
    load.duration_s = 4;
    report = RunLoad(load, {}, &error);
    QVERIFY2(error.empty(), error.c_str());
    const uint64_t refused = report.total.errors_by_code[grpc::StatusCode::RESOURCE_EXHAUSTED];
    qInfo("baseline served %llu of %llu, refused %llu (limit 50/s over %.2f s)",
          static_cast<unsigned long long>(report.total.ok),
          static_cast<unsigned long long>(report.total.sent),
          static_cast<unsigned long long>(refused), report.elapsed_s);
    QVERIFY(report.total.ok <= 50 * report.elapsed_s * 1.05);
    QVERIFY(refused >= 0.4 * static_cast<double>(report.total.sent));
    QVERIFY2(report.total.first_error_message[grpc::StatusCode::RESOURCE_EXHAUSTED].find(
                 "rate limit of 50") != std::string::npos,
             report.total.first_error_message[grpc::StatusCode::RESOURCE_EXHAUSTED].c_str());
    const VersionTotals baseline =
        agent->Pair()
            .RecorderAt(CanaryPair::SlotOf(ReleaseRole::kBaseline, agent->Pair().Split().Load()))
            .Snapshot();
    QCOMPARE(baseline.rate_limited, refused);
  }
};

QTEST_GUILESS_MAIN(TestProtection)
#include "test_protection.moc"
