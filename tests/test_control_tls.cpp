// TLS and mutual TLS on the control plane, with certificates made at test
// time: handshakes that must work, ones that must fail cleanly, and the
// client certificate's subject in the caller's identity.
#include <QtTest>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "support/agent_test_support.h"
#include "support/test_certificates.h"

using namespace greylane;

namespace {
std::unique_ptr<v1::Agent::Stub> Stub(const std::string& address,
                                      std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::Agent::NewStub(grpc::CreateCustomChannel(address, credentials, args));
}

std::string Localhost(const std::string& address) {
  return "localhost" + address.substr(address.rfind(':'));
}

grpc::Status WhoAmI(v1::Agent::Stub& stub, const std::string& token, v1::Identity* identity) {
  grpc::ClientContext context;
  test::Prepare(context, token, 5);
  return stub.WhoAmI(&context, {}, identity);
}
}  // namespace

class TestControlTls final : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;
  test::TestPki m_pki;

  std::unique_ptr<CanaryAgent> Start(bool mutual) {
    AgentConfig config = test::DemoTestConfig(500);
    config.control_tls = {m_pki.server_cert, m_pki.server_key};
    if (mutual) config.client_ca = m_pki.ca_cert;
    std::string error;
    auto agent = test::StartAgent(config, &error);
    if (!agent) qWarning("%s", error.c_str());
    return agent;
  }

  grpc::SslCredentialsOptions Trusting(bool with_client_cert, bool stranger = false) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = test::ReadText(m_pki.ca_cert);
    if (with_client_cert) {
      options.pem_cert_chain = test::ReadText(stranger ? m_pki.stranger_cert : m_pki.client_cert);
      options.pem_private_key = test::ReadText(stranger ? m_pki.stranger_key : m_pki.client_key);
    }
    return options;
  }

 private slots:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    m_pki = test::MakeTestPki(m_dir.path().toStdString(), "sre-alice");
    QVERIFY(!m_pki.server_key.empty());
  }

  void tlsHandshakeAndTokens() {
    auto agent = Start(false);
    QVERIFY(agent);
    const std::string token = test::DemoToken(*agent, "operator");
    auto secure = Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(Trusting(false)));
    v1::Identity identity;
    const grpc::Status status = WhoAmI(*secure, token, &identity);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QCOMPARE(identity.identity(), std::string("demo-operator"));
    QCOMPARE(identity.role(), v1::OPERATOR);
    // TLS does not replace the token.
    QCOMPARE(WhoAmI(*secure, "glt_wrong", &identity).error_code(),
             grpc::StatusCode::UNAUTHENTICATED);
  }

  void plaintextClientAgainstTlsFailsCleanly() {
    auto agent = Start(false);
    QVERIFY(agent);
    const std::string token = test::DemoToken(*agent, "operator");
    auto plain = Stub(agent->ControlAddress(), grpc::InsecureChannelCredentials());
    v1::Identity identity;
    const grpc::Status status = WhoAmI(*plain, token, &identity);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    // A client that does not trust the agent's CA fails too.
    grpc::SslCredentialsOptions untrusting;
    untrusting.pem_root_certs = test::ReadText(m_pki.stranger_cert);
    auto wrong_ca = Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(untrusting));
    QCOMPARE(WhoAmI(*wrong_ca, token, &identity).error_code(), grpc::StatusCode::UNAVAILABLE);
    // The agent is unharmed.
    auto secure = Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(Trusting(false)));
    QVERIFY(WhoAmI(*secure, token, &identity).ok());
  }

  void dataPlaneTlsIsConfiguredSeparately() {
    AgentConfig config = test::DemoTestConfig(500);
    config.data_tls = {m_pki.server_cert, m_pki.server_key};
    config.data_client_ca = m_pki.ca_cert;
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto data = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
        Localhost(agent->DataAddress()), grpc::SslCredentials(Trusting(true)), args));
    inference::ModelInferResponse response;
    const grpc::Status status =
        test::Infer(*data, test::DigitsRequest(test::Holdout()[0]), &response, "u1");
    QVERIFY2(status.ok(), status.error_message().c_str());
    auto no_cert = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
        Localhost(agent->DataAddress()), grpc::SslCredentials(Trusting(false)), args));
    QCOMPARE(test::Infer(*no_cert, test::DigitsRequest(test::Holdout()[0]), &response).error_code(),
             grpc::StatusCode::UNAVAILABLE);
    // The control plane stays plaintext on loopback: configured on its own.
    auto control = Stub(agent->ControlAddress(), grpc::InsecureChannelCredentials());
    v1::Identity identity;
    QVERIFY(WhoAmI(*control, test::DemoToken(*agent, "viewer"), &identity).ok());
  }

  void mutualTlsPutsTheSubjectInTheIdentity() {
    auto agent = Start(true);
    QVERIFY(agent);
    const std::string token = test::DemoToken(*agent, "operator");
    v1::Identity identity;
    auto no_cert = Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(Trusting(false)));
    QCOMPARE(WhoAmI(*no_cert, token, &identity).error_code(), grpc::StatusCode::UNAVAILABLE);
    auto stranger =
        Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(Trusting(true, true)));
    QCOMPARE(WhoAmI(*stranger, token, &identity).error_code(), grpc::StatusCode::UNAVAILABLE);
    auto alice = Stub(Localhost(agent->ControlAddress()), grpc::SslCredentials(Trusting(true)));
    const grpc::Status status = WhoAmI(*alice, token, &identity);
    QVERIFY2(status.ok(), status.error_message().c_str());
    QVERIFY2(QString::fromStdString(identity.certificate_subject()).contains("sre-alice"),
             identity.certificate_subject().c_str());
    QVERIFY2(QString::fromStdString(identity.identity()).startsWith("demo-operator ["),
             identity.identity().c_str());
    // The audit trail records the identity with its certificate.
    grpc::ClientContext context;
    test::Prepare(context, token);
    v1::RollbackRequest request;
    request.set_reason("mtls rollback");
    v1::AgentState state;
    QVERIFY(alice->Rollback(&context, request, &state).ok());
    QVERIFY(QString::fromStdString(state.last_change().actor()).contains("sre-alice"));
  }
};

QTEST_GUILESS_MAIN(TestControlTls)
#include "test_control_tls.moc"
