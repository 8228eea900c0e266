// The agent as a client sees it, over real gRPC on 127.0.0.1:0: correct
// answers, exact per-version counts in the live stream, split changes that
// apply to the very next request, pins, bad input, and the upstream backend.
#include <QtTest>

#include <limits>
#include <random>

#include <grpcpp/create_channel.h>
#include <grpcpp/health_check_service_interface.h>

#include "common/audit_proto.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "support/agent_test_support.h"

using namespace greylane;
using test::Infer;

namespace {

struct Totals {
  uint64_t requests[2] = {0, 0};
  uint64_t server_errors[2] = {0, 0};
  uint64_t client_errors[2] = {0, 0};
  uint64_t sketch_count[2] = {0, 0};
  uint64_t frames = 0;
  uint64_t All() const { return requests[0] + requests[1]; }
};

// The candidate "v2-remote" is the upstream agent's v2, over OIP gRPC.
void UpstreamCandidate(AgentConfig* config, const std::string& address) {
  config->candidate.version = "v2-remote";
  config->candidate.backend = "oip-grpc";
  config->candidate.upstream.address = address;
  config->candidate.upstream.model = "digits";
  config->candidate.upstream.version = "v2";
  config->candidate.upstream.deadline = std::chrono::milliseconds(500);
}

void Add(Totals* t, const v1::MetricsFrame& frame) {
  ++t->frames;
  for (const auto& v : frame.versions()) {
    const int i = v.slot() == v1::BASELINE ? 0 : 1;
    t->requests[i] += v.requests();
    t->server_errors[i] += v.server_errors();
    t->client_errors[i] += v.client_errors();
    LatencySketch sketch;
    if (LatencySketch::FromProto(v.latency(), &sketch)) t->sketch_count[i] += sketch.Count();
  }
}

v1::AgentState GetState(v1::Agent::Stub& stub, const std::string& token) {
  grpc::ClientContext context;
  test::Prepare(context, token);
  v1::AgentState state;
  const grpc::Status status = stub.GetState(&context, {}, &state);
  if (!status.ok()) qFatal("GetState: %s", status.error_message().c_str());
  return state;
}

grpc::Status SetSplit(v1::Agent::Stub& stub, const std::string& token, uint32_t bp,
                      uint64_t revision, const std::string& reason, v1::AgentState* state) {
  grpc::ClientContext context;
  test::Prepare(context, token);
  v1::SetSplitRequest request;
  request.set_candidate_basis_points(bp);
  request.set_expected_revision(revision);
  request.set_reason(reason);
  return stub.SetSplit(&context, request, state);
}

}  // namespace

class TestAgentE2E final : public QObject {
  Q_OBJECT

  std::unique_ptr<CanaryAgent> m_agent;
  test::Clients m_clients;
  std::string m_token;  // the demo operator

 private slots:
  void init() {
    std::string error;
    m_agent = test::StartAgent(test::DemoTestConfig(500), &error);
    QVERIFY2(m_agent, error.c_str());
    m_clients = test::Connect(*m_agent);
    m_token = test::DemoToken(*m_agent, "operator");
  }

  void cleanup() {
    m_clients = {};
    m_agent.reset();
  }

  void answersCorrectProbabilities() {
    for (const char* version : {"v1", "v2"}) {
      int correct = 0;
      for (const DigitsRow& row : test::Holdout()) {
        auto request = test::DigitsRequest(row);
        request.set_model_version(version);
        request.set_id("req-" + std::to_string(correct));
        inference::ModelInferResponse response;
        const grpc::Status status = Infer(*m_clients.data, request, &response);
        QVERIFY2(status.ok(), status.error_message().c_str());
        QCOMPARE(response.model_version(), std::string(version));
        QCOMPARE(response.model_name(), std::string("digits"));
        QCOMPARE(response.id(), request.id());
        const auto p = test::Probabilities(response);
        QCOMPARE(p.size(), 10u);
        correct += test::ArgMax(p.data()) == row.label;
      }
      const double accuracy = static_cast<double>(correct) / test::Holdout().size();
      qInfo("%s accuracy over the agent: %.4f", version, accuracy);
      QVERIFY(accuracy >= 0.90);
    }
    // A batch, in typed contents, answers in typed contents, row by row.
    std::vector<const DigitsRow*> rows;
    for (size_t i = 0; i < 16; ++i) rows.push_back(&test::Holdout()[i]);
    inference::ModelInferResponse response;
    QVERIFY(Infer(*m_clients.data, test::DigitsRequest(rows, false), &response).ok());
    QCOMPARE(response.outputs(0).shape(0), 16);
    QCOMPARE(response.outputs(0).contents().fp32_contents_size(), 160);
  }

  void framesCountExactlyTheRequestsSent() {
    grpc::ClientContext context;
    test::Prepare(context, m_token, 30);
    v1::WatchMetricsRequest request;
    auto reader = m_clients.control->WatchMetrics(&context, request);
    v1::MetricsFrame frame;
    QVERIFY(reader->Read(&frame));  // the stream is live; nothing was sent before it

    const int ok_requests = 400;
    int bad_requests = 0;
    for (int i = 0; i < ok_requests; ++i) {
      inference::ModelInferResponse response;
      QVERIFY(Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[i % 300]), &response,
                    "user-" + std::to_string(i))
                  .ok());
    }
    auto bad = test::DigitsRequest(test::Holdout()[0]);
    bad.mutable_inputs(0)->set_datatype("FP64");
    for (int i = 0; i < 9; ++i, ++bad_requests) {
      inference::ModelInferResponse response;
      QCOMPARE(Infer(*m_clients.data, bad, &response, "bad-" + std::to_string(i)).error_code(),
               grpc::StatusCode::INVALID_ARGUMENT);
    }

    Totals totals;
    Add(&totals, frame);
    QCOMPARE(totals.All(), 0ull);
    const uint64_t expected = ok_requests + bad_requests;
    while (totals.All() < expected && reader->Read(&frame)) Add(&totals, frame);
    // One more whole second: nothing further may be counted.
    QVERIFY(reader->Read(&frame));
    Add(&totals, frame);
    QCOMPARE(totals.All(), expected);
    QCOMPARE(totals.client_errors[0] + totals.client_errors[1], uint64_t(bad_requests));
    QCOMPARE(totals.server_errors[0] + totals.server_errors[1], 0ull);
    QCOMPARE(totals.sketch_count[0] + totals.sketch_count[1], uint64_t(ok_requests));
    QVERIFY2(totals.requests[1] > 0 && totals.requests[1] < 60,
             "about 5 % of 409 should reach the candidate");
    QCOMPARE(frame.agent_id(), std::string("test-agent"));
    QCOMPARE(frame.candidate_basis_points(), 500u);
    context.TryCancel();
  }

  void backfillReplaysHistoryFirst() {
    grpc::ClientContext first;
    test::Prepare(first, m_token, 30);
    auto live = m_clients.control->WatchMetrics(&first, {});
    v1::MetricsFrame frame;
    for (int i = 0; i < 3; ++i) QVERIFY(live->Read(&frame));  // three seconds of history exist
    first.TryCancel();

    grpc::ClientContext context;
    test::Prepare(context, m_token, 30);
    v1::WatchMetricsRequest request;
    request.set_backfill_seconds(900);
    auto reader = m_clients.control->WatchMetrics(&context, request);
    int history = 0;
    uint64_t previous = 0;
    while (reader->Read(&frame) && frame.backfill()) {
      ++history;
      QVERIFY(frame.sequence() > previous);
      previous = frame.sequence();
    }
    QVERIFY2(history >= 3, qPrintable(QString::number(history)));
    QVERIFY(!frame.backfill());
    QVERIFY(frame.sequence() > previous);  // live frames follow without gap or repeat
    context.TryCancel();
  }

  void slowSubscriberCostsOnlyItself() {
    // Two subscribers: one never reads (its gRPC buffers fill), one reads.
    // Frames are sealed far faster than once a second, each in step with
    // the reader, and fat (wide sketches), so the stalled stream overflows.
    grpc::ClientContext stalled_context, reader_context;
    test::Prepare(stalled_context, m_token, 60);
    test::Prepare(reader_context, m_token, 60);
    auto stalled = m_clients.control->WatchMetrics(&stalled_context, {});
    auto reader = m_clients.control->WatchMetrics(&reader_context, {});
    v1::MetricsFrame frame;
    QVERIFY(stalled->Read(&frame));  // both are subscribed now
    QVERIFY(reader->Read(&frame));
    uint64_t last = frame.sequence();

    VersionRecorder& recorder = m_agent->Pair().Recorder(ReleaseRole::kBaseline);
    const WindowSource sources[] = {{v1::BASELINE, "v1", &recorder}};
    const int frames = 3000;
    int served_during_stall = 0;
    for (int i = 0; i < frames; ++i) {
      for (uint64_t ns = 1000; ns < 1'000'000'000; ns = ns * 101 / 100) recorder.RecordOk(ns);
      m_agent->Hub().Seal(i, 1, 0, sources);
      // The reader sees every frame, in order, none dropped (the ticker may
      // interleave its own frames; they count too).
      do {
        QVERIFY(reader->Read(&frame));
        QCOMPARE(frame.dropped_before(), 0ull);
        QCOMPARE(frame.sequence(), last + 1);
        last = frame.sequence();
      } while (frame.window_end_unix_ms() != i);
      if (i % 500 == 0) {
        inference::ModelInferResponse response;
        served_during_stall +=
            Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[0]), &response).ok();
      }
    }
    QCOMPARE(served_during_stall, frames / 500);
    // The stalled subscriber, reading at last, learns what it lost.
    uint64_t dropped = 0;
    while (dropped == 0 && stalled->Read(&frame)) dropped = frame.dropped_before();
    QVERIFY2(dropped > 0, "the stalled subscriber should have lost frames");
    qInfo("stalled subscriber lost %llu frames; the reader lost none",
          static_cast<unsigned long long>(dropped));
    stalled_context.TryCancel();
    reader_context.TryCancel();
  }

  void splitChangeAppliesToTheNextRequest() {
    v1::AgentState state = GetState(*m_clients.control, m_token);
    QCOMPARE(state.split().candidate_basis_points(), 500u);
    QCOMPARE(state.versions_size(), 2);
    QCOMPARE(state.versions(0).health(), v1::HEALTHY);
    QCOMPARE(state.versions(1).version(), std::string("v2"));

    const auto request = test::DigitsRequest(test::Holdout()[7]);
    for (const uint32_t bp : {0u, 10000u, 0u}) {
      grpc::Status status =
          SetSplit(*m_clients.control, m_token, bp, state.split().revision(), "e2e test", &state);
      QVERIFY2(status.ok(), status.error_message().c_str());
      QCOMPARE(state.split().candidate_basis_points(), bp);
      const std::string want_version = bp == 0 ? "v1" : "v2";
      const std::string want_slot = bp == 0 ? "baseline" : "candidate";
      for (int u = 0; u < 300; ++u) {
        inference::ModelInferResponse response;
        std::string slot;
        QVERIFY(Infer(*m_clients.data, request, &response, "user-" + std::to_string(u), {}, &slot)
                    .ok());
        QCOMPARE(response.model_version(), want_version);
        QCOMPARE(slot, want_slot);
      }
    }
  }

  void setSplitValidates() {
    v1::AgentState state = GetState(*m_clients.control, m_token);
    const uint64_t revision = state.split().revision();
    v1::AgentState ignored;
    grpc::Status status =
        SetSplit(*m_clients.control, m_token, 10001, revision, "too much", &ignored);
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(QString::fromStdString(status.error_message()).contains("0..10000"));
    status = SetSplit(*m_clients.control, m_token, 100, revision, "", &ignored);
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(QString::fromStdString(status.error_message()).contains("a reason is required"));
    status = SetSplit(*m_clients.control, m_token, 100, revision, std::string(2000, 'x'), &ignored);
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    status = SetSplit(*m_clients.control, m_token, 100, revision + 5, "stale", &ignored);
    QCOMPARE(status.error_code(), grpc::StatusCode::ABORTED);
    QVERIFY2(QString::fromStdString(status.error_message()).contains("the split is now 500 bp"),
             status.error_message().c_str());
    QCOMPARE(GetState(*m_clients.control, m_token).split().revision(), revision);  // unchanged
  }

  void pinsWinOverTheSplit() {
    v1::AgentState state = GetState(*m_clients.control, m_token);
    QVERIFY(
        SetSplit(*m_clients.control, m_token, 0, state.split().revision(), "pins", &state).ok());
    auto request = test::DigitsRequest(test::Holdout()[1]);
    inference::ModelInferResponse response;
    request.set_model_version("v2");
    QVERIFY(Infer(*m_clients.data, request, &response, "user-1").ok());
    QCOMPARE(response.model_version(), std::string("v2"));
    request.clear_model_version();
    std::string slot;
    QVERIFY(Infer(*m_clients.data, request, &response, "user-1", "candidate", &slot).ok());
    QCOMPARE(response.model_version(), std::string("v2"));
    QCOMPARE(slot, std::string("candidate"));
    QVERIFY(Infer(*m_clients.data, request, &response, "user-1", "baseline").ok());
    QCOMPARE(response.model_version(), std::string("v1"));
  }

  void badInputIsAClientErrorAndNeverStalls_data() {
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("unknown model") << 0 << "unknown model 'mnist'";
    QTest::newRow("unknown version pin") << 1 << "version 'v9' is not served here";
    QTest::newRow("wrong datatype") << 2 << "datatype 'BYTES'";
    QTest::newRow("shape does not match data") << 3 << "needs 512 bytes of raw data, got 256";
    QTest::newRow("empty input") << 4 << "expected 1 input tensor, got 0";
    QTest::newRow("garbage raw bytes") << 5 << "needs 256 bytes";
  }
  void badInputIsAClientErrorAndNeverStalls() {
    QFETCH(int, kind);
    QFETCH(QString, expected);
    auto request = test::DigitsRequest(test::Holdout()[2]);
    switch (kind) {
      case 0:
        request.set_model_name("mnist");
        break;
      case 1:
        request.set_model_version("v9");
        break;
      case 2:
        request.mutable_inputs(0)->set_datatype("BYTES");
        break;
      case 3:
        request.mutable_inputs(0)->set_shape(0, 2);
        break;
      case 4:
        request.clear_inputs();
        request.clear_raw_input_contents();
        break;
      case 5:
        request.set_raw_input_contents(0, std::string(7, '\xff'));
        break;
    }
    const uint64_t before =
        m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().client_errors +
        m_agent->Pair().Recorder(ReleaseRole::kCandidate).Snapshot().client_errors;
    inference::ModelInferResponse response;
    const grpc::Status status = Infer(*m_clients.data, request, &response, "user-5");
    QCOMPARE(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(QString::fromStdString(status.error_message()).contains(expected),
             status.error_message().c_str());
    const uint64_t after =
        m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().client_errors +
        m_agent->Pair().Recorder(ReleaseRole::kCandidate).Snapshot().client_errors;
    QCOMPARE(after, before + 1);
    QCOMPARE(m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().server_errors, 0ull);
    // And the next good request is served.
    QVERIFY(Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[2]), &response).ok());
  }

  void randomMalformedRequestsAreAnsweredNeverFatal() {
    // Random damage to valid requests: every one must get an answer (OK or
    // INVALID_ARGUMENT), and the agent must keep serving afterwards.
    std::mt19937 rng(20261122);
    const char* datatypes[] = {"FP32", "FP16", "BYTES", "INT64", "", "fp32", "FP32\n"};
    int answered = 0;
    const int rounds = 1500;
    for (int i = 0; i < rounds; ++i) {
      auto request = test::DigitsRequest(test::Holdout()[rng() % 50], rng() % 2);
      auto* input = request.mutable_inputs(0);
      switch (rng() % 9) {
        case 0:
          input->set_shape(rng() % 2, static_cast<int64_t>(rng()) - (1ll << 31));
          break;
        case 1:
          input->set_datatype(datatypes[rng() % 7]);
          break;
        case 2:
          input->add_shape(static_cast<int64_t>(rng() % 5));
          break;
        case 3:
          input->clear_shape();
          break;
        case 4:
          if (request.raw_input_contents_size()) {
            request.mutable_raw_input_contents(0)->resize(rng() % 600);
          }
          break;
        case 5:
          input->set_shape(0, std::numeric_limits<int64_t>::max());
          break;
        case 6:
          request.add_inputs()->set_name(std::string(rng() % 5000, 'x'));
          break;
        case 7:
          request.add_raw_input_contents(std::string(rng() % 100, '\x7f'));
          break;
        case 8:
          request.set_model_version(std::string(1, static_cast<char>(rng() % 128)));
          break;
      }
      inference::ModelInferResponse response;
      const grpc::Status status =
          Infer(*m_clients.data, request, &response, "fuzz-" + std::to_string(rng() % 100));
      QVERIFY2(status.ok() || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT,
               status.error_message().c_str());
      ++answered;
    }
    QCOMPARE(answered, rounds);
    inference::ModelInferResponse response;
    QVERIFY(Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[0]), &response).ok());
    QCOMPARE(m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().server_errors, 0ull);
  }

  void healthAndMetadata() {
    auto channel = grpc::CreateChannel(m_agent->DataAddress(), grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext health_context;
    test::SetDeadline(health_context);
    grpc::health::v1::HealthCheckResponse health_response;
    QVERIFY(health->Check(&health_context, {}, &health_response).ok());
    QCOMPARE(health_response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

    grpc::ClientContext context;
    test::SetDeadline(context);
    inference::ServerReadyResponse ready;
    QVERIFY(m_clients.data->ServerReady(&context, {}, &ready).ok());
    QVERIFY(ready.ready());

    grpc::ClientContext meta_context;
    test::SetDeadline(meta_context);
    inference::ModelMetadataRequest meta_request;
    meta_request.set_name("digits");
    inference::ModelMetadataResponse meta;
    QVERIFY(m_clients.data->ModelMetadata(&meta_context, meta_request, &meta).ok());
    QCOMPARE(meta.versions_size(), 2);
    QCOMPARE(meta.inputs(0).name(), std::string("input"));
    QCOMPARE(meta.inputs(0).shape(1), 64);
    QCOMPARE(meta.outputs(0).shape(1), 10);

    grpc::ClientContext model_ready_context;
    test::SetDeadline(model_ready_context);
    inference::ModelReadyRequest model_ready_request;
    model_ready_request.set_name("digits");
    model_ready_request.set_version("v9");
    inference::ModelReadyResponse model_ready;
    QCOMPARE(m_clients.data->ModelReady(&model_ready_context, model_ready_request, &model_ready)
                 .error_code(),
             grpc::StatusCode::NOT_FOUND);
  }

  void upstreamBackendForwardsAndFailsAsServerErrors() {
    // The front agent's candidate is served by this test's agent, upstream.
    AgentConfig config = test::DemoTestConfig(0);
    config.agent_id = "front";
    UpstreamCandidate(&config, m_agent->DataAddress());
    std::string error;
    auto front = test::StartAgent(config, &error);
    QVERIFY2(front, error.c_str());
    test::Clients clients = test::Connect(*front);
    QCOMPARE(front->Pair().Health(ReleaseRole::kCandidate).health, v1::HEALTHY);

    int correct = 0;
    for (int i = 0; i < 100; ++i) {
      const DigitsRow& row = test::Holdout()[static_cast<size_t>(i)];
      inference::ModelInferResponse response;
      const grpc::Status status =
          Infer(*clients.data, test::DigitsRequest(row), &response, {}, "candidate");
      QVERIFY2(status.ok(), status.error_message().c_str());
      QCOMPARE(response.model_version(), std::string("v2-remote"));
      correct += test::ArgMax(test::Probabilities(response).data()) == row.label;
    }
    QVERIFY(correct >= 90);

    // The upstream judges a bad tensor: a client error, not the candidate's fault.
    auto bad = test::DigitsRequest(test::Holdout()[0]);
    bad.mutable_inputs(0)->set_shape(1, 32);
    inference::ModelInferResponse response;
    QCOMPARE(Infer(*clients.data, bad, &response, {}, "candidate").error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(front->Pair().Recorder(ReleaseRole::kCandidate).Snapshot().client_errors, 1ull);

    m_clients = {};
    m_agent.reset();  // the upstream goes away
    const grpc::Status down =
        Infer(*clients.data, test::DigitsRequest(test::Holdout()[0]), &response, {}, "candidate");
    QVERIFY(!down.ok());
    QVERIFY2(QString::fromStdString(down.error_message()).startsWith("upstream "),
             down.error_message().c_str());
    QCOMPARE(front->Pair().Recorder(ReleaseRole::kCandidate).Snapshot().server_errors, 1ull);
    front->ProbeOnce();
    QCOMPARE(front->Pair().Health(ReleaseRole::kCandidate).health, v1::UNHEALTHY);
    // The baseline keeps serving.
    QVERIFY(Infer(*clients.data, test::DigitsRequest(test::Holdout()[0]), &response).ok());
    QCOMPARE(response.model_version(), std::string("v1"));
  }

  void changesCarryTheirStepAndHistoryIsServed() {
    grpc::ClientContext watch;
    test::Prepare(watch, m_token, 30);
    auto reader = m_clients.control->WatchMetrics(&watch, {});
    v1::MetricsFrame frame;
    QVERIFY(reader->Read(&frame));
    const int sent = 300;
    for (int i = 0; i < sent; ++i) {
      inference::ModelInferResponse response;
      QVERIFY(Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[i % 300]), &response,
                    "user-" + std::to_string(i))
                  .ok());
    }
    Totals totals;
    while (totals.All() < uint64_t(sent) && reader->Read(&frame)) Add(&totals, frame);
    watch.TryCancel();
    v1::AgentState state = GetState(*m_clients.control, m_token);
    QVERIFY(
        SetSplit(*m_clients.control, m_token, 1000, state.split().revision(), "step two", &state)
            .ok());

    grpc::ClientContext list_context;
    test::Prepare(list_context, m_token);
    v1::ListAuditRequest request;
    request.set_limit(1000);
    v1::ListAuditResponse trail;
    QVERIFY(m_clients.control->ListAudit(&list_context, request, &trail).ok());
    const v1::AuditEntry& row = trail.entries(trail.entries_size() - 1);
    QCOMPARE(row.action(), std::string("set_split"));
    QVERIFY2(row.has_step(), "an applied change carries the step it ends");
    const v1::AuditStep& step = row.step();
    QCOMPARE(step.candidate_basis_points(), 500u);
    QVERIFY(step.ended_unix_ms() > step.started_unix_ms());
    QCOMPARE(step.versions_size(), 2);
    QCOMPARE(step.versions(0).slot(), std::string("baseline"));
    QCOMPARE(step.versions(0).version(), std::string("v1"));
    QCOMPARE(step.versions(0).requests() + step.versions(1).requests(), uint64_t(sent));
    QCOMPARE(step.versions(0).requests(), totals.requests[0]);
    QVERIFY(step.versions(0).p50_us() > 0);
    QVERIFY(step.versions(0).p99_us() >= step.versions(0).p90_us());
    // The step is part of the row's hash: the chain still verifies.
    grpc::ClientContext verify_context;
    test::Prepare(verify_context, m_token);
    v1::VerifyAuditResponse verdict;
    QVERIFY(m_clients.control->VerifyAudit(&verify_context, {}, &verdict).ok());
    QVERIFY2(verdict.ok(), verdict.detail().c_str());
    QVERIFY(RowHashHolds(FromProto(row)));

    // The same requests are in the history, minute by minute.
    grpc::ClientContext history_context;
    test::Prepare(history_context, m_token);
    v1::QueryHistoryRequest query;
    v1::QueryHistoryResponse history;
    QVERIFY(m_clients.control->QueryHistory(&history_context, query, &history).ok());
    uint64_t in_history = 0;
    for (const auto& minute : history.minutes()) {
      QVERIFY(minute.window_seconds() >= 1 && minute.window_seconds() <= 60);
      for (const auto& v : minute.versions()) in_history += v.requests();
    }
    QCOMPARE(in_history, uint64_t(sent));
    QCOMPARE(history.retention_days(), 14u);
    grpc::ClientContext bad_context;
    test::Prepare(bad_context, m_token);
    query.set_from_unix_ms(-5);
    QCOMPARE(m_clients.control->QueryHistory(&bad_context, query, &history).error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
  }

  void healthChangesArePushedAndRecorded() {
    // An upstream of its own, so it can die and come back on its address.
    AgentConfig upstream_config = test::DemoTestConfig(0);
    upstream_config.agent_id = "upstream";
    std::string error;
    auto upstream = test::StartAgent(upstream_config, &error);
    QVERIFY2(upstream, error.c_str());
    upstream_config.data_listen = upstream->DataAddress();
    upstream_config.state_dir = upstream->Config().state_dir;

    AgentConfig config = test::DemoTestConfig(0);
    config.agent_id = "front";
    config.health_row_gap = std::chrono::milliseconds(0);
    UpstreamCandidate(&config, upstream->DataAddress());
    auto front = test::StartAgent(config, &error);
    QVERIFY2(front, error.c_str());
    test::Clients clients = test::Connect(*front);
    const std::string viewer = test::DemoToken(*front, "viewer");
    grpc::ClientContext watch_context;
    test::Prepare(watch_context, viewer, 30);
    auto states = clients.control->WatchState(&watch_context, {});
    auto candidate_health = [](const v1::AgentState& s) {
      for (const auto& v : s.versions()) {
        if (v.slot() == v1::CANDIDATE) return v;
      }
      return v1::VersionInfo();
    };
    // Reads pushed states until one shows the candidate in `wanted`.
    auto await = [&](v1::Health wanted) {
      v1::AgentState state;
      while (states->Read(&state)) {
        if (candidate_health(state).health() == wanted) return candidate_health(state);
      }
      return v1::VersionInfo();
    };
    QCOMPARE(await(v1::HEALTHY).version(), std::string("v2-remote"));

    upstream.reset();  // no split change, no reconnect: only the probe knows
    front->ProbeOnce();
    const v1::VersionInfo down = await(v1::UNHEALTHY);
    QCOMPARE(down.health(), v1::UNHEALTHY);
    QVERIFY2(!down.health_detail().empty(), "the probe's message travels with the health");

    upstream = test::StartAgent(upstream_config, &error);  // back on the same address
    QVERIFY2(upstream, error.c_str());
    front->ProbeOnce();
    QCOMPARE(await(v1::HEALTHY).health(), v1::HEALTHY);
    watch_context.TryCancel();

    // The review sees when the version went bad and when it came back.
    grpc::ClientContext list_context;
    test::Prepare(list_context, viewer);
    v1::ListAuditRequest request;
    request.set_limit(1000);
    v1::ListAuditResponse trail;
    QVERIFY(clients.control->ListAudit(&list_context, request, &trail).ok());
    std::vector<std::string> health_rows;
    for (const auto& row : trail.entries()) {
      if (row.action() != "health") continue;
      QCOMPARE(row.actor(), std::string("prober"));
      QCOMPARE(row.role(), std::string("system"));
      health_rows.push_back(row.reason());
    }
    QCOMPARE(health_rows.size(), size_t{2});
    QVERIFY2(
        QString::fromStdString(health_rows[0]).startsWith("candidate 'v2-remote' is UNHEALTHY: "),
        health_rows[0].c_str());
    QCOMPARE(health_rows[1], std::string("candidate 'v2-remote' is HEALTHY"));
  }
};

QTEST_GUILESS_MAIN(TestAgentE2E)
#include "test_agent_e2e.moc"
