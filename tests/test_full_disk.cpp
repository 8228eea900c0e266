// A full disk may not cost a rollback. The state dir lives on a small tmpfs
// this test mounts (as root; otherwise it skips and says why), filled to
// the last byte on purpose: the rollback takes effect at once, says its
// audit row is pending, keeps the row across kill -9, and writes it as soon
// as space returns. Every other change stays "durable before acknowledged".
#include <QtTest>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <grpcpp/create_channel.h>

#include "common/client_token.h"
#include "common/credentials.h"
#include "support/agent_process.h"
#include "support/agent_test_support.h"

using namespace greylane;

namespace {

// Writes until the volume is full. Returns the bytes written.
uint64_t Fill(const QString& path) {
  std::ofstream out(path.toStdString(), std::ios::binary | std::ios::app);
  const std::string chunk(64 * 1024, 'f');
  uint64_t written = 0;
  while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
    written += chunk.size();
  }
  // Top off the last partial page.
  out.clear();
  for (int i = 0; i < 64 * 1024 && out.put('f') && out.flush(); ++i) ++written;
  return written;
}

struct Remote {
  std::unique_ptr<v1::Agent::Stub> stub;
  std::string token;
  grpc::Status Rollback(const std::string& reason, v1::AgentState* out) {
    grpc::ClientContext c;
    test::Prepare(c, token);
    v1::RollbackRequest r;
    r.set_reason(reason);
    return stub->Rollback(&c, r, out);
  }
  grpc::Status SetSplit(uint32_t bp, const std::string& reason, v1::AgentState* out) {
    const v1::AgentState now = State();
    grpc::ClientContext c;
    test::Prepare(c, token);
    v1::SetSplitRequest r;
    r.set_candidate_basis_points(bp);
    r.set_expected_revision(now.split().revision());
    r.set_reason(reason);
    return stub->SetSplit(&c, r, out);
  }
  v1::AgentState State() {
    grpc::ClientContext c;
    test::Prepare(c, token);
    v1::AgentState s;
    stub->GetState(&c, {}, &s).IgnoreError();
    return s;
  }
  std::vector<v1::AuditEntry> Rows() {
    std::vector<v1::AuditEntry> rows;
    for (uint64_t after = 0;;) {
      grpc::ClientContext c;
      test::Prepare(c, token);
      v1::ListAuditRequest r;
      r.set_after_sequence(after);
      r.set_limit(1000);
      v1::ListAuditResponse page;
      if (!stub->ListAudit(&c, r, &page).ok() || page.entries().empty()) return rows;
      rows.insert(rows.end(), page.entries().begin(), page.entries().end());
      after = page.entries(page.entries_size() - 1).sequence();
    }
  }
  bool Verified() {
    grpc::ClientContext c;
    test::Prepare(c, token, 30);
    v1::VerifyAuditResponse v;
    return stub->VerifyAudit(&c, {}, &v).ok() && v.ok();
  }
};

Remote Connect(const std::string& control, const std::string& tokens_file, const char* role) {
  Remote r;
  r.stub = v1::Agent::NewStub(grpc::CreateChannel(control, grpc::InsecureChannelCredentials()));
  r.token = ReadTokenFile(tokens_file, role)->token;
  return r;
}

}  // namespace

class TestFullDisk final : public QObject {
  Q_OBJECT

  QTemporaryDir m_outside;
  QString m_volume;

  // Starts the agent on the volume, gives the candidate `basis_points`,
  // fills the disk and rolls back: in force, its row pending.
  void RollBackOnAFullDisk(test::DemoAgentProcess& agent, uint32_t basis_points, Remote* op) {
    agent.SetReadyDir(m_outside.path());
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    *op = Connect(agent.Control().toStdString(), agent.TokenFile().toStdString(), "operator");
    v1::AgentState state;
    QVERIFY(op->SetSplit(basis_points, "ramp", &state).ok());
    Fill(m_volume + "/filler");
    QVERIFY(op->Rollback("p99 doubled; disk full", &state).ok());
    QCOMPARE(state.audit_rows_pending(), 1u);
  }
  bool m_mounted = false;

 private slots:
  void initTestCase() {
    if (::geteuid() != 0) {
      QSKIP("mounting the small tmpfs this test fills needs root (CI runs as root)");
    }
    m_volume = m_outside.filePath(QStringLiteral("volume"));
    QVERIFY(QDir().mkpath(m_volume));
    if (::mount("tmpfs", m_volume.toLocal8Bit().constData(), "tmpfs", MS_NOSUID | MS_NODEV,
                "size=6m,mode=0700") != 0) {
      QSKIP(qPrintable(QStringLiteral("cannot mount a tmpfs here: %1").arg(std::strerror(errno))));
    }
    m_mounted = true;
  }
  void cleanupTestCase() {
    if (m_mounted) ::umount2(m_volume.toLocal8Bit().constData(), MNT_DETACH);
  }
  void cleanup() {
    // Empty the volume between functions.
    QDir(m_volume).removeRecursively();
    QDir().mkpath(m_volume);
  }

  void rollbackTakesEffectOnAFullDisk() {
    AgentConfig config = test::DemoTestConfig(500);
    config.state_dir = (m_volume + "/state").toStdString();
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    test::Clients clients = test::Connect(*agent);
    Remote op{std::move(clients.control), test::DemoToken(*agent, "operator")};
    v1::AgentState state;
    QVERIFY(op.SetSplit(2000, "to 20 %", &state).ok());
    const size_t rows_before = op.Rows().size();

    const uint64_t filled = Fill(m_volume + "/filler");
    qInfo("filled the volume with %.1f MiB", filled / 1048576.0);
    // Any other change is refused: nothing is acknowledged that was not stored.
    grpc::Status s = op.SetSplit(3000, "to 30 %", &state);
    QCOMPARE(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    QVERIFY2(QString::fromStdString(s.error_message()).contains("disk is full"),
             s.error_message().c_str());
    QVERIFY(QString::fromStdString(s.error_message()).contains("a rollback would still"));
    QCOMPARE(op.State().split().candidate_basis_points(), 2000u);

    // The rollback is in force at once, and says its row is pending.
    QElapsedTimer timer;
    timer.start();
    s = op.Rollback("candidate failing; disk full", &state);
    const qint64 rollback_ms = timer.elapsed();
    QVERIFY2(s.ok(), s.error_message().c_str());
    QCOMPARE(state.split().candidate_basis_points(), 0u);
    QCOMPARE(state.phase(), v1::ROLLED_BACK);
    QCOMPARE(state.audit_rows_pending(), 1u);
    QVERIFY2(QString::fromStdString(state.audit_pending_detail()).contains("full"),
             state.audit_pending_detail().c_str());
    qInfo("rollback on a full disk answered in %lld ms, audit row pending: %s",
          static_cast<long long>(rollback_ms), state.audit_pending_detail().c_str());
    for (int u = 0; u < 50; ++u) {
      inference::ModelInferResponse response;
      QVERIFY(test::Infer(*clients.data, test::DigitsRequest(test::Holdout()[u]), &response,
                          "user-" + std::to_string(u))
                  .ok());
      QCOMPARE(response.model_version(), std::string("v1"));
    }
    // Readers see the pending row in its place in the chain.
    auto rows = op.Rows();
    QCOMPARE(rows.size(), rows_before + 1);
    QCOMPARE(rows.back().action(), std::string("rollback"));
    QVERIFY(op.Verified());

    // Space returns: the row is written within a couple of housekeeping ticks.
    QVERIFY(QFile::remove(m_volume + "/filler"));
    QTRY_COMPARE_WITH_TIMEOUT(op.State().audit_rows_pending(), 0u, 5000);
    QVERIFY(op.Verified());
    QVERIFY(op.SetSplit(100, "carefully again", &state).ok());
    clients = {};
    agent.reset();

    // What was acknowledged is what a restart serves.
    agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    clients = test::Connect(*agent);
    Remote again{std::move(clients.control), test::DemoToken(*agent, "viewer")};
    QCOMPARE(again.State().split().candidate_basis_points(), 100u);
    rows = again.Rows();
    bool rollback_row = false;
    for (const auto& e : rows)
      rollback_row = rollback_row || (e.action() == "rollback" && e.outcome() == "ok");
    QVERIFY(rollback_row);
    QVERIFY(again.Verified());
  }

  // kill -9 while the row is pending: the reserved journal holds it; the
  // agent restarts rolled back (even on a still-full disk) and writes the
  // rows once it can.
  void pendingRollbackSurvivesKill9() {
    const QString state_dir = m_volume + "/state";
    test::DemoAgentProcess agent(GREYLANE_AGENT_BIN, state_dir);
    Remote op;
    RollBackOnAFullDisk(agent, 4000, &op);
    if (QTest::currentTestFailed()) return;
    agent.Kill();

    QVERIFY2(agent.Start(), qPrintable(agent.Error()));  // the disk is still full
    op = Connect(agent.Control().toStdString(), agent.TokenFile().toStdString(), "operator");
    v1::AgentState state = op.State();
    QCOMPARE(state.split().candidate_basis_points(), 0u);
    QCOMPARE(state.phase(), v1::ROLLED_BACK);
    QVERIFY(state.audit_rows_pending() >= 1u);  // the rollback, and this start
    QVERIFY(QFile::remove(m_volume + "/filler"));
    QTRY_COMPARE_WITH_TIMEOUT(op.State().audit_rows_pending(), 0u, 5000);
    const auto rows = op.Rows();
    QVERIFY(rows.size() >= 2);
    QCOMPARE(rows[rows.size() - 2].action(), std::string("rollback"));
    QCOMPARE(rows.back().action(), std::string("start"));
    QVERIFY(op.Verified());
    QCOMPARE(agent.Stop(), 0);
  }

  // The journal removed under the agent while a rollback is pending: the
  // agent makes a new one within a second (the old one's blocks freed
  // first, so it fits on the full disk), and kill -9 still comes back
  // rolled back.
  void journalRemovedWhilePendingIsMadeAgain() {
    const QString state_dir = m_volume + "/state";
    test::DemoAgentProcess agent(GREYLANE_AGENT_BIN, state_dir);
    Remote op;
    RollBackOnAFullDisk(agent, 1000, &op);
    if (QTest::currentTestFailed()) return;
    const QString journal = state_dir + "/audit.db-pending";
    const auto inode = [&] { return QFileInfo(journal).exists() ? QFileInfo(journal).size() : -1; };
    QVERIFY(QFile::remove(journal));
    QTRY_COMPARE_WITH_TIMEOUT(inode(), qint64{1} << 20, 5000);
    agent.Kill();
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    op = Connect(agent.Control().toStdString(), agent.TokenFile().toStdString(), "viewer");
    v1::AgentState state = op.State();
    QCOMPARE(state.split().candidate_basis_points(), 0u);
    QCOMPARE(state.phase(), v1::ROLLED_BACK);
    QVERIFY(QFile::remove(m_volume + "/filler"));
    QTRY_COMPARE_WITH_TIMEOUT(op.State().audit_rows_pending(), 0u, 5000);
    QVERIFY(op.Verified());
    QCOMPARE(agent.Stop(), 0);
  }
};

QTEST_GUILESS_MAIN(TestFullDisk)
#include "test_full_disk.moc"
