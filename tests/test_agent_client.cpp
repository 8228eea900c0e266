// The console's agent connection against a real agent: live frames, state,
// audit rows and mutations arrive as signals on the GUI thread; the link
// goes disconnected when the agent dies and recovers when it returns, and
// stale when a fake agent stops sending frames on an open stream; a
// viewer's identity says so; destruction never outlives a call.
#include <QtTest>

#include <grpcpp/server_builder.h>

#include "app/agent_client.h"
#include "support/agent_test_support.h"
#include "support/test_certificates.h"

using namespace greylane;

namespace {
// A fake agent whose streams send one message each and then fall silent
// while staying open: what a hung agent or a stalled network looks like.
template <typename T>
class SilentStream final : public grpc::ServerWriteReactor<T> {
 public:
  explicit SilentStream(T first) : m_first(std::move(first)) { this->StartWrite(&m_first); }
  void OnWriteDone(bool) override {}
  void OnCancel() override { this->Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }

 private:
  T m_first;
};

class SilentAgent final : public v1::Agent::CallbackService {
 public:
  grpc::ServerWriteReactor<v1::AgentState>* WatchState(grpc::CallbackServerContext*,
                                                       const v1::WatchStateRequest*) override {
    v1::AgentState state;
    state.set_agent_id("silent");
    return new SilentStream<v1::AgentState>(state);
  }
  grpc::ServerWriteReactor<v1::MetricsFrame>* WatchMetrics(
      grpc::CallbackServerContext*, const v1::WatchMetricsRequest*) override {
    v1::MetricsFrame frame;
    frame.set_window_end_unix_ms(1000);
    return new SilentStream<v1::MetricsFrame>(frame);
  }
  grpc::ServerWriteReactor<v1::AuditEntry>* WatchAudit(grpc::CallbackServerContext*,
                                                       const v1::WatchAuditRequest*) override {
    v1::AuditEntry entry;
    entry.set_sequence(1);
    return new SilentStream<v1::AuditEntry>(entry);
  }
};

AgentEndpoint Endpoint(const std::string& address, const std::string& token) {
  AgentEndpoint e;
  e.name = "a";
  e.address = QString::fromStdString(address);
  e.token = QString::fromStdString(token);
  return e;
}
}  // namespace

class TestAgentClient final : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;

  std::unique_ptr<CanaryAgent> StartOn(const std::string& control) {
    AgentConfig config = test::DemoTestConfig(500);
    config.state_dir = m_dir.filePath("state").toStdString();
    config.control_listen = control;
    std::string error;
    auto agent = test::StartAgent(config, &error);
    if (!agent) qWarning("%s", error.c_str());
    return agent;
  }

 private slots:
  void liveFramesStateAndAudit() {
    auto agent = StartOn("127.0.0.1:0");
    QVERIFY(agent);
    AgentClient client(Endpoint(agent->ControlAddress(), test::DemoToken(*agent, "operator")));
    QSignalSpy state(&client, &AgentClient::stateChanged);
    QSignalSpy frames(&client, &AgentClient::frameReceived);
    QSignalSpy audit(&client, &AgentClient::auditReceived);
    QSignalSpy identity(&client, &AgentClient::identityChanged);
    client.Start();
    QVERIFY(state.wait(5000));
    QCOMPARE(client.State().split().candidate_basis_points(), 500u);
    QVERIFY(frames.count() > 0 || frames.wait(3000));
    QCOMPARE(client.CurrentLink(), AgentClient::Link::Live);
    QVERIFY(audit.count() > 0 || audit.wait(3000));
    QVERIFY(identity.count() > 0 || identity.wait(3000));
    QCOMPARE(client.Identity().role(), v1::OPERATOR);

    QSignalSpy done(&client, &AgentClient::mutationFinished);
    client.SetSplit(2500, client.State().split().revision(), "ramp from the console");
    QVERIFY(done.wait(5000));
    QCOMPARE(done.last().at(1).toInt(), int(grpc::StatusCode::OK));
    QCOMPARE(client.State().split().candidate_basis_points(), 2500u);
    QCOMPARE(agent->Release().State().split().candidate_basis_points(), 2500u);
    // The new row arrives on the audit stream.
    QTRY_VERIFY_WITH_TIMEOUT(audit.last().at(0).value<v1::AuditEntry>().action() == "set_split",
                             5000);

    // A stale revision: the agent's message, the state kept for a second try.
    client.SetSplit(100, 1, "stale");
    QVERIFY(done.wait(5000));
    QCOMPARE(done.last().at(1).toInt(), int(grpc::StatusCode::ABORTED));
    QVERIFY(done.last().at(2).toString().contains("the split is now 2500 bp"));

    client.Rollback("console rollback");
    QVERIFY(done.wait(5000));
    QCOMPARE(done.last().at(0).toString(), QString("rollback"));
    QCOMPARE(client.State().phase(), v1::ROLLED_BACK);
    qInfo("rollback round trip through AgentClient: %.2f ms", done.last().at(4).toDouble());
  }

  void viewerIsToldItsRole() {
    auto agent = StartOn("127.0.0.1:0");
    QVERIFY(agent);
    AgentClient client(Endpoint(agent->ControlAddress(), test::DemoToken(*agent, "viewer")));
    QSignalSpy identity(&client, &AgentClient::identityChanged);
    client.Start();
    QVERIFY(identity.wait(5000));
    QCOMPARE(client.Identity().role(), v1::VIEWER);
    QSignalSpy done(&client, &AgentClient::mutationFinished);
    client.Rollback("a viewer tries");
    QVERIFY(done.wait(5000));
    QCOMPARE(done.last().at(1).toInt(), int(grpc::StatusCode::PERMISSION_DENIED));
  }

  void disconnectedWhenTheAgentDiesAndRecovers() {
    auto agent = StartOn("127.0.0.1:0");
    QVERIFY(agent);
    const std::string address = agent->ControlAddress();
    const std::string token = test::DemoToken(*agent, "operator");
    AgentClient client(Endpoint(address, token));
    QSignalSpy link(&client, &AgentClient::linkChanged);
    client.Start();
    QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Live, 5000);
    agent.reset();  // the agent goes away
    QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Disconnected, 8000);
    // Back on the same port and state dir: the demo tokens survive the
    // restart, so the client comes back by itself (RetryNow skips the wait).
    agent = StartOn(address);
    QVERIFY(agent);
    QCOMPARE(test::DemoToken(*agent, "operator"), token);
    client.RetryNow();
    QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Live, 5000);
    // A token the agent does not know is reported, not retried in a loop.
    AgentClient stranger(Endpoint(address, "glt_not_a_token_this_agent_knows"));
    QSignalSpy refused(&stranger, &AgentClient::linkChanged);
    stranger.Start();
    QTRY_VERIFY_WITH_TIMEOUT(stranger.CurrentLink() == AgentClient::Link::Disconnected &&
                                 refused.last().at(1).toString().contains("not known"),
                             5000);
  }

  void connectsOverTlsAndMutualTls() {
    QVERIFY(QDir().mkpath(m_dir.filePath("pki")));
    const test::TestPki pki = test::MakeTestPki(m_dir.filePath("pki").toStdString(), "sre-bob");
    QVERIFY(!pki.server_key.empty());
    AgentConfig config = test::DemoTestConfig(500);
    config.state_dir = m_dir.filePath("tls-state").toStdString();
    config.control_tls = {pki.server_cert, pki.server_key};
    config.client_ca = pki.ca_cert;
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    const std::string address = agent->ControlAddress();
    // The certificate names localhost, so the console dials that name.
    AgentEndpoint e = Endpoint("localhost" + address.substr(address.rfind(':')),
                               test::DemoToken(*agent, "operator"));
    e.security = AgentEndpoint::Security::MutualTls;
    e.ca_file = QString::fromStdString(pki.ca_cert);
    e.cert_file = QString::fromStdString(pki.client_cert);
    e.key_file = QString::fromStdString(pki.client_key);
    {
      AgentClient client(e);
      client.Start();
      QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Live, 10000);
      QTRY_VERIFY_WITH_TIMEOUT(client.Identity().identity().find("sre-bob") != std::string::npos,
                               5000);
    }
    {
      // A certificate from another CA: refused, and said so.
      AgentEndpoint stranger = e;
      stranger.cert_file = QString::fromStdString(pki.stranger_cert);
      stranger.key_file = QString::fromStdString(pki.stranger_key);
      AgentClient client(stranger);
      QSignalSpy link(&client, &AgentClient::linkChanged);
      client.Start();
      QTRY_VERIFY_WITH_TIMEOUT(client.CurrentLink() == AgentClient::Link::Disconnected, 10000);
      QVERIFY(client.Identity().identity().empty());
    }
    {
      // A CA file that is not there: a setup mistake, named, not retried.
      AgentEndpoint missing = e;
      missing.ca_file = m_dir.filePath("no-such-ca.pem");
      AgentClient client(missing);
      QSignalSpy link(&client, &AgentClient::linkChanged);
      client.Start();
      QCOMPARE(client.CurrentLink(), AgentClient::Link::Disconnected);
      QVERIFY(link.last().at(1).toString().contains("no-such-ca.pem"));
    }
  }

  void staleWhenFramesStopButTheStreamStaysOpen() {
    SilentAgent service;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    QVERIFY(server && port);
    {
      AgentClient client(Endpoint("127.0.0.1:" + std::to_string(port), "any"));
      QSignalSpy link(&client, &AgentClient::linkChanged);
      client.Start();
      QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Live, 3000);
      QElapsedTimer since_live;
      since_live.start();
      QTRY_COMPARE_WITH_TIMEOUT(client.CurrentLink(), AgentClient::Link::Stale, 6000);
      QVERIFY(since_live.elapsed() >= AgentClient::kStaleAfterMs - 500);
      QVERIFY(link.last().at(1).toString().contains("no metrics for 3 s"));
    }  // the client cancels its open streams and waits for them
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  void destroyingMidStreamIsSafe() {
    auto agent = StartOn("127.0.0.1:0");
    QVERIFY(agent);
    for (int i = 0; i < 20; ++i) {
      auto client = std::make_unique<AgentClient>(
          Endpoint(agent->ControlAddress(), test::DemoToken(*agent, "operator")));
      client->Start();
      client->Rollback("in flight while closing");
      if (i % 2) QTest::qWait(20);
      client.reset();  // must cancel and wait for every call
    }
    QVERIFY(true);
  }
};

QTEST_GUILESS_MAIN(TestAgentClient)
#include "test_agent_client.moc"
