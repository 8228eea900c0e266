// Hostile input against a real agent (in process, on 127.0.0.1:0): no text,
// flood, file or second process may cost a rollback, a restart or the
// trail. One function per class of fault; each varies its cases.
#include <QtTest>

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>

#include "agent/audit/audit_log.h"
#include "common/audit_proto.h"
#include "common/text.h"
#include "support/agent_test_support.h"

using namespace greylane;

namespace {

class Control {
 public:
  Control(v1::Agent::Stub& stub, std::string token) : m_stub(stub), m_token(std::move(token)) {}
  grpc::Status SetSplit(uint32_t bp, uint64_t revision, const std::string& reason,
                        v1::AgentState* out = nullptr) {
    v1::SetSplitRequest r;
    r.set_candidate_basis_points(bp);
    r.set_expected_revision(revision);
    r.set_reason(reason);
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    v1::AgentState ignored;
    return m_stub.SetSplit(&c, r, out ? out : &ignored);
  }
  grpc::Status Rollback(const std::string& reason, v1::AgentState* out = nullptr) {
    v1::RollbackRequest r;
    r.set_reason(reason);
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    v1::AgentState ignored;
    return m_stub.Rollback(&c, r, out ? out : &ignored);
  }
  grpc::Status Load(const v1::VersionSpec& spec, uint64_t revision, v1::AgentState* out = nullptr) {
    v1::LoadCandidateRequest r;
    *r.mutable_spec() = spec;
    r.set_expected_revision(revision);
    r.set_reason("load a candidate");
    grpc::ClientContext c;
    test::Prepare(c, m_token, 30);
    v1::AgentState ignored;
    return m_stub.LoadCandidate(&c, r, out ? out : &ignored);
  }
  v1::AgentState State() {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    v1::AgentState state;
    if (!m_stub.GetState(&c, {}, &state).ok()) qWarning("GetState failed");
    return state;
  }
  grpc::Status List(uint64_t after, v1::ListAuditResponse* out, uint32_t limit = 1000) {
    grpc::ClientContext c;
    test::Prepare(c, m_token);
    v1::ListAuditRequest r;
    r.set_after_sequence(after);
    r.set_limit(limit);
    return m_stub.ListAudit(&c, r, out);
  }
  std::vector<v1::AuditEntry> AllRows() {
    std::vector<v1::AuditEntry> rows;
    for (uint64_t after = 0;;) {
      v1::ListAuditResponse page;
      if (!List(after, &page).ok() || page.entries().empty()) break;
      rows.insert(rows.end(), page.entries().begin(), page.entries().end());
      after = page.entries(page.entries_size() - 1).sequence();
    }
    return rows;
  }
  v1::VerifyAuditResponse Verify() {
    grpc::ClientContext c;
    test::Prepare(c, m_token, 60);
    v1::VerifyAuditResponse verdict;
    if (!m_stub.VerifyAudit(&c, {}, &verdict).ok()) qWarning("VerifyAudit failed");
    return verdict;
  }

 private:
  v1::Agent::Stub& m_stub;
  std::string m_token;
};

void Sql(const std::string& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  QCOMPARE(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &message);
  QVERIFY2(rc == SQLITE_OK, message ? message : "");
  sqlite3_close(handle);
}

std::string WriteFile(const QString& path, const std::string& text, mode_t mode) {
  std::ofstream(path.toStdString(), std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.toLocal8Bit().constData(), mode);
  return path.toStdString();
}

uint64_t ClientErrors(CanaryAgent& agent) {
  uint64_t n = 0;
  for (SlotIndex i = 0; i < CanaryPair::kSlots; ++i) {
    n += agent.Pair().RecorderAt(i).Snapshot().client_errors;
  }
  return n;
}

uint64_t FileBytes(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

}  // namespace

class TestHardening final : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;
  std::unique_ptr<CanaryAgent> m_agent;
  test::Clients m_clients;
  AgentConfig m_config;

  Control As(const std::string& role) {
    return Control(*m_clients.control, test::DemoToken(*m_agent, role));
  }
  bool Start(std::string* error = nullptr) {
    std::string ignored;
    m_agent = test::StartAgent(m_config, error ? error : &ignored);
    if (m_agent) m_clients = test::Connect(*m_agent);
    return m_agent != nullptr;
  }
  void Stop() {
    m_clients = {};
    m_agent.reset();
  }
  std::string Db() const { return m_config.state_dir + "/audit.db"; }

 private slots:
  void init() {
    QVERIFY(m_dir.isValid());
    m_config = test::DemoTestConfig(500);
    m_config.state_dir =
        m_dir.filePath(QString(QTest::currentTestFunction()) + "-" + QTest::currentDataTag())
            .toStdString();
    std::string error;
    QVERIFY2(Start(&error), error.c_str());
  }
  void cleanup() { Stop(); }

  // Fault 1: a Latin-1 identity was committed, broke every later reader and
  // the restart. Now such a line is refused with its number.
  void identitiesMustBeUtf8_data() {
    QTest::addColumn<QByteArray>("identity");
    QTest::addColumn<QString>("expected");
    QTest::newRow("latin-1") << QByteArray("ren\xe9\x65") << "not valid UTF-8 (byte 4 is 0xe9)";
    QTest::newRow("escape") << QByteArray("bob\x1b[31m") << "control character (U+001B";
    QTest::newRow("overlong") << QByteArray("a\xc0\xaf") << "not valid UTF-8";
    QTest::newRow("too long") << QByteArray(200, 'x') << "at most 128";
  }
  void identitiesMustBeUtf8() {
    QFETCH(QByteArray, identity);
    QFETCH(QString, expected);
    Stop();
    const std::string hash = Sha256Hex("some-token");
    m_config.demo_tokens = false;
    m_config.tokens_file = WriteFile(m_dir.filePath("tokens-" + QString(QTest::currentDataTag())),
                                     "# operators\n" + Sha256Hex("other") + " alice admin\n" +
                                         hash + " " + identity.toStdString() + " operator\n",
                                     0600);
    std::string error;
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("line 3"), error.c_str());
    QVERIFY2(QString::fromStdString(error).contains(expected), error.c_str());
  }

  // Fault 1 and 9: bytes that do not parse (invalid UTF-8 in a string, a
  // damaged message) get INVALID_ARGUMENT with a reason, are counted as
  // client errors on the data plane, and store nothing.
  void undecodableRequestsAreInvalidArgument() {
    const std::string data = m_agent->DataAddress();
    const std::string control = m_agent->ControlAddress();
    const uint64_t before = ClientErrors(*m_agent);
    grpc::Status s = test::RawUnary(data, "/inference.GRPCInferenceService/ModelInfer",
                                    "\xff\xff\xff\xff", {}, {{"x-user-id", "user-7"}});
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY2(QString::fromStdString(s.error_message())
                 .contains("not a valid inference.ModelInferRequest (4 bytes)"),
             s.error_message().c_str());
    s = test::RawUnary(data, "/inference.GRPCInferenceService/ModelInfer",
                       test::BytesField(1, "digits\xe9"));
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QCOMPARE(ClientErrors(*m_agent), before + 2);
    // Names that are not UTF-8 (field 1 is the model name); a damaged
    // message where a request has no fields at all.
    for (const char* method : {"/inference.GRPCInferenceService/ModelReady",
                               "/inference.GRPCInferenceService/ModelMetadata"}) {
      s = test::RawUnary(data, method, test::BytesField(1, "\xc3"));
      QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    }
    s = test::RawUnary(data, "/inference.GRPCInferenceService/ServerLive", "\xff\xff\xff");
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    Control op = As("operator");
    const v1::AgentState at_start = op.State();
    const std::string token = test::DemoToken(*m_agent, "operator");
    const std::string latin1_reason = test::VarintField(1, 1000) +
                                      test::VarintField(2, at_start.split().revision()) +
                                      test::BytesField(3, "ren\xe9\x65 asked");
    s = test::RawUnary(control, "/greylane.v1.Agent/SetSplit", latin1_reason, token);
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(QString::fromStdString(s.error_message()).contains("greylane.v1.SetSplitRequest"));
    s = test::RawUnary(control, "/greylane.v1.Agent/Rollback", "\x0a\x09\xff", token);
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // cut short: not a message
    s = test::RawUnary(control, "/greylane.v1.Agent/GetState", "\x0b\x0b\x0b", token);
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // Without a token the bytes are not even read.
    s = test::RawUnary(control, "/greylane.v1.Agent/SetSplit", latin1_reason);
    QCOMPARE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    QCOMPARE(op.State().split().revision(), at_start.split().revision());
    // Every stored row reads back, and the agent restarts from its state dir.
    for (const v1::AuditEntry& e : op.AllRows()) QVERIFY(IsValidUtf8(e.actor() + e.reason()));
    Stop();
    std::string error;
    QVERIFY2(Start(&error), error.c_str());
    QCOMPARE(As("viewer").State().split().revision(), at_start.split().revision());

    // A rollback is never refused for its words, not even bytes that are
    // not UTF-8: it takes effect and its reason is stored escaped.
    s = test::RawUnary(m_agent->ControlAddress(), "/greylane.v1.Agent/Rollback",
                       test::BytesField(1, "ren\xe9\x65 says roll back"),
                       test::DemoToken(*m_agent, "operator"));
    QVERIFY2(s.ok(), s.error_message().c_str());
    QCOMPARE(As("viewer").State().phase(), v1::ROLLED_BACK);
    const v1::AuditEntry rolled = As("viewer").AllRows().back();
    QCOMPARE(rolled.action(), std::string("rollback"));
    QCOMPARE(rolled.reason(), std::string("ren\\xe9e says roll back"));
    QVERIFY2(QString::fromStdString(rolled.evidence()).contains("stored repaired"),
             rolled.evidence().c_str());
  }

  // Fault 9: a name of 20 KB was echoed into the status message and
  // overflowed the client's metadata limit.
  void longNamesAreQuotedShort() {
    inference::ModelInferRequest request = test::DigitsRequest(test::Holdout()[0]);
    request.set_model_name(std::string(20000, 'm'));
    inference::ModelInferResponse response;
    grpc::Status s = test::Infer(*m_clients.data, request, &response);
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(s.error_message().size() < 300);
    QVERIFY2(QString::fromStdString(s.error_message()).contains("20000 bytes"),
             s.error_message().c_str());
    request = test::DigitsRequest(test::Holdout()[0]);
    s = test::Infer(*m_clients.data, request, &response, {}, std::string(6000, 'p'));
    QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(s.error_message().size() < 400);
    inference::ModelReadyRequest ready;
    ready.set_name(std::string(100000, 'r'));
    inference::ModelReadyResponse ready_response;
    grpc::ClientContext c;
    test::SetDeadline(c);
    s = m_clients.data->ModelReady(&c, ready, &ready_response);
    QCOMPARE(s.error_code(), grpc::StatusCode::NOT_FOUND);
    QVERIFY(s.error_message().size() < 300);
  }

  // Fault 2: the write-ahead log was never checkpointed (17.5 MB after
  // 2000 changes, the database itself 4 KiB).
  void writeAheadLogStaysSmall() {
    Control op = As("operator");
    uint64_t revision = op.State().split().revision();
    v1::AgentState state;
    uint64_t wal_max = 0;
    for (int i = 0; i < 2000; ++i) {
      QVERIFY(op.SetSplit(static_cast<uint32_t>(100 + i % 50), revision, "step", &state).ok());
      revision = state.split().revision();
      if (i % 100 == 0) wal_max = std::max(wal_max, FileBytes(Db() + "-wal"));
    }
    wal_max = std::max(wal_max, FileBytes(Db() + "-wal"));
    m_agent->Release().Audit().Checkpoint();
    const uint64_t db = FileBytes(Db());
    qInfo("after 2000 SetSplits: audit.db %.1f KiB, -wal at most %.1f KiB (now %.1f KiB)",
          db / 1024.0, wal_max / 1024.0, FileBytes(Db() + "-wal") / 1024.0);
    QVERIFY2(wal_max < 9u << 20, "the WAL must stay near its 4 MiB limit");
    QVERIFY2(db > 300u << 10, "the rows must reach the database file");
  }

  // Fault 3 (first half): every denied attempt was a synced row; 4000 of
  // them filled a volume. Now a flood costs a bounded number of rows.
  void refusalFloodsAreBounded() {
    Control viewer = As("viewer");
    const uint64_t revision = viewer.State().split().revision();
    const size_t rows_before = viewer.AllRows().size();
    const uint64_t dir_before = test::DirectoryBytes(m_config.state_dir);
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < 3000; ++i) {
      const grpc::Status s = viewer.SetSplit(9000, revision, std::string(900, 'z'));
      QCOMPARE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    }
    const qint64 flood_ms = timer.elapsed();
    m_agent->Release().Audit().Checkpoint();
    const size_t rows_after = viewer.AllRows().size();
    const uint64_t dir_after = test::DirectoryBytes(m_config.state_dir);
    qInfo("3000 denied SetSplits in %lld ms: %zu rows written, state dir %+.1f KiB, -wal %.1f KiB",
          static_cast<long long>(flood_ms), rows_after - rows_before,
          (static_cast<double>(dir_after) - static_cast<double>(dir_before)) / 1024.0,
          FileBytes(Db() + "-wal") / 1024.0);
    QCOMPARE(rows_after - rows_before, size_t{RefusalLedger::kRowsPerWindow});
    QVERIFY(dir_after < dir_before + (1u << 20));
    // The operator is not held up, and the count reaches the trail as one
    // summary row (at the window's end, or here at shutdown).
    QVERIFY(As("operator").Rollback("flood or not").ok());
    Stop();
    std::string error;
    QVERIFY2(Start(&error), error.c_str());
    const auto rows = As("viewer").AllRows();
    bool summary = false;
    for (const auto& e : rows) {
      summary =
          summary ||
          (e.outcome() == "denied" &&
           QString::fromStdString(e.evidence())
               .contains(
                   QString("%1 more denied set_split").arg(3000 - RefusalLedger::kRowsPerWindow)));
    }
    QVERIFY(summary);
    QVERIFY(As("viewer").Verify().ok());
  }

  // Fault 4: refused reasons of 1 MB and 4 MB were stored whole, after
  // which ListAudit, WatchAudit and `greylane-ctl audit` failed.
  void oversizedReasonsAreStoredBounded() {
    Control op = As("operator");
    const uint64_t revision = op.State().split().revision();
    for (const size_t size : {size_t{1} << 20, size_t{4000000}}) {
      const grpc::Status s = op.SetSplit(1000, revision, std::string(size, 'r'));
      QCOMPARE(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      QVERIFY(s.error_message().size() < 200);
    }
    QVERIFY(As("viewer").SetSplit(1000, revision, std::string(3 << 20, 'v')).error_code() ==
            grpc::StatusCode::PERMISSION_DENIED);
    const auto rows = op.AllRows();
    int cut = 0;
    for (const auto& e : rows) {
      QVERIFY(e.reason().size() <= kMaxReasonBytes);
      cut += QString::fromStdString(e.reason()).contains("bytes]");
    }
    QCOMPARE(cut, 3);
    // A live WatchAudit reads them all.
    grpc::ClientContext c;
    test::Prepare(c, test::DemoToken(*m_agent, "viewer"), 5);
    v1::WatchAuditRequest from_start;
    auto reader = m_clients.control->WatchAudit(&c, from_start);
    v1::AuditEntry e;
    size_t streamed = 0;
    while (streamed < rows.size() && reader->Read(&e)) ++streamed;
    QCOMPARE(streamed, rows.size());
    c.TryCancel();
    reader->Finish().IgnoreError();
  }

  // Fault 4: a database an older agent filled with such rows stays
  // readable: rows travel cut (marked), pages are bounded by bytes, and the
  // agent's own verification still recomputes every hash from disk.
  void oversizedRowsFromOlderAgentsStayReadable() {
    Control op = As("operator");
    const auto rows = op.AllRows();
    QVERIFY(!rows.empty());
    Stop();
    for (int i = 0; i < 3; ++i) {
      AuditRecord big;
      big.actor = "demo-operator";
      big.action = "set_split";
      big.outcome = "rejected";
      big.reason = std::string(3 << 20, static_cast<char>('a' + i));
      big.evidence = "the reason is too long";
      test::AppendAuditRow(Db(), big);
    }
    std::string error;
    QVERIFY2(Start(&error), error.c_str());
    Control viewer = As("viewer");
    v1::ListAuditResponse page;
    QVERIFY(viewer.List(0, &page).ok());
    QVERIFY(page.ByteSizeLong() < (2u << 20));
    const auto all = viewer.AllRows();
    QCOMPARE(all.size(), rows.size() + 4);  // + the three old rows + this start
    ChainVerifier verifier;
    int cut = 0;
    for (const auto& e : all) {
      cut += e.cut_for_transport();
      QVERIFY(verifier.Add(FromProto(e)));
    }
    QCOMPARE(cut, 3);
    QCOMPARE(verifier.Verdict().rows_not_recomputed, 3u);
    const v1::VerifyAuditResponse verdict = viewer.Verify();
    QVERIFY2(verdict.ok(), verdict.detail().c_str());
    QCOMPARE(verdict.rows(), all.size());
  }

  // Fault 1, the aftermath: a state dir an older agent wrote with a Latin-1
  // identity (in a row and in the stored state) starts again with
  // --recover-state, and every reader can read every row.
  void stateDirsPoisonedByOlderAgentsRecover() {
    const std::string db = Db();
    Stop();
    AuditRecord row;
    row.actor =
        "ren\xe9"
        "e operator";
    row.peer = "ipv4:10.0.0.9:5000";
    row.action = "set_split";
    row.outcome = "ok";
    row.reason = "more traffic";
    row.after = test::LastAuditRow(db).after;
    row.after.candidate_basis_points = 1000;
    row.after.revision += 1;
    row = test::AppendAuditRow(db, row);
    ReleaseState poisoned;
    poisoned.split = {1000, row.after.revision, false};
    poisoned.phase = v1::CANARY;
    poisoned.slot_specs = {m_config.baseline, m_config.candidate};
    poisoned.last_change.set_actor(row.actor);
    poisoned.last_change.set_audit_sequence(row.sequence);
    const std::string blob = EncodeReleaseState(poisoned);
    sqlite3* handle = nullptr;
    QCOMPARE(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(handle, "UPDATE release_state SET state = ?, audit_sequence = ?", -1, &s,
                       nullptr);
    sqlite3_bind_blob(s, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, static_cast<int64_t>(row.sequence));
    QCOMPARE(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(handle);

    std::string error;
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("cannot be read"), error.c_str());
    QVERIFY(QString::fromStdString(error).contains("--recover-state"));
    m_config.recover_state = true;
    QVERIFY2(Start(&error), error.c_str());
    Control viewer = As("viewer");
    const v1::AgentState state = viewer.State();  // parses in the client
    QCOMPARE(state.split().candidate_basis_points(), 1000u);
    const auto rows = viewer.AllRows();
    bool escaped = false;
    for (const auto& e : rows) {
      QVERIFY(IsValidUtf8(e.actor()));
      escaped = escaped || (e.cut_for_transport() && e.actor() == "ren\\xe9e operator");
    }
    QVERIFY(escaped);
    QCOMPARE(rows.back().action(), std::string("recover"));
    QVERIFY(viewer.Verify().ok());
  }

  // The pending-rows journal may hold a rollback not yet in the trail: one
  // that vanished or is damaged in both halves refuses the start instead
  // of being replaced silently; --recover-state accepts the trail.
  void aLostJournalRefusesTheStart_data() {
    QTest::addColumn<int>("damage");
    QTest::newRow("removed") << 0;
    QTest::newRow("both halves damaged") << 1;
    QTest::newRow("replaced by a small file") << 2;
    QTest::newRow("blanked") << 3;
    QTest::newRow("another state dir's") << 4;
  }
  void aLostJournalRefusesTheStart() {
    QFETCH(int, damage);
    Stop();
    const std::string journal = Db() + "-pending";
    if (damage == 0) {
      QVERIFY(QFile::remove(QString::fromStdString(journal)));
    } else if (damage == 1) {
      QFile file(QString::fromStdString(journal));
      QVERIFY(file.open(QIODevice::ReadWrite));
      for (const qint64 at : {qint64{2}, qint64{512 * 1024 + 2}}) {  // both headers
        QVERIFY(file.seek(at));
        QVERIFY(file.write("\xff\xfe") == 2);
      }
    } else if (damage == 2) {
      WriteFile(QString::fromStdString(journal), "not a journal", 0600);
    } else if (damage == 3) {
      // Zeros, as a fresh 1 MiB file would hold: no longer "never written".
      QFile file(QString::fromStdString(journal));
      QVERIFY(file.open(QIODevice::WriteOnly));
      QVERIFY(file.write(QByteArray(1024 * 1024, '\0')) == 1024 * 1024);
    } else {
      // A valid journal, but another database's: its rows are not ours.
      std::string other_error;
      auto other = test::StartAgent(test::DemoTestConfig(0), &other_error);
      QVERIFY2(other, other_error.c_str());
      const std::string other_journal = other->Config().state_dir + "/audit.db-pending";
      other.reset();
      QVERIFY(QFile::remove(QString::fromStdString(journal)));
      QVERIFY(QFile::copy(QString::fromStdString(other_journal), QString::fromStdString(journal)));
    }
    std::string error;
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("pending-rows journal"), error.c_str());
    QVERIFY(QString::fromStdString(error).contains("--recover-state"));
    m_config.recover_state = true;
    QVERIFY2(Start(&error), error.c_str());
    const auto rows = As("viewer").AllRows();
    QVERIFY2(QString::fromStdString(rows.back().reason()).contains("pending-rows journal"),
             rows.back().reason().c_str());
    m_config.recover_state = false;
    Stop();
    QVERIFY2(Start(&error), error.c_str());  // and from then on as usual
  }

  // Fault 5: two agents served one state dir at different splits.
  void oneAgentPerStateDir() {
    std::string error;
    auto second = CanaryAgent::Create(m_config, &error);
    QVERIFY(!second);
    QVERIFY2(
        QString::fromStdString(error).contains("in use by another greylane-agent (pid " +
                                               QString::number(QCoreApplication::applicationPid())),
        error.c_str());
    QVERIFY(QString::fromStdString(error).contains("control 127.0.0.1:"));
    // Removing the file that names the holder does not lift the lock.
    QVERIFY(QFile::remove(QString::fromStdString(m_config.state_dir + "/agent.lock")));
    QVERIFY(!CanaryAgent::Create(m_config, &error));
    QVERIFY2(QString::fromStdString(error).contains("in use by another greylane-agent"),
             error.c_str());
    Stop();  // the lock goes with the agent
    QVERIFY2(Start(&error), error.c_str());
  }

  // Fault 6: a huge declared layer, an unbounded connection count, a FIFO
  // as the model file: refused at once, on every path in.
  void hostileVersionSpecsAreRefused() {
    Control admin = As("admin");
    uint64_t revision = admin.State().split().revision();
    v1::AgentState state;
    QVERIFY(admin.SetSplit(0, revision, "make room", &state).ok());
    revision = state.split().revision();
    struct Case {
      const char* name;
      std::function<void(v1::VersionSpec*)> edit;
      const char* expected;
    };
    QTemporaryDir files;
    const std::string fifo = files.filePath("fifo.glm").toStdString();
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    // A model that passes its own probe but takes one value per row, where
    // the baseline's clients send 64.
    const std::string narrow = WriteFile(
        files.filePath("narrow.glm"),
        std::string("greylane-mlp 1\nmodel m\nversion n\nlayers 1\ndense 1 1 softmax\nend\n") +
            std::string(8, '\0'),
        0644);
    const std::string huge = WriteFile(
        files.filePath("huge.glm"),
        "greylane-mlp 1\nmodel m\nversion x\nlayers 1\ndense 65536 65536 softmax\nend\n0123456789",
        0644);
    const std::vector<Case> cases = {
        {"connections",
         [](v1::VersionSpec* s) {
           s->set_backend("oip-grpc"), s->set_address("127.0.0.1:1"), s->set_upstream_model("m"),
               s->set_connections(100000);
         },
         "connections must be 1..64"},
        {"deadline",
         [](v1::VersionSpec* s) {
           s->set_backend("oip-grpc"), s->set_address("127.0.0.1:1"), s->set_upstream_model("m"),
               s->set_deadline_ms(4000000000u);
         },
         "deadline_ms must be"},
        {"fifo", [&](v1::VersionSpec* s) { s->set_model_file(fifo); }, "not a regular file"},
        {"device", [](v1::VersionSpec* s) { s->set_model_file("/dev/zero"); },
         "not a regular file"},
        {"huge layer", [&](v1::VersionSpec* s) { s->set_model_file(huge); },
         "bytes of weights but 10 follow"},
        {"escape in version", [](v1::VersionSpec* s) { s->set_version("v9\x1b[2J"); },
         "may only hold"},
        {"relative", [](v1::VersionSpec* s) { s->set_model_file("models/v3.glm"); },
         "absolute path"},
        {"unknown backend", [](v1::VersionSpec* s) { s->set_backend("onnx"); },
         "must be 'builtin', 'oip-grpc', 'builtin-lm' or 'openai-http'"},
        {"builtin, connections", [](v1::VersionSpec* s) { s->set_connections(100000); },
         "connections must be 1..64"},
        {"builtin, deadline", [](v1::VersionSpec* s) { s->set_deadline_ms(4000000000u); },
         "deadline_ms must be"},
        {"another signature", [&](v1::VersionSpec* s) { s->set_model_file(narrow); },
         "the candidate takes 'input' FP32 [-1,1] where the baseline takes 'input' FP32 [-1,64]"},
    };
    for (const Case& c : cases) {
      v1::VersionSpec spec;
      spec.set_version("v3");
      spec.set_backend("builtin");
      spec.set_model_file(test::ModelsDir() + "/digits-v1.glm");
      c.edit(&spec);
      QElapsedTimer timer;
      timer.start();
      const grpc::Status s = admin.Load(spec, revision);
      QVERIFY2(!s.ok(), c.name);
      QVERIFY2(QString::fromStdString(s.error_message()).contains(c.expected),
               (std::string(c.name) + ": " + s.error_message()).c_str());
      QVERIFY2(timer.elapsed() < 3000, c.name);
    }
    // And the agent still stops promptly (a FIFO once hung its shutdown).
    QElapsedTimer timer;
    timer.start();
    Stop();
    QVERIFY(timer.elapsed() < 5000);
    // The same bounds apply to the config and to a restart.
    m_config.candidate.upstream.connections = 65;
    m_config.candidate.backend = "oip-grpc";
    m_config.candidate.upstream.address = "127.0.0.1:1";
    m_config.candidate.upstream.model = "m";
    std::string error;
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("connections must be 1..64"), error.c_str());
  }

  // An upstream pointing back at the agent forwarded each request (and
  // each probe) to itself until its deadline: a core spun per request.
  void forwardingLoopsAreRefused() {
    Control admin = As("admin");
    v1::AgentState state;
    QVERIFY(admin.SetSplit(0, admin.State().split().revision(), "make room", &state).ok());
    const uint64_t revision = state.split().revision();
    v1::VersionSpec self;
    self.set_version("self");
    self.set_backend("oip-grpc");
    self.set_address(m_agent->DataAddress());
    self.set_upstream_model("digits");
    grpc::Status s = admin.Load(self, revision);
    QCOMPARE(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    QVERIFY2(QString::fromStdString(s.error_message()).contains("forwarding loop"),
             s.error_message().c_str());
    // A request that already passed this agent (two agents pointing at
    // each other) or too many agents is refused as the sender's mistake.
    const uint64_t client_errors_before =
        m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().client_errors;
    for (const char* via : {"node-a,test-agent", "a,b,c,d,e,f,g,h"}) {
      s = test::RawUnary(m_agent->DataAddress(), "/inference.GRPCInferenceService/ModelInfer",
                         test::DigitsRequest(test::Holdout()[0]).SerializeAsString(), {},
                         {{"x-greylane-via", via}});
      QCOMPARE(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      QVERIFY2(QString::fromStdString(s.error_message()).startsWith("forwarding loop"),
               s.error_message().c_str());
    }
    QCOMPARE(m_agent->Pair().Recorder(ReleaseRole::kBaseline).Snapshot().client_errors,
             client_errors_before + 2);
    // A short path through other agents is served.
    s = test::RawUnary(m_agent->DataAddress(), "/inference.GRPCInferenceService/ModelInfer",
                       test::DigitsRequest(test::Holdout()[0]).SerializeAsString(), {},
                       {{"x-greylane-via", "node-a,node-b"}});
    QVERIFY2(s.ok(), s.error_message().c_str());
  }

  void modelsRootConfinesModelFiles() {
    Stop();
    m_config.models_root = test::ModelsDir();
    std::string error;
    QVERIFY2(Start(&error), error.c_str());
    Control admin = As("admin");
    v1::AgentState state;
    QVERIFY(admin.SetSplit(0, admin.State().split().revision(), "room", &state).ok());
    QTemporaryDir elsewhere;
    const QString copy = elsewhere.filePath("v1.glm");
    QVERIFY(QFile::copy(QString::fromStdString(test::ModelsDir() + "/digits-v1.glm"), copy));
    v1::VersionSpec spec;
    spec.set_version("v3");
    spec.set_backend("builtin");
    for (const std::string& path :
         {copy.toStdString(), test::ModelsDir() + "/../models/../../etc/passwd"}) {
      spec.set_model_file(path);
      const grpc::Status s = admin.Load(spec, state.split().revision());
      QVERIFY2(QString::fromStdString(s.error_message()).contains("outside the models root"),
               s.error_message().c_str());
    }
    spec.set_model_file(test::ModelsDir() + "/digits-v1.glm");
    QVERIFY(admin.Load(spec, state.split().revision()).ok());
  }

  // Fault 8: with its release_state row deleted the agent started afresh
  // at 5 %, revision 1, and its chain still verified.
  void releaseStateIsCheckedAgainstTheTrail() {
    Control op = As("operator");
    v1::AgentState state;
    QVERIFY(op.SetSplit(2500, op.State().split().revision(), "to a quarter", &state).ok());
    QVERIFY(op.SetSplit(4000, state.split().revision(), "to 40 %", &state).ok());
    Stop();
    Sql(Db(), "DELETE FROM release_state");
    std::string error;
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("no release state is stored"), error.c_str());
    QVERIFY(QString::fromStdString(error).contains("40.00 % r3 v1/v2 CANARY"));
    QVERIFY(QString::fromStdString(error).contains("--recover-state"));
    m_config.recover_state = true;
    QVERIFY2(Start(&error), error.c_str());
    m_config.recover_state = false;
    v1::AgentState recovered = As("viewer").State();
    QCOMPARE(recovered.split().candidate_basis_points(), 4000u);
    QCOMPARE(recovered.split().revision(), 3u);
    QCOMPARE(recovered.last_change().action(), std::string("recover"));
    QVERIFY(As("viewer").Verify().ok());

    // A stale copy of the state (an old backup restored over it) is refused too.
    QVERIFY(As("operator").SetSplit(100, 3, "down", &state).ok());
    Stop();
    QVERIFY2(Start(&error), error.c_str());  // consistent again: starts
    Stop();
    Sql(Db(),
        "UPDATE release_state SET state = (SELECT state FROM release_state), "
        "audit_sequence = 2");
    const std::string old_blob = EncodeReleaseState([&] {
      ReleaseState s;
      s.split = {2500, 2, false};
      s.phase = v1::CANARY;
      s.slot_specs = {m_config.baseline, m_config.candidate};
      return s;
    }());
    sqlite3* handle = nullptr;
    QCOMPARE(sqlite3_open(Db().c_str(), &handle), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(handle, "UPDATE release_state SET state = ?", -1, &s, nullptr);
    sqlite3_bind_blob(s, 1, old_blob.data(), static_cast<int>(old_blob.size()), SQLITE_TRANSIENT);
    QCOMPARE(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(handle);
    QVERIFY(!Start(&error));
    QVERIFY2(QString::fromStdString(error).contains("is not what the audit trail's last row"),
             error.c_str());
  }

  // Fault 9: ListAudit(after_sequence >= 2^63) returned from row 1.
  void sequencesBeyondInt64FindNothing() {
    Control viewer = As("viewer");
    for (const uint64_t after : {uint64_t{1} << 63, ~uint64_t{0}, (uint64_t{1} << 63) - 1}) {
      v1::ListAuditResponse page;
      QVERIFY(viewer.List(after, &page).ok());
      QCOMPARE(page.entries_size(), 0);
    }
    grpc::ClientContext c;
    test::Prepare(c, test::DemoToken(*m_agent, "viewer"), 1);
    v1::WatchAuditRequest r;
    r.set_after_sequence(uint64_t{1} << 63);
    auto reader = m_clients.control->WatchAudit(&c, r);
    v1::AuditEntry e;
    QVERIFY(!reader->Read(&e));  // the deadline ends it; nothing was sent
  }

  // Fault 9: a group- or world-writable tokens file was accepted.
  void tokensFilesAreCheckedLikeSshKeys_data() {
    QTest::addColumn<int>("mode");
    QTest::addColumn<QString>("error");
    QTest::addColumn<bool>("warns");
    QTest::newRow("0600") << 0600 << "" << false;
    QTest::newRow("0644") << 0644 << "" << true;
    QTest::newRow("0620") << 0620 << "writable by its group" << false;
    QTest::newRow("0666") << 0666 << "writable by everyone" << false;
  }
  void tokensFilesAreCheckedLikeSshKeys() {
    QFETCH(int, mode);
    QFETCH(QString, error);
    QFETCH(bool, warns);
    Stop();
    m_config.demo_tokens = false;
    m_config.tokens_file = WriteFile(m_dir.filePath(QString("tokens-%1").arg(mode, 0, 8)),
                                     Sha256Hex("t") + " ops operator\n", static_cast<mode_t>(mode));
    std::string why;
    const bool started = Start(&why);
    QCOMPARE(started, error.isEmpty());
    if (!started) {
      QVERIFY2(QString::fromStdString(why).contains(error), why.c_str());
      QVERIFY(QString::fromStdString(why).contains("chmod go-w"));
      return;
    }
    QCOMPARE(!m_agent->TokensWarning().empty(), warns);
  }

  // Fault 9: a huge probe interval overflowed a deadline and spun a core.
  void everyDurationIsBounded() {
    Stop();
    for (const auto& [what, edit] :
         std::vector<std::pair<const char*, std::function<void(AgentConfig*)>>>{
             {"probe_interval_ms",
              [](AgentConfig* c) { c->probe_interval = std::chrono::hours(1000000); }},
             {"probe_interval_ms",
              [](AgentConfig* c) { c->probe_interval = std::chrono::milliseconds(1); }},
             {"probe_timeout_ms", [](AgentConfig* c) { c->probe_timeout = std::chrono::hours(2); }},
             {"drain_timeout_ms",
              [](AgentConfig* c) { c->drain_timeout = std::chrono::milliseconds(-5); }}}) {
      AgentConfig config = m_config;
      edit(&config);
      std::string error;
      QVERIFY(!CanaryAgent::Create(config, &error));
      QVERIFY2(QString::fromStdString(error).contains(what), error.c_str());
    }
  }
};

QTEST_GUILESS_MAIN(TestHardening)
#include "test_hardening.moc"
