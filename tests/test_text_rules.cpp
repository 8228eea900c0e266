// Text from outside is checked at the edge and escaped for the medium it
// lands in; every stored audit field is bounded; refused floods are counted,
// not stored one by one.
#include <QtTest>

#include "agent/load/load_generator.h"
#include "agent/load/metrics_watch.h"
#include "agent/server/refusal_ledger.h"
#include "common/audit_export.h"
#include "common/audit_proto.h"
#include "common/audit_record.h"
#include "common/client_token.h"
#include "common/text.h"

using namespace greylane;

namespace {

bool HasRawControl(const std::string& text, bool allow_newline = false) {
  for (const unsigned char c : text) {
    if ((c < 0x20 && !(allow_newline && c == '\n')) || c == 0x7f) return true;
  }
  return text.find("\xc2\x9b") != std::string::npos;  // C1 CSI
}

AuditRecord HostileRow() {
  AuditRecord r;
  r.sequence = 7;
  r.time_unix_ms = 1795000000000;
  r.actor = "=HYPERLINK(\"http://x\")";
  r.role = "operator";
  r.peer = "ipv4:127.0.0.1:1";
  r.action = "set_split";
  r.outcome = "rejected";
  r.reason = std::string("line one\0line two", 17) +
             "\x1b[2J\xc2\x9b"
             "1m,\"q\"\r\n-next";
  r.evidence = "@SUM(A1)";
  r.before = {500, 3, "v1", "v2", "CANARY"};
  r.after = r.before;
  r.prev_hash = kGenesisHash;
  r.hash = ComputeRowHash(r);
  return r;
}

}  // namespace

class TestTextRules final : public QObject {
  Q_OBJECT

 private slots:
  void utf8IsCheckedStrictly_data() const {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("valid");
    QTest::newRow("ascii") << QByteArray("renee") << true;
    QTest::newRow("utf-8") << QByteArray("ren\xc3\xa9\x65") << true;
    QTest::newRow("latin-1") << QByteArray("ren\xe9\x65") << false;
    QTest::newRow("overlong slash") << QByteArray("\xc0\xaf") << false;
    QTest::newRow("surrogate") << QByteArray("\xed\xa0\x80") << false;
    QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80") << false;
    QTest::newRow("truncated") << QByteArray("\xe2\x82") << false;
    QTest::newRow("emoji") << QByteArray("\xf0\x9f\x9a\x80") << true;
  }
  void utf8IsCheckedStrictly() const {
    QFETCH(QByteArray, bytes);
    QFETCH(bool, valid);
    const std::string text = bytes.toStdString();
    QCOMPARE(IsValidUtf8(text), valid);
    QVERIFY(IsValidUtf8(ToValidUtf8(text)));
    const std::string problem = TextProblem("the identity", text, 64, TextKind::kName);
    QCOMPARE(problem.empty(), valid);
    if (!valid) QVERIFY2(problem.find("not valid UTF-8") != std::string::npos, problem.c_str());
  }

  void controlCharactersAreNamed() const {
    QVERIFY(TextProblem("r", "two\nlines\tok", 100, TextKind::kProse).empty());
    QVERIFY(!TextProblem("v", "two\nlines", 100, TextKind::kName).empty());
    const std::string esc = TextProblem("the reason", "red \x1b[31m", 100, TextKind::kProse);
    QVERIFY2(esc.find("U+001B at byte 5") != std::string::npos, esc.c_str());
    QVERIFY(!TextProblem("r", std::string("a\0b", 3), 100, TextKind::kProse).empty());
    QVERIFY(!TextProblem("r",
                         "\xe2\x80\xae"
                         "evil",
                         100, TextKind::kProse)
                 .empty());  // RLO
    QVERIFY(TextProblem("r", std::string(100, 'x'), 100, TextKind::kProse).empty());
    QVERIFY(!TextProblem("r", std::string(101, 'x'), 100, TextKind::kProse).empty());
  }

  void clampKeepsCharactersWholeAndMarksTheCut() const {
    std::string text;
    for (int i = 0; i < 600; ++i) text += "\xc3\xa9";  // 1200 bytes of é
    for (const size_t max : {size_t{0}, size_t{5}, size_t{40}, size_t{1024}}) {
      const std::string cut = ClampText(text, max);
      QVERIFY(cut.size() <= max);
      QVERIFY(IsValidUtf8(cut));
      if (max >= 40) QVERIFY(cut.find("[1200 bytes]") != std::string::npos);
    }
    QCOMPARE(ClampText("short", 10), std::string("short"));
    QCOMPARE(ClampText("bad \xff", 100), std::string("bad \\xff"));
  }

  void quotedInputStaysShort() const {
    const std::string name(20000, 'n');
    const std::string quoted = Quote(name);
    QVERIFY(quoted.size() <= 82);
    QVERIFY(quoted.find("20000 bytes") != std::string::npos);
    QCOMPARE(Quote("a\x1b"
                   "b"),
             std::string("'a\\x1bb'"));
  }

  void terminalsGetNoControlSequences() const {
    const std::string hostile =
        "v2\x1b]0;owned\x07\x1b[2J\r\xc2\x9b"
        "31m\x7f\xff\xe2\x80\xae";
    const std::string safe = TerminalSafe(hostile);
    QVERIFY2(!HasRawControl(safe), safe.c_str());
    QVERIFY(IsValidUtf8(safe));
    QVERIFY(safe.find("\\x1b") != std::string::npos);
    QVERIFY(safe.find("\\u009b") != std::string::npos);
    QVERIFY(safe.find("\\u202e") != std::string::npos);
    QCOMPARE(TerminalSafe("a\nb", true), std::string("a\nb"));
    QCOMPARE(TerminalSafe("a\nb"), std::string("a\\nb"));
  }

  void csvIsSafeForSpreadsheets() const {
    const AuditRecord r = HostileRow();
    const std::string row = AuditCsvRow(r);
    QVERIFY2(row.find('\0') == std::string::npos, "a NUL would merge rows");
    QVERIFY(row.find("\\x00") != std::string::npos);
    QVERIFY(row.find("\\x1b") != std::string::npos);
    QVERIFY2(row.find("\xc2\x9b") == std::string::npos, "a raw 8-bit CSI");
    QVERIFY(row.find("\\u009b") != std::string::npos);
    QCOMPARE(CsvCell("bidi \xe2\x80\xae"
                     "evil"),
             std::string("bidi \\u202eevil"));
    QCOMPARE(CsvCell("\xc2\x85nel"), std::string("\\u0085nel"));
    // Formula starts are neutralised, whatever the column.
    QVERIFY(row.find(",\"'=HYPERLINK(\"\"http://x\"\")\",") != std::string::npos);
    QVERIFY(row.find(",'@SUM(A1),") != std::string::npos);
    for (const char* cell : {"=1+1", "+1", "-1", "@x", "\tx", "\rx"}) {
      QCOMPARE(CsvCell(cell).find('\''), CsvCell(cell).front() == '"' ? size_t{1} : size_t{0});
    }
    QCOMPARE(CsvCell("plain"), std::string("plain"));
    QCOMPARE(CsvCell("a,b"), std::string("\"a,b\""));
    // Exactly one record separator: quoted CR/LF inside a cell stay inside it.
    QCOMPARE(row.substr(row.size() - 2), std::string("\r\n"));
  }

  void jsonIsValidAndTerminalSafe() const {
    const std::string line = AuditJsonLine(HostileRow());
    QVERIFY(!HasRawControl(line.substr(0, line.size() - 1)));
    QVERIFY(IsValidUtf8(line));
    QVERIFY(line.find("\\u0000") != std::string::npos);
    QVERIFY(line.find("\\u001b") != std::string::npos);
    QVERIFY(line.find("\\u009b") != std::string::npos);
    QVERIFY(JsonString("\xff").find("\\ufffd") != std::string::npos);
    const QJsonDocument parsed = QJsonDocument::fromJson(QByteArray::fromStdString(line));
    QVERIFY(parsed.isObject());
    QCOMPARE(parsed.object().value("evidence").toString(), QString("@SUM(A1)"));
  }

  void everyStoredFieldIsBounded() const {
    AuditRecord r = HostileRow();
    r.reason = std::string(4 << 20, 'r');
    r.actor = std::string(10000, 'a');
    r.evidence = std::string(1 << 20, 'e') + "\xff";
    r.after.candidate_version = std::string(5000, 'v');
    BoundAuditRecord(&r);
    QVERIFY(r.reason.size() <= kMaxReasonBytes);
    QVERIFY(r.reason.find("[4194304 bytes]") != std::string::npos);
    QVERIFY(r.actor.size() <= kMaxIdentityBytes);
    QVERIFY(r.evidence.size() <= kMaxEvidenceBytes);
    QVERIFY(r.after.candidate_version.size() <= kMaxVersionBytes);
    QVERIFY(AuditRecordBytes(r) < 5000);
    for (const std::string* t : {&r.actor, &r.reason, &r.evidence}) QVERIFY(IsValidUtf8(*t));
  }

  // A row an older agent stored in full travels cut and marked; a verifier
  // links it without recomputing its hash, and says how many it could not.
  void oversizedOldRowsTravelCut() const {
    AuditRecord first;
    first.sequence = 1;
    first.actor = "agent";
    first.action = "initialize";
    first.outcome = "ok";
    first.prev_hash = kGenesisHash;
    first.hash = ComputeRowHash(first);
    AuditRecord big = HostileRow();
    big.sequence = 2;
    big.reason = std::string(3 << 20, 'x');
    big.prev_hash = first.hash;
    big.hash = ComputeRowHash(big);
    v1::AuditEntry entry;
    ToProto(big, &entry);
    QVERIFY(entry.cut_for_transport());
    QVERIFY(entry.ByteSizeLong() < kMaxAuditEntryWireBytes);
    QCOMPARE(entry.hash(), big.hash);
    ChainVerifier verifier;
    QVERIFY(verifier.Add(first));
    QVERIFY(verifier.Add(FromProto(entry)));
    QCOMPARE(verifier.Verdict().rows_not_recomputed, 1u);
    v1::AuditEntry small;
    ToProto(first, &small);
    QVERIFY(!small.cut_for_transport());
  }

  void refusalFloodsAreCountedNotStored() const {
    RefusalLedger ledger;
    AuditRecord denied;
    denied.actor = "demo-viewer";
    denied.action = "set_split";
    denied.outcome = "denied";
    denied.evidence = "role viewer may not set_split";
    auto now = RefusalLedger::Clock::now();
    int rows = 0;
    for (int i = 0; i < 3000; ++i) rows += ledger.Admit(denied, now);
    QCOMPARE(rows, RefusalLedger::kRowsPerWindow);
    QCOMPARE(ledger.Counted(), uint64_t(3000 - RefusalLedger::kRowsPerWindow));
    // Other identities and outcomes have windows of their own.
    AuditRecord other = denied;
    other.actor = "someone-else";
    QVERIFY(ledger.Admit(other, now));
    QVERIFY(ledger.TakeSummaries(now, false).empty());  // the window is still open
    const auto summaries = ledger.TakeSummaries(now + RefusalLedger::kWindow, false);
    QCOMPARE(summaries.size(), size_t{1});
    QVERIFY2(summaries[0].evidence.find("2990 more denied set_split attempts") != std::string::npos,
             summaries[0].evidence.c_str());
    // The window closed: the next attempt gets a row of its own again.
    QVERIFY(ledger.Admit(denied, now + RefusalLedger::kWindow + std::chrono::seconds(1)));
    // Keys are bounded: a flood of identities shares one entry past the cap.
    RefusalLedger many;
    for (size_t i = 0; i < RefusalLedger::kMaxKeys + 500; ++i) {
      AuditRecord r = denied;
      r.actor = "id-" + std::to_string(i);
      many.Admit(r, now);
    }
    QVERIFY(many.Counted() > 0);
  }

  // A demo-format file must have the role asked for; falling back to
  // another line would act with other powers than the caller meant.
  void tokenFilesGiveTheRoleAskedFor() const {
    const std::string demo = "viewer v glt_viewer_token_0123\noperator o glt_operator_token_01\n";
    QCOMPARE(ParseTokenFile(demo, "f", "operator")->identity, std::string("o"));
    const auto missing = ParseTokenFile(demo, "f", "admin");
    QVERIFY(!missing.ok());
    QVERIFY2(std::string(missing.status().message()).find("it has: viewer, operator") !=
                 std::string::npos,
             std::string(missing.status().message()).c_str());
    QCOMPARE(ParseTokenFile("glt_bare_token_value_1\n", "f", "admin")->token,
             std::string("glt_bare_token_value_1"));
    QVERIFY(!ParseTokenFile("operator o glt\x1b[2Jtoken\n", "f", "operator").ok());
  }

  void toolsPrintNoControlSequences() const {
    v1::AgentState state;
    state.set_agent_id("node\x1b[2J");
    state.set_model_name("m\x07");
    auto* v = state.add_versions();
    v->set_slot(v1::CANDIDATE);
    v->set_version("v2\x1b]0;x\x07");
    v->set_backend_target("/m\r\x1b[1A");
    v->set_health(v1::UNHEALTHY);
    v->set_health_detail("upstream said \x1b[31mno");
    QVERIFY(!HasRawControl(FormatState(state), true));
    v1::MetricsFrame frame;
    auto* w = frame.add_versions();
    w->set_version("v\x1b[2J");
    QVERIFY(!HasRawControl(FormatFrame(frame)));
    LoadReport report;
    report.total.ok = 1;
    report.total.by_version["v\x1b[2J\xc2\x9b"] = {1, 1};
    report.total.errors_by_code[3] = 1;
    report.total.first_error_message[3] = "bad \x1b[5m";
    QVERIFY(!HasRawControl(FormatSummary(report), true));
    QVERIFY(!HasRawControl(FormatSecond(1, report.total)));
    QVERIFY(IsValidUtf8(FormatSummaryJson(report)));
    QVERIFY(!HasRawControl(FormatSummaryJson(report)));
  }
};

QTEST_GUILESS_MAIN(TestTextRules)
#include "test_text_rules.moc"
