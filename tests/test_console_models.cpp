// The console's models and widgets without a network or a display: the
// audit trail model (chain recomputed here, a remembered head, export),
// the fleet model, settings, the command line, the split control and the
// time-series chart.
#include <QScreen>
#include <QtTest>

#include <QAbstractItemModelTester>
#include <QDoubleSpinBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSlider>
#include <QTemporaryDir>

#include "app/agent_directory.h"
#include "app/audit_trail_model.h"
#include "app/console_options.h"
#include "app/credential_store.h"
#include "app/fleet_memory.h"
#include "app/fleet_model.h"
#include "app/mutation_outcome.h"
#include "app/version_comparison.h"
#include "common/audit_proto.h"
#include "common/latency_sketch.h"
#include "ui/connect_dialog.h"
#include "ui/main_window.h"
#include "ui/release_view.h"
#include "widgets/time_series_chart.h"
#include "widgets/traffic_split_control.h"
#include "widgets/version_card.h"

using greylane::AuditRecord;
using greylane::AuditTrailModel;

namespace {
// A well-formed chain of set_split rows: 0 → 100 → 200 … basis points.
std::vector<AuditRecord> Chain(int rows) {
  std::vector<AuditRecord> chain;
  std::string prev = greylane::kGenesisHash;
  for (int i = 1; i <= rows; ++i) {
    AuditRecord r;
    r.sequence = static_cast<uint64_t>(i);
    r.time_unix_ms = 1'795'000'000'000 + i * 1000;
    r.actor = i % 3 == 0 ? "mallory" : "alice";
    r.role = i % 3 == 0 ? "viewer" : "operator";
    r.peer = "ipv4:127.0.0.1:5000";
    r.action = "set_split";
    r.outcome = i % 3 == 0 ? "denied" : "ok";
    r.reason = "step " + std::to_string(i);
    r.before = {static_cast<uint32_t>((i - 1) * 100), static_cast<uint64_t>(i), "v1", "v2",
                "CANARY"};
    r.after = r.outcome == "ok"
                  ? greylane::AuditState{static_cast<uint32_t>(i * 100),
                                         static_cast<uint64_t>(i + 1), "v1", "v2", "CANARY"}
                  : r.before;
    r.prev_hash = prev;
    r.hash = greylane::ComputeRowHash(r);
    prev = r.hash;
    chain.push_back(r);
  }
  return chain;
}

greylane::v1::AuditEntry Entry(const AuditRecord& r) {
  greylane::v1::AuditEntry e;
  greylane::ToProto(r, &e);
  return e;
}

greylane::v1::AgentState CanaryState(greylane::v1::Health candidate_health) {
  greylane::v1::AgentState s;
  s.set_model_name("digits");
  s.set_phase(greylane::v1::CANARY);
  s.mutable_split()->set_candidate_basis_points(500);
  for (const auto& [slot, version] :
       {std::pair{greylane::v1::BASELINE, "v1"}, std::pair{greylane::v1::CANDIDATE, "v2"}}) {
    auto* v = s.add_versions();
    v->set_slot(slot);
    v->set_version(version);
    v->set_health(slot == greylane::v1::CANDIDATE ? candidate_health : greylane::v1::HEALTHY);
    v->set_health_detail(slot == greylane::v1::CANDIDATE &&
                                 candidate_health == greylane::v1::UNHEALTHY
                             ? "upstream 127.0.0.1:9 ModelReady: connection refused"
                             : "");
  }
  return s;
}

// Ten seconds of both versions; the candidate answers `candidate_ok` of
// its 200 requests a second.
void FeedSeconds(greylane::AgentSession& session, int candidate_ok, int from_second = 1) {
  for (int i = from_second; i < from_second + 10; ++i) {
    greylane::v1::MetricsFrame f;
    f.set_window_end_unix_ms(1'795'000'000'000 + i * 1000);
    for (const auto& [version, ok] : {std::pair{"v1", 200}, std::pair{"v2", candidate_ok}}) {
      auto* w = f.add_versions();
      w->set_version(version);
      w->set_requests(200);
      w->set_server_errors(static_cast<uint64_t>(200 - ok));
      greylane::LatencySketch sketch;
      for (int k = 0; k < ok; ++k) sketch.Add(1000.0 + k);
      w->set_latency_p50_ms(sketch.QuantileMillis(0.5));
      w->set_latency_p99_ms(sketch.QuantileMillis(0.99));
      sketch.ToProto(w->mutable_latency());
    }
    emit session.Client().frameReceived(f);
  }
}

QString WriteFile(const QTemporaryDir& dir, const QString& name, const QByteArray& text) {
  QFile file(dir.filePath(name));
  file.open(QIODevice::WriteOnly);
  file.write(text);
  return file.fileName();
}
}  // namespace

class TestConsoleModels final : public QObject {
  Q_OBJECT

 private slots:
  // Colour needs a relative and an absolute difference and enough samples;
  // errors count without any latency.
  void theCandidateIsRedOnlyForRealDifferences() const {
    greylane::WindowSummary baseline, candidate;
    baseline.requests = baseline.successes = 100;
    candidate.requests = candidate.successes = 100;
    baseline.p50_ms = 0.010;
    baseline.p99_ms = 0.0185;
    candidate.p50_ms = 0.011;
    candidate.p99_ms = 0.0455;  // "+146 %", 27 µs: noise
    greylane::CandidateComparison c = greylane::CompareCandidate(baseline, candidate);
    QCOMPARE(c.p99_diff, QStringLiteral("+146 %"));
    QVERIFY(!c.worse);
    candidate.p99_ms = 30;
    baseline.p99_ms = 20;
    candidate.successes = 50;  // too few to judge
    c = greylane::CompareCandidate(baseline, candidate);
    QVERIFY(!c.worse);
    QVERIFY2(c.why.contains("too few"), qPrintable(c.why));
    candidate.successes = 500;
    c = greylane::CompareCandidate(baseline, candidate);
    QVERIFY(c.worse);
    QVERIFY2(c.why.contains("p99 30.00 ms against 20.00 ms"), qPrintable(c.why));
    // Every request failing: no latency at all, and worse.
    candidate = {};
    candidate.requests = 40;
    candidate.server_error_rate = 1.0;
    c = greylane::CompareCandidate(baseline, candidate);
    QVERIFY(c.worse);
    QVERIFY(c.p99_diff.isEmpty());
    QVERIFY2(c.why.contains("server errors 100.00 %"), qPrintable(c.why));
  }

  // A call with no answer is judged from the state read afterwards.
  void aChangeWithoutAnswerIsJudgedFromTheFreshState() const {
    QVERIFY(
        greylane::OutcomeUnknown(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded", 10000));
    QVERIFY(greylane::OutcomeUnknown(grpc::StatusCode::UNAVAILABLE, "Socket closed", 120));
    QVERIFY(!greylane::OutcomeUnknown(grpc::StatusCode::UNAVAILABLE, "not connected",
                                      0));  // never sent
    QVERIFY(!greylane::OutcomeUnknown(grpc::StatusCode::PERMISSION_DENIED, "role viewer", 3));
    const greylane::SentChange sent{"rollback", "p99 doubled", "ops", 7, 40, 0};
    greylane::v1::AgentState fresh;
    fresh.mutable_split()->set_revision(7);
    fresh.mutable_split()->set_candidate_basis_points(1500);
    fresh.set_phase(greylane::v1::CANARY);
    fresh.mutable_last_change()->set_audit_sequence(40);
    greylane::ChangeVerdict verdict = greylane::JudgeFromFreshState(sent, fresh);
    QVERIFY(!verdict.applied);
    QVERIFY2(verdict.text.contains("NOT applied: nothing changed"), qPrintable(verdict.text));
    // Applied: the last change is this caller's rollback, after the one before.
    fresh.mutable_split()->set_revision(8);
    fresh.mutable_split()->set_candidate_basis_points(0);
    fresh.set_phase(greylane::v1::ROLLED_BACK);
    fresh.mutable_last_change()->set_audit_sequence(41);
    fresh.mutable_last_change()->set_action("rollback");
    fresh.mutable_last_change()->set_actor("ops");
    verdict = greylane::JudgeFromFreshState(sent, fresh);
    QVERIFY(verdict.applied);
    QVERIFY2(verdict.text.contains("was applied"), qPrintable(verdict.text));
    // Someone else's change came first and ours is not the last.
    fresh.set_phase(greylane::v1::CANARY);
    fresh.mutable_split()->set_candidate_basis_points(2000);
    fresh.mutable_last_change()->set_action("set_split");
    fresh.mutable_last_change()->set_actor("someone");
    verdict = greylane::JudgeFromFreshState(sent, fresh);
    QVERIFY(!verdict.applied);
    QVERIFY2(verdict.text.contains("someone did split change"), qPrintable(verdict.text));
  }

  void auditModelRecomputesTheChain() const {
    AuditTrailModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy changed(&model, &AuditTrailModel::chainChanged);
    for (const AuditRecord& r : Chain(6)) model.Append(Entry(r));
    QCOMPARE(model.rowCount(), 6);
    QCOMPARE(changed.count(), 6);
    QVERIFY(model.ChainOk());
    QCOMPARE(model.ChainSummary(), QStringLiteral("chain recomputed here through #6"));
    QCOMPARE(model.data(model.index(1, AuditTrailModel::Change), Qt::DisplayRole).toString(),
             QStringLiteral("1.00 % → 2.00 %"));
    QCOMPARE(model.data(model.index(2, AuditTrailModel::Change), Qt::DisplayRole).toString(),
             QStringLiteral("—"));  // denied: nothing changed
    QCOMPARE(model.data(model.index(2, 0), AuditTrailModel::kOutcomeRole).toString(),
             QStringLiteral("denied"));
    QVERIFY(model.data(model.index(0, AuditTrailModel::Time), Qt::ToolTipRole)
                .toString()
                .endsWith('Z'));  // UTC in the tooltip
    // A replayed row (after a reconnect) is ignored.
    model.Append(Entry(Chain(6)[3]));
    QCOMPARE(model.rowCount(), 6);

    // The step a change ended, with each version's figures.
    AuditTrailModel steps;
    AuditRecord change = Chain(1)[0];
    change.step = greylane::AuditStep{0,
                                      312'000,
                                      500,
                                      {{"baseline", "v1", 1200, 0, 0, 1200, 2000, 3100},
                                       {"candidate", "v2", 60, 6, 0, 1300, 2100, 4200}}};
    change.hash = ComputeRowHash(change);
    steps.Append(Entry(change));
    QVERIFY(steps.ChainOk());
    QCOMPARE(steps.data(steps.index(0, AuditTrailModel::Change), Qt::ToolTipRole).toString(),
             QStringLiteral("<p style='white-space:pre-wrap'>The step this change ended: 5m 12s at "
                            "5.00 %: baseline v1 1200 req, 0 errors, p50/p90/p99 1.20/2.00/3.10 "
                            "ms; candidate v2 60 req, 6 errors, p50/p90/p99 1.30/2.10/4.20 "
                            "ms</p>"));
  }

  void auditModelFindsAnEditedRow() const {
    AuditTrailModel model;
    std::vector<AuditRecord> chain = Chain(5);
    chain[2].reason = "edited afterwards";  // hash no longer matches
    for (const AuditRecord& r : chain) model.Append(Entry(r));
    QVERIFY(!model.ChainOk());
    QVERIFY2(model.ChainSummary().startsWith("chain BROKEN at #3"),
             qPrintable(model.ChainSummary()));
    QVERIFY(!model.VerifiedHead());
  }

  void auditModelNoticesARewrittenHistory() const {
    // A history re-hashed consistently verifies on its own; the head this
    // console remembered from an earlier run does not match it.
    const std::vector<AuditRecord> original = Chain(4);
    AuditTrailModel first_run;
    for (const AuditRecord& r : original) first_run.Append(Entry(r));
    const auto head = first_run.VerifiedHead();
    QVERIFY(head);
    QCOMPARE(head->sequence, 4u);

    std::vector<AuditRecord> rewritten = Chain(6);
    rewritten[1].reason = "nothing to see";
    std::string prev = greylane::kGenesisHash;
    for (AuditRecord& r : rewritten) {
      r.prev_hash = prev;
      r.hash = greylane::ComputeRowHash(r);
      prev = r.hash;
    }
    AuditTrailModel later;
    later.SetRememberedHead(*head);
    for (const AuditRecord& r : rewritten) later.Append(Entry(r));
    QVERIFY(!later.ChainOk());
    QVERIFY2(later.ChainSummary().contains("history rewritten: row #4"),
             qPrintable(later.ChainSummary()));

    // The honest history, continued, passes the same check.
    AuditTrailModel honest;
    honest.SetRememberedHead(*head);
    for (const AuditRecord& r : Chain(6)) honest.Append(Entry(r));
    QVERIFY(honest.ChainOk());
  }

  void auditModelExportsCsvAndJson() const {
    AuditTrailModel model;
    std::vector<AuditRecord> chain = Chain(3);
    chain[0].reason = "comma, \"quote\"\nnewline";
    chain[0].hash = greylane::ComputeRowHash(chain[0]);
    for (size_t i = 1; i < chain.size(); ++i) {
      chain[i].prev_hash = chain[i - 1].hash;
      chain[i].hash = greylane::ComputeRowHash(chain[i]);
    }
    for (const AuditRecord& r : chain) model.Append(Entry(r));
    const QByteArray csv = model.ToCsv();
    QVERIFY(csv.startsWith("sequence,time_utc,actor"));
    QVERIFY(csv.contains("\"comma, \"\"quote\"\"\nnewline\""));
    QCOMPARE(csv.count("\r\n"), 4);  // header + 3 rows
    QJsonParseError error;
    const QJsonDocument json = QJsonDocument::fromJson(model.ToJson(), &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    QCOMPARE(json.array().size(), 3);
    const QJsonObject first = json.array().at(0).toObject();
    QCOMPARE(first.value("reason").toString(), QString("comma, \"quote\"\nnewline"));
    QCOMPARE(first.value("after").toObject().value("candidate_basis_points").toInt(), 100);
    QCOMPARE(first.value("hash").toString(), QString::fromStdString(chain[0].hash));
  }

  // A fleet row says what matters in trouble, and the list shows the
  // worst first, each group in the order the agents were added.
  void fleetRowsPutTroubleFirst() const {
    greylane::FleetModel fleet;
    greylane::FleetTroubleOrder order(fleet);
    QAbstractItemModelTester tester(&order, QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto add = [&](const char* name) {
      greylane::AgentEndpoint e;
      e.name = name;
      e.address = "127.0.0.1:1";
      greylane::AgentSession* s = fleet.Add(e, false);
      s->Client().AdoptLink(greylane::AgentClient::Link::Live, {});
      return s;
    };
    greylane::AgentSession* fine = add("fine");
    greylane::AgentSession* failing = add("failing");
    greylane::AgentSession* sick = add("sick");
    greylane::AgentSession* gone = add("gone");
    fine->Client().AdoptState(CanaryState(greylane::v1::HEALTHY));
    FeedSeconds(*fine, 200);
    failing->Client().AdoptState(CanaryState(greylane::v1::HEALTHY));
    FeedSeconds(*failing, 0);
    sick->Client().AdoptState(CanaryState(greylane::v1::UNHEALTHY));
    FeedSeconds(*sick, 200);
    gone->Client().AdoptState(CanaryState(greylane::v1::HEALTHY));
    gone->Client().AdoptLink(greylane::AgentClient::Link::Disconnected, "connection refused");

    const greylane::FleetRowText f = greylane::DescribeFleetRow(*fine);
    QCOMPARE(f.trouble, greylane::FleetTrouble::kFine);
    QCOMPARE(f.summary, QStringLiteral("CANARY 5.00 % · healthy\ncand. errors 0.0 % · p99 +0 %"));
    const greylane::FleetRowText x = greylane::DescribeFleetRow(*failing);
    QCOMPARE(x.trouble, greylane::FleetTrouble::kTrouble);
    QVERIFY2(x.summary.contains("cand. errors 100.0 % · no successful requests"),
             qPrintable(x.summary));
    QVERIFY2(x.why.contains("answered none of its 2000 requests"), qPrintable(x.why));
    const greylane::FleetRowText u = greylane::DescribeFleetRow(*sick);
    QCOMPARE(u.trouble, greylane::FleetTrouble::kTrouble);
    QVERIFY(u.summary.contains("candidate UNHEALTHY"));
    QVERIFY(u.why.contains("connection refused"));
    QVERIFY(greylane::DescribeFleetRow(*gone).why.contains("DISCONNECTED: connection refused"));

    // Worst first; ties keep the order they were added in.
    auto names = [&] {
      QStringList out;
      for (int i = 0; i < order.rowCount(); ++i) out << order.index(i, 0).data().toString();
      return out.join(u',');
    };
    QCOMPARE(names(), QStringLiteral("failing,sick,gone,fine"));
    QCOMPARE(order.ToFleetRow(order.index(3, 0)), 0);
    QCOMPARE(order.FromFleetRow(0).row(), 3);
    // The candidate recovers: its row moves back down as the frames arrive.
    FeedSeconds(*failing, 200, 11);
    QCOMPARE(names(), QStringLiteral("sick,gone,fine,failing"));
    QVERIFY(order.index(3, 0).data(Qt::ToolTipRole).toString().contains("nothing wrong"));
  }

  void fleetModelListsSessions() const {
    greylane::FleetModel fleet;
    QAbstractItemModelTester tester(&fleet, QAbstractItemModelTester::FailureReportingMode::QtTest);
    for (const char* name : {"a", "b", "c"}) {
      greylane::AgentEndpoint e;
      e.name = name;
      e.address = "127.0.0.1:1";  // nothing listens: the sessions go disconnected
      e.token = "t";
      QVERIFY(fleet.Add(e));
    }
    greylane::AgentEndpoint duplicate;
    duplicate.name = "b";
    duplicate.address = "127.0.0.1:2";
    QVERIFY(!fleet.Add(duplicate));
    QCOMPARE(fleet.rowCount(), 3);
    QCOMPARE(fleet.data(fleet.index(1), Qt::DisplayRole).toString(), QStringLiteral("b"));
    QTRY_COMPARE_WITH_TIMEOUT(fleet.data(fleet.index(0), greylane::FleetModel::kLinkRole).toInt(),
                              static_cast<int>(greylane::AgentClient::Link::Disconnected), 10000);
    QVERIFY(fleet.data(fleet.index(0), Qt::ToolTipRole).toString().contains("127.0.0.1:1"));
    fleet.Remove(1);
    QCOMPARE(fleet.rowCount(), 2);
    QCOMPARE(fleet.RowOf("c"), 1);
    QCOMPARE(fleet.RowOf("b"), -1);
  }

  // A rollback whose audit row is pending (full disk) says so in its result,
  // in the header until the row is written, and in the fleet row; an
  // agent's words are shown as text, never rendered as markup.
  void pendingAuditRowsAndHostileTextAreShownPlainly() const {
    greylane::FleetModel fleet;
    greylane::AgentEndpoint e;
    e.name = "gpu-07";
    e.address = "127.0.0.1:1";
    e.token = "t";
    greylane::AgentSession* session = fleet.Add(e);
    QVERIFY(session);
    greylane::ReleaseView view;
    view.SetSession(session);
    greylane::v1::AgentState state;
    state.set_model_name("digits");
    state.set_phase(greylane::v1::ROLLED_BACK);
    for (const auto slot : {greylane::v1::BASELINE, greylane::v1::CANDIDATE}) {
      auto* v = state.add_versions();
      v->set_slot(slot);
      v->set_version(slot == greylane::v1::BASELINE ? "v1" : "v2");
      v->set_health(greylane::v1::HEALTHY);
    }
    state.mutable_split()->set_revision(7);
    auto* change = state.mutable_last_change();
    change->set_action("rollback");
    change->set_actor("<b>mallory</b>");
    change->set_reason("<img src=x onerror=1> see <a href='http://evil'>this</a>");
    change->set_time_unix_ms(QDateTime::currentMSecsSinceEpoch());
    state.set_audit_rows_pending(1);
    state.set_audit_pending_detail("database or disk is full");
    session->Client().AdoptState(state);
    QVERIFY2(view.HeaderText().contains("1 audit row(s) pending"), qPrintable(view.HeaderText()));
    QVERIFY(view.HeaderText().contains("database or disk is full"));
    QVERIFY(view.HeaderText().contains("rollback by"));
    QVERIFY(fleet.data(fleet.index(0), greylane::FleetModel::kSummaryRole)
                .toString()
                .contains("audit row pending"));
    bool reason_shown_as_text = false;
    for (const QLabel* label : view.findChildren<QLabel*>()) {
      if (!label->text().contains("onerror")) continue;
      reason_shown_as_text = label->textFormat() == Qt::PlainText;
    }
    QVERIFY(reason_shown_as_text);
    emit session->Client().mutationFinished(QStringLiteral("rollback"), 0, {}, state, 3.0);
    QVERIFY2(view.ResultText().contains("Rolled back") &&
                 view.ResultText().contains("audit row pending (database or disk is full)"),
             qPrintable(view.ResultText()));
    // Written: the warning goes.
    state.set_audit_rows_pending(0);
    state.clear_audit_pending_detail();
    session->Client().AdoptState(state);
    QVERIFY(!view.HeaderText().contains("pending"));
    QVERIFY(view.HeaderText().contains("Last change: rollback by"));
  }

  // Agents added to be remembered come back next run with their token from
  // the keychain; --connect ones do not; a forgotten one loses its token.
  void fleetMemoryRestoresAndForgets() const {
    QTemporaryDir dir;
    const QString ini = dir.filePath("console.ini");
    greylane::CredentialStore credentials;
    credentials.UseMemoryOnly("test");
    auto endpoint = [](const char* name) {
      greylane::AgentEndpoint e;
      e.name = name;
      e.address = "127.0.0.1:1";
      e.token = QStringLiteral("glt_%1_token").arg(name);
      return e;
    };
    {
      greylane::AgentDirectory directory(ini);
      greylane::FleetModel fleet;
      greylane::FleetMemory memory(fleet, directory, credentials);
      QVERIFY(memory.Add(endpoint("kept"), true));
      QVERIFY(memory.Add(endpoint("scripted"), false));
      QVERIFY(memory.Add(endpoint("dropped"), true));
      QVERIFY(!memory.Add(endpoint("kept"), true));  // names are unique
      memory.Forget("dropped");
      QCOMPARE(fleet.Count(), 2);
    }
    greylane::AgentDirectory directory(ini);
    QCOMPARE(directory.Agents().size(), 1);
    greylane::FleetModel fleet;
    greylane::FleetMemory memory(fleet, directory, credentials);
    QSignalSpy added(&memory, &greylane::FleetMemory::added);
    memory.RestoreSaved();
    QTRY_COMPARE_WITH_TIMEOUT(added.count(), 1, 5000);
    QCOMPARE(fleet.Count(), 1);
    QCOMPARE(fleet.At(0)->Name(), QStringLiteral("kept"));
    QCOMPARE(fleet.At(0)->Client().Endpoint().token, QStringLiteral("glt_kept_token"));
  }

  void directoryKeepsAgentsButNeverTokens() const {
    QTemporaryDir dir;
    const QString ini = dir.filePath("console.ini");
    {
      greylane::AgentDirectory directory(ini);
      greylane::AgentEndpoint e;
      e.name = "gpu-07";
      e.address = "gpu-07.internal:7070";
      e.token = "glt_must_not_be_written";
      e.security = greylane::AgentEndpoint::Security::MutualTls;
      e.ca_file = "/etc/greylane/ca.pem";
      e.cert_file = "/home/sre/me.pem";
      e.key_file = "/home/sre/me.key";
      directory.SaveAgents({e});
      directory.SetLastSelected("gpu-07");
      directory.RememberHead("agent-123", {42, "abcdef"});
      directory.Settings().sync();
    }
    QFile file(ini);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(!file.readAll().contains("glt_must_not_be_written"));
    greylane::AgentDirectory directory(ini);
    const auto agents = directory.Agents();
    QCOMPARE(agents.size(), 1);
    QCOMPARE(agents[0].address, QStringLiteral("gpu-07.internal:7070"));
    QCOMPARE(agents[0].security, greylane::AgentEndpoint::Security::MutualTls);
    QCOMPARE(agents[0].key_file, QStringLiteral("/home/sre/me.key"));
    QVERIFY(agents[0].token.isEmpty());
    QCOMPARE(directory.LastSelected(), QStringLiteral("gpu-07"));
    QCOMPARE(directory.RememberedHead("agent-123")->sequence, 42u);
    QCOMPARE(directory.RememberedHead("agent-123")->hash, QStringLiteral("abcdef"));
    QVERIFY(!directory.RememberedHead("agent-999"));
  }

  // A probe's long message does not widen one card and squeeze the other.
  void longHealthMessagesKeepTheCardsEven() const {
    QTemporaryDir dir;
    greylane::AgentDirectory directory(dir.filePath("console.ini"));
    greylane::CredentialStore credentials;
    credentials.UseMemoryOnly("test");
    greylane::FleetModel fleet;
    greylane::MainWindow window(fleet, directory, credentials);
    window.resize(1280, 720);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    greylane::AgentEndpoint e;
    e.name = "node";
    e.address = "127.0.0.1:1";
    greylane::AgentSession* session = window.AddAgent(e, false);
    QVERIFY(session);
    window.Select(0);
    greylane::v1::AgentState state = CanaryState(greylane::v1::UNHEALTHY);
    state.mutable_versions(1)->set_health_detail(
        "upstream http://a-very-long-host-name.inference.example.internal:8000/v2/models/"
        "digits/ready answered 503 Service Unavailable: " +
        std::string(600, 'x'));
    state.mutable_versions(0)->set_backend_target("/models/" + std::string(300, 'p') + ".glm");
    session->Client().AdoptState(state);
    window.Release()->Redraw();
    QCoreApplication::processEvents();
    const QList<greylane::VersionCard*> cards =
        window.Release()->findChildren<greylane::VersionCard*>();
    QCOMPARE(cards.size(), 2);
    QVERIFY2(std::abs(cards[0]->width() - cards[1]->width()) <= 2,
             qPrintable(QStringLiteral("%1 vs %2").arg(cards[0]->width()).arg(cards[1]->width())));
    for (const greylane::VersionCard* card : cards) {
      QVERIFY2(card->minimumSizeHint().width() < 500,
               qPrintable(QString::number(card->minimumSizeHint().width())));
      QVERIFY(card->height() < 260);  // cut to about two lines, not 600 characters
    }                                 // cut to about two lines, not 600 characters
  }

  // A fresh start, or a geometry saved on a larger screen: the window fits
  // the screen it opens on, never 1400x950 regardless.
  void windowFitsTheScreen() const {
    QTemporaryDir dir;
    const QString ini = dir.filePath("console.ini");
    const QRect available = QGuiApplication::primaryScreen()->availableGeometry();
    {
      greylane::AgentDirectory directory(ini);
      greylane::CredentialStore credentials;
      credentials.UseMemoryOnly("test");
      greylane::FleetModel fleet;
      greylane::MainWindow window(fleet, directory, credentials);
      QVERIFY(window.width() <= available.width() && window.height() <= available.height());
      window.show();
      window.setGeometry(0, 0, available.width() + 600, available.height() + 400);
      window.close();  // saves the oversized geometry
    }
    greylane::AgentDirectory directory(ini);
    greylane::CredentialStore credentials;
    credentials.UseMemoryOnly("test");
    greylane::FleetModel fleet;
    greylane::MainWindow window(fleet, directory, credentials);
    window.RestoreWindowState();
    QVERIFY2(window.width() <= available.width() && window.height() <= available.height(),
             qPrintable(QStringLiteral("%1x%2 on %3x%4")
                            .arg(window.width())
                            .arg(window.height())
                            .arg(available.width())
                            .arg(available.height())));
  }

  void windowRestoresGeometryAndTheLastAgent() const {
    QTemporaryDir dir;
    QRect expected;
    const QString ini = dir.filePath("console.ini");
    {
      greylane::AgentDirectory directory(ini);
      greylane::CredentialStore credentials;
      credentials.UseMemoryOnly("test");
      greylane::FleetModel fleet;
      greylane::MainWindow window(fleet, directory, credentials);
      window.show();
      // A geometry saved on a larger screen is fitted (windowFitsTheScreen).
      window.setGeometry(40, 50, 1011, 690);
      expected = window.geometry();
      for (const char* name : {"a", "b", "c"}) {
        greylane::AgentEndpoint e;
        e.name = name;
        e.address = "127.0.0.1:1";
        e.token = "t";
        QVERIFY(window.AddAgent(e, true));
      }
      window.Select(1);
      QCOMPARE(window.Selected()->Name(), QStringLiteral("b"));
      window.close();
    }
    greylane::AgentDirectory directory(ini);
    QCOMPARE(directory.Agents().size(), 3);
    greylane::CredentialStore credentials;
    credentials.UseMemoryOnly("test");
    greylane::FleetModel fleet;
    greylane::MainWindow window(fleet, directory, credentials);
    window.RestoreWindowState();
    const QRect available = QGuiApplication::primaryScreen()->availableGeometry();
    if (available.contains(expected)) {
      QCOMPARE(window.geometry(), expected);
    } else {
      // The window's least size does not fit this screen (offscreen runs at
      // 800x800): it is fitted from the screen's corner instead.
      QCOMPARE(window.geometry().topLeft(), available.topLeft());
    }
    window.RestoreSavedAgents();  // no token in memory: they start without one
    QTRY_COMPARE(fleet.Count(), 3);
    QVERIFY(window.Selected());
    QCOMPARE(window.Selected()->Name(), QStringLiteral("b"));
  }

  void connectDialogSaysWhatIsMissing() const {
    greylane::ConnectDialog dialog({"taken"});
    auto edits = dialog.findChildren<QLineEdit*>();
    QCOMPARE(edits.size(), 6);  // name, address, CA, certificate, key, token
    QVERIFY(dialog.Problem().contains("name"));
    edits[0]->setText("taken");
    QVERIFY(dialog.Problem().contains("already"));
    edits[0]->setText("gpu-9");
    edits[1]->setText("gpu-9");
    QVERIFY(dialog.Problem().contains("host:port"));
    edits[1]->setText("gpu-9:7070");
    QVERIFY(dialog.Problem().contains("token"));
    edits[5]->setText("glt_x");
    QVERIFY2(dialog.Problem().isEmpty(), qPrintable(dialog.Problem()));
    QCOMPARE(dialog.Endpoint().address, QStringLiteral("gpu-9:7070"));
    QCOMPARE(dialog.Endpoint().token, QStringLiteral("glt_x"));
  }

  void commandLine_data() const {
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("error");  // empty: accepted
    QTest::addColumn<QString>("token");
    QTest::addColumn<QString>("name");
    QTest::newRow("demo file picks operator")
        << QStringList{"--connect", "127.0.0.1:7070", "--token-file", "DEMO"} << ""
        << "glt_operator_token_000000"
        << "127.0.0.1:7070";
    QTest::newRow("role and name")
        << QStringList{"--connect", "127.0.0.1:7070", "--token-file", "DEMO",
                       "--role",    "viewer",         "--name",       "node-1"}
        << ""
        << "glt_viewer_token_00000000"
        << "node-1";
    QTest::newRow("bare token file")
        << QStringList{"--connect", "[::1]:7070", "--token-file", "BARE"} << ""
        << "glt_just_a_token_0000000"
        << "[::1]:7070";
    QTest::newRow("no token file")
        << QStringList{"--connect", "127.0.0.1:7070"} << "needs --token-file"
        << ""
        << "";
    QTest::newRow("missing file") << QStringList{"--connect", "127.0.0.1:7070", "--token-file",
                                                 "/nonexistent/tokens"}
                                  << "/nonexistent/tokens"
                                  << ""
                                  << "";
    QTest::newRow("bad address") << QStringList{"--connect", "localhost", "--token-file", "BARE"}
                                 << "HOST:PORT"
                                 << ""
                                 << "";
    QTest::newRow("same name twice")
        << QStringList{"--connect", "a:1", "--connect", "a:1", "--token-file", "BARE"}
        << "two agents named"
        << ""
        << "";
    QTest::newRow("one token file for all")
        << QStringList{"--connect", "a:1", "--connect", "b:2", "--token-file", "BARE"} << ""
        << "glt_just_a_token_0000000,glt_just_a_token_0000000"
        << "a:1,b:2";
    QTest::newRow("a token file per agent")
        << QStringList{"--connect",    "a:1",  "--token-file", "DEMO",  "--connect", "b:2",
                       "--token-file", "BARE", "--name",       "first", "--name",    "second"}
        << ""
        << "glt_operator_token_000000,glt_just_a_token_0000000"
        << "first,second";
    QTest::newRow("token files do not match agents")
        << QStringList{"--connect", "a:1",          "--connect", "b:2",          "--connect",
                       "c:3",       "--token-file", "BARE",      "--token-file", "DEMO"}
        << "(3 --connect, 2 --token-file)"
        << ""
        << "";
    QTest::newRow("a role per agent")
        << QStringList{"--connect", "a:1",    "--connect", "b:2",    "--token-file",
                       "DEMO",      "--role", "viewer",    "--role", "admin"}
        << ""
        << "glt_viewer_token_00000000,glt_admin_token_000000000"
        << "a:1,b:2";
    QTest::newRow("roles do not match agents")
        << QStringList{"--connect",    "a:1",  "--connect", "b:2",    "--connect", "c:3",
                       "--token-file", "DEMO", "--role",    "viewer", "--role",    "admin"}
        << "(3 --connect, 2 --role)"
        << ""
        << "";
    QTest::newRow("more names than agents")
        << QStringList{"--connect", "a:1", "--token-file", "BARE", "--name", "x", "--name", "y"}
        << "2 --name for 1 --connect"
        << ""
        << "";
    QTest::newRow("bad theme") << QStringList{"--theme", "purple"} << "light or dark"
                               << ""
                               << "";
    QTest::newRow("bad quit-after") << QStringList{"--quit-after", "soon"} << "milliseconds"
                                    << ""
                                    << "";
  }

  void commandLine() const {
    QFETCH(QStringList, arguments);
    QFETCH(QString, error);
    QFETCH(QString, token);
    QFETCH(QString, name);
    QTemporaryDir dir;
    const QString demo = WriteFile(dir, "demo-tokens",
                                   "viewer demo-viewer glt_viewer_token_00000000\n"
                                   "operator demo-operator glt_operator_token_000000\n"
                                   "admin demo-admin glt_admin_token_000000000\n");
    const QString bare = WriteFile(dir, "token", "glt_just_a_token_0000000\n");
    arguments.replaceInStrings(QRegularExpression("^DEMO$"), demo);
    arguments.replaceInStrings(QRegularExpression("^BARE$"), bare);
    arguments.prepend("greylane-console");
    QString why;
    const auto options = greylane::ParseConsoleOptions(arguments, &why);
    if (!error.isEmpty()) {
      QVERIFY(!options);
      QVERIFY2(why.contains(error), qPrintable(why));
      return;
    }
    QVERIFY2(options, qPrintable(why));
    QStringList tokens, names;
    for (const greylane::AgentEndpoint& e : options->connect) tokens << e.token, names << e.name;
    QCOMPARE(tokens.join(u','), token);
    QCOMPARE(names.join(u','), name);
  }

  void splitControlProposesAndKeepsProposals() const {
    greylane::TrafficSplitControl control;
    QSignalSpy apply(&control, &greylane::TrafficSplitControl::applyRequested);
    control.SetInForce(500, 7);
    QVERIFY(!control.HasProposal());
    QVERIFY(!control.ApplyButton()->isEnabled());
    // The spin box works in 0.01 % steps.
    auto* spin = control.findChild<QDoubleSpinBox*>();
    spin->setValue(12.34);
    QCOMPARE(control.Proposed(), 1234u);
    QCOMPARE(control.Slider()->value(), 1234);
    QCOMPARE(control.BasedOnRevision(), 7u);
    QVERIFY(control.ApplyButton()->isEnabled());
    // Someone else changes the split: the proposal and its base stay.
    control.SetInForce(2000, 8);
    QCOMPARE(control.Proposed(), 1234u);
    QCOMPARE(control.BasedOnRevision(), 7u);
    QTest::mouseClick(control.ApplyButton(), Qt::LeftButton);
    QCOMPARE(apply.count(), 1);
    QCOMPARE(apply.at(0).at(0).toUInt(), 1234u);
    QCOMPARE(apply.at(0).at(1).toULongLong(), 7u);
    control.Rebase();  // after ABORTED
    QCOMPARE(control.BasedOnRevision(), 8u);
    // Presets.
    for (QPushButton* b : control.findChildren<QPushButton*>()) {
      if (b->text() == QStringLiteral("25 %")) QTest::mouseClick(b, Qt::LeftButton);
    }
    QCOMPARE(control.Proposed(), 2500u);
    control.DiscardProposal();
    QCOMPARE(control.Proposed(), 2000u);
    QVERIFY(!control.HasProposal());
    // A follower moves with the split in force when nothing is proposed.
    control.SetInForce(0, 9);
    QCOMPARE(control.Slider()->value(), 0);
    control.SetEditable(false, "viewer");
    QVERIFY(!control.Slider()->isEnabled());
    QCOMPARE(control.Slider()->toolTip(), QStringLiteral("viewer"));
  }

  void chartReadsOutTheNearestPoints() const {
    greylane::TimeSeriesChart chart("ms");
    const int p99 = chart.AddSeries("v1 p99", Qt::blue, Qt::SolidLine,
                                    greylane::TimeSeriesChart::Axis::Left, "ms");
    const int p50 = chart.AddSeries("v1 p50", Qt::blue, Qt::DashLine,
                                    greylane::TimeSeriesChart::Axis::Left, "ms");
    QList<QPointF> high, low;
    for (int i = -900; i <= 0; ++i) {
      high.append({double(i), 2.0 + (i == -30 ? 10 : 0)});
      low.append({double(i), 1.0});
    }
    chart.SetPoints(p99, high);
    chart.SetPoints(p50, low);
    chart.SetWindow(60);
    const QString at = chart.ReadoutAt(-30.2);
    QVERIFY2(at.contains("v1 p99: 12.0 ms"), qPrintable(at));
    QVERIFY(at.contains("v1 p50: 1.00 ms"));
    QVERIFY(!chart.ReadoutAt(-2000).contains("p99"));  // nothing near
    chart.SetMarkers({{-10, "→ 5.00 %", Qt::gray}, {-5000, "outside", Qt::gray}});
    chart.resize(800, 300);
    QVERIFY(!chart.grab().isNull());  // paints markers (and skips the one outside)
    QCOMPARE(chart.LabelsLeftOut(), 0);
    // Quick splits a second apart: labels take free rows and the rest are
    // counted ("+N more"), never drawn over each other.
    QList<greylane::ChartMarker> crowded;
    for (int i = 0; i < 60; ++i)
      crowded.append({-1.0 - i * 0.1, QStringLiteral("→ %1.00 %").arg(i), Qt::gray});
    chart.SetMarkers(crowded);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    chart.viewport()->repaint();
    QVERIFY2(chart.LabelsLeftOut() > 0 && chart.LabelsLeftOut() < 60,
             qPrintable(QString::number(chart.LabelsLeftOut())));
  }
};

QTEST_MAIN(TestConsoleModels)
#include "test_console_models.moc"
