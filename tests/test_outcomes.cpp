// Outcome quality end to end on a real agent: every answer carries a
// request id; RecordOutcome counts the caller's ground truth for the
// version that answered (in that version's MetricsFrame window), refuses
// what cannot be counted with a reason, and the predicted classes of every
// answer are counted per version.
#include <QtTest>

#include <grpcpp/create_channel.h>

#include "support/agent_test_support.h"

using namespace greylane;

namespace {

struct Served {
  std::string id, trailer_id, version;
  int predicted = -1;
};

// One answered request (pinned to a role, so the test knows who answers).
Served Ask(inference::GRPCInferenceService::Stub& data, const DigitsRow& row,
           const std::string& pin, const std::string& caller_id = {}) {
  inference::ModelInferRequest request = test::DigitsRequest(row);
  if (!caller_id.empty()) request.set_id(caller_id);
  grpc::ClientContext context;
  test::SetDeadline(context);
  context.AddMetadata("x-greylane-version", pin);
  inference::ModelInferResponse response;
  Served s;
  if (!data.ModelInfer(&context, request, &response).ok()) return s;
  s.id = response.id();
  s.version = response.model_version();
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find("x-greylane-request-id");
  if (it != trailers.end()) s.trailer_id.assign(it->second.data(), it->second.size());
  const std::vector<float> p = test::Probabilities(response);
  if (p.size() == 10) s.predicted = test::ArgMax(p.data());
  return s;
}

grpc::Status Record(v1::Outcomes::Stub& outcomes, const std::string& id, const std::string* label,
                    const bool* correct, v1::RecordOutcomeResponse* out = nullptr) {
  grpc::ClientContext context;
  test::SetDeadline(context);
  v1::RecordOutcomeRequest r;
  r.set_request_id(id);
  if (label) r.set_label(*label);
  if (correct) r.set_correct(*correct);
  v1::RecordOutcomeResponse ignored;
  return outcomes.RecordOutcome(&context, r, out ? out : &ignored);
}

struct Counted {
  uint64_t outcomes = 0, incorrect = 0, predictions = 0;
};

}  // namespace

class TestOutcomes final : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    std::string error;
    m_agent = test::StartAgent(test::DemoTestConfig(5000), &error);
    QVERIFY2(m_agent, error.c_str());
    m_clients = test::Connect(*m_agent);
    m_outcomes = v1::Outcomes::NewStub(
        grpc::CreateChannel(m_agent->DataAddress(), grpc::InsecureChannelCredentials()));
    m_admin = test::DemoToken(*m_agent, "admin");
  }

  void everyAnswerCarriesARequestId() {
    const Served given = Ask(*m_clients.data, test::Holdout()[0], "baseline");
    QVERIFY2(given.id.rfind("gl-", 0) == 0, given.id.c_str());
    QVERIFY(given.trailer_id.empty());  // the body has it
    const Served next = Ask(*m_clients.data, test::Holdout()[0], "baseline");
    QVERIFY(next.id != given.id);
    const Served own = Ask(*m_clients.data, test::Holdout()[0], "candidate", "order-42");
    QCOMPARE(own.id, std::string("order-42"));
    // A refused request has one too, in its trailers.
    inference::ModelInferRequest bad = test::DigitsRequest(test::Holdout()[0]);
    bad.set_model_name("nope");
    grpc::ClientContext context;
    test::SetDeadline(context);
    inference::ModelInferResponse response;
    QCOMPARE(m_clients.data->ModelInfer(&context, bad, &response).error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto id = trailers.find("x-greylane-request-id");
    QVERIFY(id != trailers.end());
    QVERIFY(std::string(id->second.data(), id->second.size()).rfind("gl-", 0) == 0);
  }

  // Labels for 40 answers of each version, a quarter of them deliberately
  // false: each answer says whether it was right, and the frames count
  // exactly these outcomes, and every answer's predicted class, per version.
  void outcomesCountForTheVersionThatAnswered() {
    grpc::ClientContext watch;
    test::Prepare(watch, m_admin, 60);
    auto frames = m_clients.control->WatchMetrics(&watch, {});
    v1::MetricsFrame frame;
    QVERIFY(frames->Read(&frame));
    std::map<std::string, Counted> expected;
    for (int i = 0; i < 80; ++i) {
      const DigitsRow& row = test::Holdout()[static_cast<size_t>(i)];
      const Served s = Ask(*m_clients.data, row, i % 2 ? "candidate" : "baseline");
      QVERIFY(!s.id.empty() && s.predicted >= 0);
      const bool lie = i % 4 == 0;
      const std::string label = std::to_string(lie ? (s.predicted + 1) % 10 : s.predicted);
      v1::RecordOutcomeResponse answer;
      const grpc::Status status = Record(*m_outcomes, s.id, &label, nullptr, &answer);
      QVERIFY2(status.ok(), status.error_message().c_str());
      QCOMPARE(answer.version(), s.version);
      QCOMPARE(answer.correct(), !lie);
      QCOMPARE(answer.predicted(), s.predicted);
      Counted& c = expected[s.version];
      ++c.outcomes;
      c.incorrect += lie ? 1 : 0;
      ++c.predictions;
    }
    std::map<std::string, Counted> seen;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 10000 && (seen["v1"].outcomes < expected["v1"].outcomes ||
                                       seen["v2"].outcomes < expected["v2"].outcomes)) {
      QVERIFY(frames->Read(&frame));
      for (const v1::VersionWindow& w : frame.versions()) {
        Counted& c = seen[w.version()];
        c.outcomes += w.outcomes();
        c.incorrect += w.incorrect();
        for (const uint64_t k : w.predictions()) c.predictions += k;
      }
    }
    watch.TryCancel();
    for (const char* version : {"v1", "v2"}) {
      QCOMPARE(seen[version].outcomes, expected[version].outcomes);
      QCOMPARE(seen[version].incorrect, expected[version].incorrect);
      QCOMPARE(seen[version].predictions, expected[version].predictions);
    }
  }

  void whatCannotBeCountedIsRefusedWithAReason() {
    const Served s = Ask(*m_clients.data, test::Holdout()[1], "candidate");
    const std::string label = "3", bad_label = "three", minus = "-1";
    const bool yes = true;
    auto code = [&](const std::string& id, const std::string* l, const bool* c) {
      return Record(*m_outcomes, id, l, c).error_code();
    };
    QCOMPARE(code("gl-never-served", &label, nullptr), grpc::StatusCode::NOT_FOUND);
    QCOMPARE(code("", &label, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(code(std::string(300, 'x'), &label, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(code(s.id, nullptr, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
    const grpc::Status words = Record(*m_outcomes, s.id, &bad_label, nullptr);
    QCOMPARE(words.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(words.error_message().find("class index") != std::string::npos,
             words.error_message().c_str());
    QCOMPARE(code(s.id, &minus, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
    // The digits model scores classes 0 to 9: a one-based "10" is refused.
    const std::string ten = "10";
    const grpc::Status not_a_class = Record(*m_outcomes, s.id, &ten, nullptr);
    QCOMPARE(not_a_class.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(not_a_class.error_message().find("0 to 9") != std::string::npos,
             not_a_class.error_message().c_str());
    // Refusals did not use the request up.
    QVERIFY(Record(*m_outcomes, s.id, nullptr, &yes).ok());
    QCOMPARE(code(s.id, nullptr, &yes), grpc::StatusCode::ALREADY_EXISTS);

    // A batch has no single predicted class: a label is refused, correct is not.
    std::vector<const DigitsRow*> rows = {&test::Holdout()[2], &test::Holdout()[3]};
    inference::ModelInferResponse response;
    QVERIFY(test::Infer(*m_clients.data, test::DigitsRequest(rows), &response, "u").ok());
    const grpc::Status batch = Record(*m_outcomes, response.id(), &label, nullptr);
    QCOMPARE(batch.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    QVERIFY2(batch.error_message().find("correct=true/false") != std::string::npos,
             batch.error_message().c_str());
    QVERIFY(Record(*m_outcomes, response.id(), nullptr, &yes).ok());

    // Damaged bytes: INVALID_ARGUMENT, not a crash or a silent drop.
    QCOMPARE(test::RawUnary(m_agent->DataAddress(), "/greylane.v1.Outcomes/RecordOutcome",
                            std::string("\x0a\xff\xff", 3))
                 .error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
  }

  // After the candidate is replaced, its old answers' outcomes are refused
  // (they would be counted for the new version).
  void aReplacedVersionsOutcomesAreNotCounted() {
    const Served s = Ask(*m_clients.data, test::Holdout()[4], "candidate");
    QCOMPARE(s.version, std::string("v2"));
    v1::AgentState state = test::State(*m_clients.control, m_admin);
    {
      grpc::ClientContext c;
      test::Prepare(c, m_admin);
      v1::SetSplitRequest r;
      r.set_candidate_basis_points(0);
      r.set_expected_revision(state.split().revision());
      r.set_reason("make room for v3");
      QVERIFY(m_clients.control->SetSplit(&c, r, &state).ok());
    }
    grpc::ClientContext c;
    test::Prepare(c, m_admin, 60);
    v1::LoadCandidateRequest r;
    r.mutable_spec()->set_version("v3");
    r.mutable_spec()->set_backend("builtin");
    r.mutable_spec()->set_model_file(test::ModelsDir() + "/digits-v1.glm");
    r.set_expected_revision(state.split().revision());
    r.set_reason("v3");
    const grpc::Status loaded = m_clients.control->LoadCandidate(&c, r, &state);
    QVERIFY2(loaded.ok(), loaded.error_message().c_str());
    const bool yes = true;
    const grpc::Status late = Record(*m_outcomes, s.id, nullptr, &yes);
    QCOMPARE(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    QVERIFY2(late.error_message().find("replaced") != std::string::npos,
             late.error_message().c_str());
  }

  void cleanupTestCase() {
    m_outcomes.reset();
    m_clients = {};
    m_agent.reset();
  }

 private:
  std::unique_ptr<CanaryAgent> m_agent;
  test::Clients m_clients;
  std::unique_ptr<v1::Outcomes::Stub> m_outcomes;
  std::string m_admin;
};

QTEST_GUILESS_MAIN(TestOutcomes)
#include "test_outcomes.moc"
