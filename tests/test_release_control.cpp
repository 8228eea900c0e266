// Safe control: who may change what, every attempt in the hash-chained
// audit trail, state that survives restarts, and tampering that is caught.
#include <QtTest>

#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "agent/audit/audit_log.h"
#include "agent/load/load_generator.h"
#include "common/audit_proto.h"
#include "support/agent_test_support.h"

using namespace greylane;

namespace {

struct Call {
  grpc::Status status;
  v1::AgentState state;
};

class Control {
 public:
  Control(v1::Agent::Stub& stub, std::string token) : m_stub(stub), m_token(std::move(token)) {}

  Call SetSplit(uint32_t bp, uint64_t revision, const std::string& reason = "test") {
    v1::SetSplitRequest r;
    r.set_candidate_basis_points(bp);
    r.set_expected_revision(revision);
    r.set_reason(reason);
    return Do([&](grpc::ClientContext* c, v1::AgentState* s) { return m_stub.SetSplit(c, r, s); });
  }
  Call Rollback(const std::string& reason = "test rollback") {
    v1::RollbackRequest r;
    r.set_reason(reason);
    return Do([&](grpc::ClientContext* c, v1::AgentState* s) { return m_stub.Rollback(c, r, s); });
  }
  Call Promote(uint64_t revision, const std::string& reason = "test promote") {
    v1::PromoteRequest r;
    r.set_expected_revision(revision);
    r.set_reason(reason);
    return Do([&](grpc::ClientContext* c, v1::AgentState* s) { return m_stub.Promote(c, r, s); });
  }
  Call LoadCandidate(const std::string& version, const std::string& file, uint64_t revision) {
    v1::LoadCandidateRequest r;
    r.mutable_spec()->set_version(version);
    r.mutable_spec()->set_backend("builtin");
    r.mutable_spec()->set_model_file(file);
    r.set_expected_revision(revision);
    r.set_reason("load " + version);
    return Do(
        [&](grpc::ClientContext* c, v1::AgentState* s) { return m_stub.LoadCandidate(c, r, s); });
  }
  Call GetState() {
    return Do([&](grpc::ClientContext* c, v1::AgentState* s) { return m_stub.GetState(c, {}, s); });
  }
  grpc::Status WhoAmI(v1::Identity* identity) {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    return m_stub.WhoAmI(&c, {}, identity);
  }
  grpc::Status ListAudit(v1::ListAuditResponse* out, uint64_t after = 0) {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    v1::ListAuditRequest r;
    r.set_after_sequence(after);
    r.set_limit(1000);
    return m_stub.ListAudit(&c, r, out);
  }
  grpc::Status VerifyAudit(v1::VerifyAuditResponse* out) {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    return m_stub.VerifyAudit(&c, {}, out);
  }

 private:
  template <typename F>
  Call Do(F f) {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    Call call;
    call.status = f(&c, &call.state);
    return call;
  }
  v1::Agent::Stub& m_stub;
  std::string m_token;
};

AgentConfig ConfigIn(const QString& dir) {
  AgentConfig config = test::DemoTestConfig(500);
  config.state_dir = dir.toStdString();
  return config;
}

}  // namespace

class TestReleaseControl final : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;
  std::unique_ptr<CanaryAgent> m_agent;
  test::Clients m_clients;

  Control As(const std::string& role) {
    return Control(*m_clients.control, test::DemoToken(*m_agent, role));
  }

 private slots:
  void init() {
    QVERIFY(m_dir.isValid());
    std::string error;
    m_agent = test::StartAgent(ConfigIn(m_dir.path() + "/" + QTest::currentTestFunction() + "-" +
                                        QString::number(qHash(QTest::currentDataTag()))),
                               &error);
    QVERIFY2(m_agent, error.c_str());
    m_clients = test::Connect(*m_agent);
  }
  void cleanup() {
    m_clients = {};
    m_agent.reset();
  }

  void eachRoleAgainstEachCall_data() {
    QTest::addColumn<QString>("role");
    QTest::addColumn<QString>("call");
    QTest::addColumn<bool>("allowed");
    const QStringList roles = {"viewer", "operator", "admin"};
    struct Rule {
      const char* call;
      int lowest;  // index into roles
    };
    for (const Rule rule :
         {Rule{"GetState", 0}, Rule{"WhoAmI", 0}, Rule{"ListAudit", 0}, Rule{"VerifyAudit", 0},
          Rule{"SetSplit", 1}, Rule{"Rollback", 1}, Rule{"Promote", 1}, Rule{"LoadCandidate", 2}}) {
      for (int r = 0; r < roles.size(); ++r) {
        QTest::addRow("%s by %s", rule.call, qPrintable(roles[r]))
            << roles[r] << rule.call << (r >= rule.lowest);
      }
    }
  }
  void eachRoleAgainstEachCall() {
    QFETCH(QString, role);
    QFETCH(QString, call);
    QFETCH(bool, allowed);
    Control c = As(role.toStdString());
    const uint64_t revision = As("viewer").GetState().state.split().revision();
    grpc::Status status;
    if (call == "GetState") status = c.GetState().status;
    if (call == "WhoAmI") {
      v1::Identity identity;
      status = c.WhoAmI(&identity);
      QCOMPARE(QString::fromStdString(identity.identity()), "demo-" + role);
    }
    if (call == "ListAudit") {
      v1::ListAuditResponse out;
      status = c.ListAudit(&out);
    }
    if (call == "VerifyAudit") {
      v1::VerifyAuditResponse out;
      status = c.VerifyAudit(&out);
    }
    if (call == "SetSplit") status = c.SetSplit(100, revision).status;
    if (call == "Rollback") status = c.Rollback().status;
    if (call == "Promote") status = c.Promote(revision).status;
    if (call == "LoadCandidate") {
      QVERIFY(As("admin").SetSplit(0, revision).status.ok());
      status = c.LoadCandidate("v3", test::ModelsDir() + "/digits-v1.glm", revision + 1).status;
    }
    QVERIFY2(allowed == status.ok(), status.error_message().c_str());
    if (!allowed) {
      QCOMPARE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
      // The refused attempt is in the trail, with who tried.
      v1::ListAuditResponse audit;
      QVERIFY(As("viewer").ListAudit(&audit).ok());
      const auto& last = audit.entries(audit.entries_size() - 1);
      QCOMPARE(QString::fromStdString(last.outcome()), QString("denied"));
      QCOMPARE(QString::fromStdString(last.actor()), "demo-" + role);
      QCOMPARE(last.before().revision(), last.after().revision());
    }
  }

  void demoTokensAreOwnerOnly() {
    const QFileInfo file(QString::fromStdString(m_agent->DemoTokensFile()));
    QVERIFY(file.exists());
    QCOMPARE(file.permissions() & (QFile::ReadGroup | QFile::WriteGroup | QFile::ReadOther |
                                   QFile::WriteOther | QFile::ExeGroup | QFile::ExeOther),
             QFile::Permissions());
    QFile text(file.filePath());
    QVERIFY(text.open(QIODevice::ReadOnly));
    const QStringList lines = QString::fromUtf8(text.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].startsWith("viewer demo-viewer glt_"));
    QVERIFY(lines[2].startsWith("admin demo-admin glt_"));
  }

  void missingOrUnknownTokenIsUnauthenticated() {
    Control nobody(*m_clients.control, "glt_not-a-real-token");
    QCOMPARE(nobody.GetState().status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext bare;
    test::SetDeadline(bare);
    v1::AgentState state;
    const grpc::Status status = m_clients.control->GetState(&bare, {}, &state);
    QCOMPARE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QVERIFY(QString::fromStdString(status.error_message()).contains("authorization: Bearer"));
  }

  void twoWritersOneRevisionExactlyOneWins() {
    const uint64_t revision = As("operator").GetState().state.split().revision();
    std::atomic<int> ok{0}, aborted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&, w] {
        Control c = As(w ? "operator" : "admin");
        while (!go) {
        }
        const Call call = c.SetSplit(w ? 1000 : 2000, revision, "writer " + std::to_string(w));
        if (call.status.ok()) ++ok;
        if (call.status.error_code() == grpc::StatusCode::ABORTED) {
          ++aborted;
          QVERIFY(QString::fromStdString(call.status.error_message()).contains("the split is now"));
        }
      });
    }
    go = true;
    for (auto& t : writers) t.join();
    QCOMPARE(ok.load(), 1);
    QCOMPARE(aborted.load(), 1);
    QCOMPARE(As("viewer").GetState().state.split().revision(), revision + 1);
  }

  void rollbackIsNeverStaleAndIdempotent() {
    Control op = As("operator");
    const Call first = op.Rollback("p99 regression");
    QVERIFY2(first.status.ok(), first.status.error_message().c_str());
    QCOMPARE(first.state.split().candidate_basis_points(), 0u);
    QCOMPARE(first.state.phase(), v1::ROLLED_BACK);
    QCOMPARE(first.state.last_change().actor(), std::string("demo-operator"));
    QVERIFY(first.state.last_change().apply_micros() > 0);
    const Call again = op.Rollback("pressed twice");
    QVERIFY(again.status.ok());
    QCOMPARE(again.state.split().revision(), first.state.split().revision());  // nothing changed
    v1::ListAuditResponse audit;
    QVERIFY(op.ListAudit(&audit).ok());
    const auto& last = audit.entries(audit.entries_size() - 1);
    QCOMPARE(last.action(), std::string("rollback"));
    QVERIFY(QString::fromStdString(last.evidence()).contains("already rolled back"));
  }

  void promoteSwapsRolesAtomically() {
    Control op = As("operator");
    const Call before = op.GetState();
    const Call promoted = op.Promote(before.state.split().revision(), "v2 held for 30 min");
    QVERIFY2(promoted.status.ok(), promoted.status.error_message().c_str());
    QCOMPARE(promoted.state.phase(), v1::PROMOTED);
    QCOMPARE(promoted.state.versions(0).version(), std::string("v2"));  // the new baseline
    QCOMPARE(promoted.state.versions(1).version(), std::string("v1"));  // one split away
    QCOMPARE(promoted.state.split().candidate_basis_points(), 0u);
    for (int u = 0; u < 100; ++u) {
      inference::ModelInferResponse response;
      std::string slot;
      QVERIFY(test::Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[u]), &response,
                          "user-" + std::to_string(u), {}, &slot)
                  .ok());
      QCOMPARE(response.model_version(), std::string("v2"));
      QCOMPARE(slot, std::string("baseline"));
    }
    // Going back is one split change away.
    const Call back = op.SetSplit(10000, promoted.state.split().revision(), "back to v1");
    QVERIFY(back.status.ok());
    inference::ModelInferResponse response;
    QVERIFY(
        test::Infer(*m_clients.data, test::DigitsRequest(test::Holdout()[0]), &response, "u").ok());
    QCOMPARE(response.model_version(), std::string("v1"));
  }

  void loadCandidateOnlyWithoutTrafficAndAfterItsProbe() {
    Control admin = As("admin");
    uint64_t revision = admin.GetState().state.split().revision();
    Call call = admin.LoadCandidate("v3", test::ModelsDir() + "/digits-v1.glm", revision);
    QCOMPARE(call.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    QVERIFY(QString::fromStdString(call.status.error_message()).contains("500 bp of traffic"));
    revision = admin.SetSplit(0, revision).state.split().revision();
    call = admin.LoadCandidate("v3", "/nonexistent/model.glm", revision);
    QCOMPARE(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(
        QString::fromStdString(call.status.error_message()).contains("cannot read the model file"));
    call = admin.LoadCandidate("v1", test::ModelsDir() + "/digits-v1.glm", revision);
    QCOMPARE(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // the baseline's name
    call = admin.LoadCandidate("v3", "resources/models/digits-v1.glm", revision);
    QVERIFY(QString::fromStdString(call.status.error_message()).contains("absolute path"));
    call = admin.LoadCandidate("v3", test::ModelsDir() + "/digits-v1.glm", revision);
    QVERIFY2(call.status.ok(), call.status.error_message().c_str());
    QCOMPARE(call.state.versions(1).version(), std::string("v3"));
    QCOMPARE(call.state.versions(1).health(), v1::HEALTHY);  // it passed its probe to get here
    QCOMPARE(call.state.phase(), v1::STEADY);
    auto request = test::DigitsRequest(test::Holdout()[0]);
    request.set_model_version("v3");
    inference::ModelInferResponse response;
    QVERIFY(test::Infer(*m_clients.data, request, &response).ok());
    QCOMPARE(response.model_version(), std::string("v3"));
    // Every refusal is recorded as rejected, with its reason.
    v1::ListAuditResponse audit;
    QVERIFY(admin.ListAudit(&audit).ok());
    int rejected = 0;
    for (const auto& e : audit.entries()) rejected += e.outcome() == "rejected";
    QCOMPARE(rejected, 4);
  }

  void badInputIsRejectedAndRecorded() {
    Control op = As("operator");
    const uint64_t revision = op.GetState().state.split().revision();
    QCOMPARE(op.SetSplit(10001, revision).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(op.SetSplit(10, revision, "").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(op.SetSplit(10, revision, std::string(1025, 'r')).status.error_code(),
             grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(op.GetState().state.split().revision(), revision);
    v1::ListAuditResponse audit;
    QVERIFY(op.ListAudit(&audit).ok());
    int rejected = 0;
    for (const auto& e : audit.entries()) rejected += e.outcome() == "rejected";
    QCOMPARE(rejected, 3);
    // A rollback is never refused for its words: they are stored repaired.
    for (const std::string& reason :
         {std::string(), std::string(5000, 'r'), std::string("stop \x1b[31mnow\x07")}) {
      const Call rolled = op.Rollback(reason);
      QVERIFY2(rolled.status.ok(), rolled.status.error_message().c_str());
      QCOMPARE(rolled.state.phase(), v1::ROLLED_BACK);
    }
    QVERIFY(op.ListAudit(&audit).ok());
    const auto& first = audit.entries(audit.entries_size() - 3);
    QCOMPARE(first.reason(), std::string("(no reason given)"));
    QVERIFY(
        QString::fromStdString(first.evidence()).contains("stored repaired (a reason is required"));
    QVERIFY(audit.entries(audit.entries_size() - 2).reason().size() <= kMaxReasonBytes);
    QCOMPARE(audit.entries(audit.entries_size() - 1).reason(),
             std::string("stop \\x1b[31mnow\\x07"));
  }

  void watchStateAndWatchAuditSeeEveryChange() {
    grpc::ClientContext state_context, audit_context;
    const std::string viewer = test::DemoToken(*m_agent, "viewer");
    test::Prepare(state_context, viewer, 20);
    test::Prepare(audit_context, viewer, 20);
    auto states = m_clients.control->WatchState(&state_context, {});
    auto rows = m_clients.control->WatchAudit(&audit_context, {});
    v1::AgentState state;
    QVERIFY(states->Read(&state));  // the state now, at once
    v1::AuditEntry entry;
    QVERIFY(rows->Read(&entry));  // history first
    QCOMPARE(entry.sequence(), 1ull);
    QCOMPARE(entry.action(), std::string("initialize"));
    QVERIFY(As("operator").SetSplit(2500, state.split().revision(), "ramp").status.ok());
    QVERIFY(states->Read(&state));
    QCOMPARE(state.split().candidate_basis_points(), 2500u);
    QCOMPARE(state.last_change().reason(), std::string("ramp"));
    // The console recomputes the chain from what it receives.
    ChainVerifier verifier(entry.sequence(), entry.hash());
    while (rows->Read(&entry) && entry.action() != "set_split") {
      QVERIFY(verifier.Add(FromProto(entry)));
    }
    QVERIFY(verifier.Add(FromProto(entry)));
    QCOMPARE(entry.after().candidate_basis_points(), 2500u);
    state_context.TryCancel();
    audit_context.TryCancel();
  }

  void stateSurvivesARestartAndTheChainVerifies() {
    Control op = As("operator");
    uint64_t revision = op.GetState().state.split().revision();
    revision = op.SetSplit(1234, revision, "ramp").state.split().revision();
    const Call promoted = op.Promote(revision, "looks good");
    QVERIFY(promoted.status.ok());
    const Call ramp = op.SetSplit(777, promoted.state.split().revision(), "try v1 again");
    QVERIFY(ramp.status.ok());
    const AgentConfig config = m_agent->Config();
    m_clients = {};
    m_agent.reset();

    // Same state dir, a config that says otherwise: the trail wins.
    AgentConfig again = config;
    again.initial_candidate_basis_points = 5000;
    std::string error;
    m_agent = test::StartAgent(again, &error);
    QVERIFY2(m_agent, error.c_str());
    QVERIFY(m_agent->Restored());
    m_clients = test::Connect(*m_agent);
    const Call restored = As("viewer").GetState();
    QCOMPARE(restored.state.split().candidate_basis_points(), 777u);
    QCOMPARE(restored.state.split().revision(), ramp.state.split().revision());
    QCOMPARE(restored.state.versions(0).version(), std::string("v2"));
    QCOMPARE(restored.state.phase(), v1::CANARY);
    QCOMPARE(restored.state.last_change().reason(), std::string("try v1 again"));
    v1::VerifyAuditResponse verdict;
    QVERIFY(As("viewer").VerifyAudit(&verdict).ok());
    QVERIFY2(verdict.ok(), verdict.detail().c_str());
    v1::ListAuditResponse audit;
    QVERIFY(As("viewer").ListAudit(&audit).ok());
    QCOMPARE(audit.entries(audit.entries_size() - 1).action(), std::string("start"));
  }

  void tamperingIsFoundAndNamed_data() {
    QTest::addColumn<QString>("sql");
    QTest::addColumn<int>("brokenAt");
    QTest::addColumn<QString>("why");
    QTest::addColumn<int>("verifiedThrough");
    QTest::newRow("edit a reason") << "UPDATE audit SET reason='nothing to see' WHERE sequence=3"
                                   << 3 << "content was edited" << 2;
    QTest::newRow("edit a split") << "UPDATE audit SET after_basis_points=0 WHERE sequence=2" << 2
                                  << "content was edited" << 1;
    QTest::newRow("delete a row") << "DELETE FROM audit WHERE sequence=3" << 4 << "missing" << 2;
    QTest::newRow("swap two rows") << "UPDATE audit SET sequence=-1 WHERE sequence=2;"
                                      "UPDATE audit SET sequence=2 WHERE sequence=3;"
                                      "UPDATE audit SET sequence=3 WHERE sequence=-1;"
                                   << 2 << "" << 1;
    QTest::newRow("rehash an edited row")
        << "UPDATE audit SET reason='x', hash='" + QString(64, 'a') + "' WHERE sequence=2" << 2
        << "" << 1;
  }
  void tamperingIsFoundAndNamed() {
    QFETCH(QString, sql);
    QFETCH(int, brokenAt);
    QFETCH(QString, why);
    QFETCH(int, verifiedThrough);
    Control op = As("operator");
    uint64_t revision = op.GetState().state.split().revision();
    for (const uint32_t bp : {100u, 200u, 300u, 400u}) {
      revision = op.SetSplit(bp, revision, "step").state.split().revision();
    }
    const std::string db = m_agent->Config().state_dir + "/audit.db";
    m_clients = {};
    m_agent.reset();

    sqlite3* handle = nullptr;
    QCOMPARE(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(handle, sql.toUtf8().constData(), nullptr, nullptr, &message);
    QVERIFY2(rc == SQLITE_OK, message);
    sqlite3_close(handle);

    auto log = AuditLog::Open(db, AuditLog::Mode::kReadOnly);
    QVERIFY2(log.ok(), std::string(log.status().message()).c_str());
    const ChainVerdict verdict = (*log)->Verify();
    QVERIFY(!verdict.ok);
    QCOMPARE(verdict.broken_at, uint64_t(brokenAt));
    QVERIFY2(QString::fromStdString(verdict.why).contains(why), verdict.why.c_str());
    QCOMPARE(verdict.verified_through, uint64_t(verifiedThrough));
  }

  void rollbackUnderLoadSendsNothingNewToTheCandidate() {
    Control op = As("operator");
    const uint64_t revision = op.GetState().state.split().revision();
    QVERIFY(op.SetSplit(5000, revision, "half").status.ok());
    LoadOptions load;
    load.target = m_agent->DataAddress();
    load.rps = 1500;
    load.users = 2000;
    load.duration_s = 3;
    std::string error;
    LoadReport report;
    std::thread client([&] { report = RunLoad(load, {}, &error); });
    // Let traffic reach both versions, then roll back mid-stream.
    VersionRecorder& candidate = m_agent->Pair().Recorder(ReleaseRole::kCandidate);
    QTRY_VERIFY_WITH_TIMEOUT(candidate.Snapshot().ok > 200, 5000);
    const Call rolled = op.Rollback("error spike");
    const VersionTotals at_rollback = candidate.Snapshot();
    const int64_t in_flight = candidate.InFlight();
    client.join();
    QVERIFY2(error.empty(), error.c_str());
    QVERIFY(rolled.status.ok());
    const VersionTotals after = candidate.Snapshot();
    const uint64_t served_at =
        at_rollback.ok + at_rollback.server_errors + at_rollback.client_errors;
    const uint64_t served_after = after.ok + after.server_errors + after.client_errors;
    qInfo(
        "candidate served %llu before the rollback returned, %llu after (in flight then: %lld); "
        "rollback took %lld us inside the agent",
        static_cast<unsigned long long>(served_at),
        static_cast<unsigned long long>(served_after - served_at),
        static_cast<long long>(in_flight),
        static_cast<long long>(rolled.state.last_change().apply_micros()));
    // Only requests already in flight when it returned may finish there.
    QVERIFY(served_after - served_at <= static_cast<uint64_t>(std::max<int64_t>(in_flight, 0)));
    QCOMPARE(report.total.errors, 0ull);
  }
};

QTEST_GUILESS_MAIN(TestReleaseControl)
#include "test_release_control.moc"
