// Exported trails read back and verified (greylane-agent audit verify
// --file): JSON Lines, the console's JSON array and CSV with its
// spreadsheet guards; edits, deletions and a file starting mid-trail.
#include <QElapsedTimer>
#include <QtTest>

#include <string>
#include <vector>

#include "common/audit_export.h"
#include "common/audit_import.h"

using namespace greylane;

namespace {
std::vector<AuditRecord> Trail() {
  std::vector<AuditRecord> rows;
  const char* reasons[] = {
      "first start: --demo", "=HYPERLINK(\"http://x\") and \\x41 literal, a real \x01 and \\u202e",
      "\x1b[31mred\xe2\x80\xae, \"quoted\"\nsecond line", "-5 % @noon", "bad p99"};
  std::string prev = kGenesisHash;
  for (uint64_t i = 0; i < 5; ++i) {
    AuditRecord r;
    r.sequence = i + 1;
    r.time_unix_ms = 1'795'000'000'123 + static_cast<int64_t>(i) * 61'000;
    r.actor = i == 0 ? "agent" : "ops@example.com";
    r.role = i == 0 ? "system" : "operator";
    r.peer = "ipv4:127.0.0.1:5000";
    r.action = i == 0 ? "initialize" : i == 4 ? "rollback" : "set_split";
    r.outcome = "ok";
    r.reason = reasons[i];
    r.before = {static_cast<uint32_t>(i * 500), i, "v1", "v2", "CANARY"};
    r.after = {static_cast<uint32_t>((i + 1) * 500), i + 1, "v1", "v2", "CANARY"};
    if (i > 0) {
      AuditStep step;
      step.started_unix_ms = r.time_unix_ms - 61'000;
      step.ended_unix_ms = r.time_unix_ms;
      step.candidate_basis_points = r.before.candidate_basis_points;
      step.versions.push_back({"baseline", "v1", 6000, 2, 1, 410, 700, 1200});
      step.versions.push_back({"candidate", "v2", 300, 0, 0, 430, 720, 1900});
      r.step = step;
    }
    r.prev_hash = prev;
    r.hash = ComputeRowHash(r);
    prev = r.hash;
    rows.push_back(r);
  }
  return rows;
}

std::string Jsonl(const std::vector<AuditRecord>& rows) {
  std::string out;
  for (const AuditRecord& r : rows) out += AuditJsonLine(r);
  return out;
}

std::string Csv(const std::vector<AuditRecord>& rows) {
  std::string out = AuditCsvHeader();
  for (const AuditRecord& r : rows) out += AuditCsvRow(r);
  return out;
}
}  // namespace

class TestAuditImport final : public QObject {
  Q_OBJECT

 private slots:
  void everyFormatVerifies() const {
    const std::vector<AuditRecord> rows = Trail();
    std::string array = "[\n";
    for (const AuditRecord& r : rows) {
      std::string line = AuditJsonLine(r);
      line.pop_back();
      array += (&r == &rows.front() ? "  " : ",\n  ") + line;
    }
    array += "\n]\n";
    for (const auto& [text, format] :
         {std::pair{Jsonl(rows), "jsonl"}, std::pair{array, "json"}, std::pair{Csv(rows), "csv"}}) {
      const absl::StatusOr<ExportVerdict> v = VerifyAuditExport(text);
      QVERIFY2(v.ok(), std::string(v.status().message()).c_str());
      QCOMPARE(v->format, std::string(format));
      QVERIFY2(v->chain.ok, v->chain.why.c_str());
      QCOMPARE(v->chain.rows, 5ull);
      QCOMPARE(v->chain.verified_through, 5ull);
      QCOMPARE(v->chain.head_hash, rows.back().hash);
      QCOMPARE(v->first_sequence, 1ull);
    }
    // The CSV's guards and escapes had to be undone to verify.
    QVERIFY(VerifyAuditExport(Csv(rows))->cells_undone >= 3);
  }

  void editsAndDeletionsBreakTheChain() const {
    const std::vector<AuditRecord> rows = Trail();
    // An edited reason (the row keeps its old hash).
    std::vector<AuditRecord> edited = rows;
    edited[2].reason = "nothing to see";
    for (const std::string& text : {Jsonl(edited), Csv(edited)}) {
      const absl::StatusOr<ExportVerdict> v = VerifyAuditExport(text);
      QVERIFY(v.ok());
      QVERIFY(!v->chain.ok);
      QCOMPARE(v->chain.broken_at, 3ull);
      QCOMPARE(v->chain.verified_through, 2ull);
    }
    // An edited step figure: the step is in the hash.
    std::vector<AuditRecord> faster = rows;
    faster[4].step->versions[1].p99_us = 900;
    QCOMPARE(VerifyAuditExport(Csv(faster))->chain.broken_at, 5ull);
    // A row taken out of the middle.
    std::vector<AuditRecord> gap = rows;
    gap.erase(gap.begin() + 3);
    QCOMPARE(VerifyAuditExport(Jsonl(gap))->chain.broken_at, 5ull);
    // A forged first row that does not start at the genesis hash.
    std::vector<AuditRecord> forged = rows;
    forged[0].prev_hash = std::string(64, 'f');
    forged[0].hash = ComputeRowHash(forged[0]);
    QCOMPARE(VerifyAuditExport(Jsonl(forged))->chain.broken_at, 1ull);
  }

  // What a hostile tester tried: escapes the exporter never writes, a
  // shown time edited, a BOM, nesting that slows a JSON parser, bad numbers.
  void readsBackOnlyWhatTheExporterWrote() const {
    const std::vector<AuditRecord> rows = Trail();
    // "rollback" spelled with an escape the exporter never writes: edited.
    std::string csv = Csv(rows);
    const size_t at = csv.rfind(",rollback,");
    QVERIFY(at != std::string::npos);
    csv.replace(at, 10, ",rollb\\x61ck,");
    QCOMPARE(VerifyAuditExport(csv)->chain.broken_at, 5ull);
    // The time a reader sees is checked against the hashed one.
    std::string jsonl = Jsonl(rows);
    const size_t time = jsonl.find("\"time_utc\":\"", jsonl.find("\"sequence\":3,"));
    jsonl.replace(time + 12, 4, "2020");
    const absl::StatusOr<ExportVerdict> shown = VerifyAuditExport(jsonl);
    QVERIFY(shown.ok());
    QCOMPARE(shown->chain.broken_at, 3ull);
    QVERIFY2(shown->chain.why.find("shown time was edited") != std::string::npos,
             shown->chain.why.c_str());
    // A byte-order mark an editor added changes nothing.
    QVERIFY(VerifyAuditExport("\xEF\xBB\xBF" + Csv(rows))->chain.ok);
    QVERIFY(VerifyAuditExport("\xEF\xBB\xBF" + Jsonl(rows))->chain.ok);
    // 200 000 levels of [[[ are refused at once, not parsed for minutes.
    QElapsedTimer clock;
    clock.start();
    const absl::StatusOr<ExportVerdict> deep =
        VerifyAuditExport(std::string(200'000, '[') + std::string(200'000, ']'));
    QVERIFY(!deep.ok());
    QVERIFY(std::string(deep.status().message()).find("nested") != std::string::npos);
    QVERIFY2(clock.elapsed() < 2000, qPrintable(QString::number(clock.elapsed())));
    for (const char* sequence : {"-1", "\"1\"", "1.5", "123456789012345678901234"}) {
      std::string line = AuditJsonLine(rows[0]);
      line.replace(12, 1, sequence);  // {"sequence":1,
      const absl::StatusOr<ExportVerdict> bad = VerifyAuditExport(line);
      QVERIFY2(!bad.ok() && std::string(bad.status().message()).find("whole number from 1") !=
                                std::string::npos,
               sequence);
    }
  }

  void aFileMayStartMidTrail() const {
    const std::vector<AuditRecord> rows = Trail();
    const std::vector<AuditRecord> tail(rows.begin() + 2, rows.end());
    const absl::StatusOr<ExportVerdict> v = VerifyAuditExport(Csv(tail));
    QVERIFY(v.ok());
    QVERIFY(v->chain.ok);
    QCOMPARE(v->first_sequence, 3ull);
    QCOMPARE(v->anchor_hash, rows[1].hash);
    QCOMPARE(v->chain.rows, 3ull);
  }

  void notAnExportIsSaidPlainly_data() const {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("says");
    QTest::newRow("empty") << QByteArray("\n\n") << "empty";
    QTest::newRow("other csv") << QByteArray("a,b,c\r\n1,2,3\r\n") << "header differs";
    QTest::newRow("bad json") << QByteArray("{\"sequence\":1,\n") << "line 1: not JSON";
    QTest::newRow("not a row") << QByteArray("{\"a\":1}\n") << "not an audit row";
    const std::string csv = Csv(Trail());
    QTest::newRow("cut in a cell")
        << QByteArray::fromStdString(csv.substr(0, csv.find("second line")))
        << "quoted cell never ends";
    QTest::newRow("cut in a row") << QByteArray::fromStdString(csv.substr(0, csv.rfind(",bad p99")))
                                  << "line 7: row has 7 cells";
    QTest::newRow("short row") << QByteArray::fromStdString(AuditCsvHeader() + "1,2\r\n")
                               << "line 2: row has 2 cells";
    QTest::newRow("bad time") << QByteArray::fromStdString(AuditCsvHeader() + "1,yesterday" +
                                                           std::string(20, ',') + "\r\n")
                              << "time_utc";
    QTest::newRow("binary") << QByteArray("\x00\x01\x02garbage", 10) << "line";
  }
  void notAnExportIsSaidPlainly() const {
    QFETCH(QByteArray, text);
    QFETCH(QString, says);
    const absl::StatusOr<ExportVerdict> v = VerifyAuditExport(text.toStdString());
    QVERIFY(!v.ok());
    QVERIFY2(QString::fromStdString(std::string(v.status().message())).contains(says),
             std::string(v.status().message()).c_str());
  }
};

QTEST_GUILESS_MAIN(TestAuditImport)
#include "test_audit_import.moc"
