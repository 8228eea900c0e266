// The release report: which rows make a release, the figures of its steps,
// text from the trail escaped for each medium, and the PDF read back with
// poppler (pdftotext, pdftoppm) as a reviewer's viewer would.
#include <QGuiApplication>
#include <QImage>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "app/release_report_pdf.h"
#include "common/files.h"
#include "common/latency_sketch.h"
#include "common/release_report.h"

using namespace greylane;

namespace {
constexpr int64_t kT0 = 1'795'000'000'000;  // 2026-11-18 11:06:40 UTC

AuditRecord Row(std::string action, AuditState after, std::string actor, std::string reason) {
  AuditRecord r;
  r.action = std::move(action);
  r.outcome = "ok";
  r.actor = std::move(actor);
  r.role = r.actor == "prober" ? "system" : "operator";
  r.reason = std::move(reason);
  r.after = std::move(after);
  return r;
}

StepFigures Figures(std::string slot, std::string version, uint64_t requests, uint64_t errors,
                    uint64_t p50, uint64_t p90, uint64_t p99) {
  return {std::move(slot), std::move(version), requests, errors, 0, p50, p90, p99};
}

// An earlier release (promoted), then the one under review: load v3, four
// steps, the candidate turns unhealthy, and a rollback with the default
// reason; then rows that belong to no release.
std::vector<AuditRecord> Trail() {
  std::vector<AuditRecord> t;
  t.push_back(Row("initialize", {0, 1, "v1", "v2", "STEADY"}, "agent", "first start"));
  t.push_back(Row("set_split", {1000, 2, "v1", "v2", "CANARY"}, "alice", "try v2"));
  t.push_back(Row("promote", {10000, 3, "v2", "v1", "PROMOTED"}, "alice", "v2 is good"));
  t.push_back(Row("load_candidate", {0, 4, "v2", "v3", "STEADY"}, "bob", "new checkpoint v3"));
  const uint32_t shares[] = {100, 500, 2500, 5000};
  for (int i = 0; i < 4; ++i) {
    AuditRecord r = Row("set_split", {shares[i], uint64_t(5 + i), "v2", "v3", "CANARY"}, "bob",
                        i == 2 ? "widen <script>alert(1)</script> | `x`" : "next step");
    r.step = AuditStep{
        0,
        0,
        i == 0 ? 0u : shares[i - 1],
        {Figures("baseline", "v2", 10'000u + i, 10, 1200, 2000, 3100),
         Figures("candidate", "v3", 1000u * (i + 1), 7u * (i + 1), 1300, 2100, 4200 + i)}};
    t.push_back(r);
  }
  t.push_back(Row("health", {5000, 8, "v2", "v3", "CANARY"}, "prober",
                  "candidate 'v3' is UNHEALTHY: upstream 10.0.0.7:8001 unavailable"));
  AuditRecord rollback = Row("rollback", {0, 9, "v2", "v3", "ROLLED_BACK"}, "carol",
                             "Rolling back v3 from the console (default reason)");
  rollback.step = AuditStep{0,
                            0,
                            5000,
                            {Figures("baseline", "v2", 5000, 5, 1200, 2000, 3000),
                             Figures("candidate", "v3", 5000, 2500, 900, 1500, 2500)}};
  t.push_back(rollback);
  t.push_back(Row("set_split", {0, 9, "v2", "v3", "ROLLED_BACK"}, "dave", "refused later"));
  t.back().outcome = "rejected";
  // Chain and times: a minute apart.
  std::string prev = kGenesisHash;
  for (size_t i = 0; i < t.size(); ++i) {
    t[i].sequence = i + 1;
    t[i].time_unix_ms = kT0 + int64_t(i) * 60'000;
    t[i].before = i ? t[i - 1].after : AuditState{};
    if (t[i].step) {
      t[i].step->started_unix_ms = kT0 + int64_t(i - 1) * 60'000;
      t[i].step->ended_unix_ms = t[i].time_unix_ms;
    }
    t[i].prev_hash = prev;
    t[i].hash = ComputeRowHash(t[i]);
    prev = t[i].hash;
  }
  return t;
}

std::vector<v1::MetricsFrame> Minutes(int64_t from, int count) {
  std::vector<v1::MetricsFrame> minutes;
  for (int m = 0; m < count; ++m) {
    v1::MetricsFrame f;
    f.set_window_end_unix_ms(from + (m + 1) * 60'000);
    f.set_window_seconds(60);
    for (const v1::Slot slot : {v1::BASELINE, v1::CANDIDATE}) {
      if (slot == v1::CANDIDATE && m == 3) continue;  // a missing minute: a gap
      LatencySketch sketch;
      for (int i = 0; i < 100; ++i) sketch.Add(1000.0 + 10.0 * i);
      v1::VersionWindow* v = f.add_versions();
      v->set_slot(slot);
      v->set_version(slot == v1::BASELINE ? "v2" : "v3");
      v->set_requests(100);
      v->set_latency_p99_ms(sketch.QuantileMillis(0.99));
      sketch.ToProto(v->mutable_latency());
    }
    minutes.push_back(f);
  }
  return minutes;
}

ReleaseReport Report() {
  const std::vector<AuditRecord> trail = Trail();
  ReleaseReport report;
  report.agent_id = "gpu-7";
  report.node_name = "gpu-7.example";
  report.model_name = "fraud";
  report.agent_address = "10.0.0.7:7070";
  report.generated_unix_ms = kT0 + 3'600'000;
  const auto bounds = FindRelease(trail, 0);
  if (!bounds) qFatal("no release");
  TakeRelease(trail, *bounds, report.generated_unix_ms, &report);
  report.minutes = Minutes(kT0 + 3 * 60'000, 6);
  ChainVerifier chain;
  for (const AuditRecord& r : trail) chain.Add(r);
  report.chain = chain.Verdict();
  report.agent_chain_ok = true;
  report.agent_chain_detail = "chain verified through #11";
  return report;
}
}  // namespace

class TestReleaseReport final : public QObject {
  Q_OBJECT

 private slots:
  void findsTheRelease() {
    const std::vector<AuditRecord> trail = Trail();
    auto last = FindRelease(trail, 0);
    QVERIFY(last);
    QCOMPARE(trail[last->first].action, std::string("load_candidate"));
    QCOMPARE(trail[last->last].action, std::string("rollback"));
    QVERIFY(last->finished);
    auto earlier = FindRelease(trail, 2);  // a row inside the first release
    QVERIFY(earlier);
    QCOMPARE(earlier->first, size_t(0));
    QCOMPARE(trail[earlier->last].action, std::string("promote"));
    // Without its end the release is in progress up to the newest row.
    std::vector<AuditRecord> open(trail.begin(), trail.begin() + 6);
    auto in_progress = FindRelease(open, 0);
    QVERIFY(in_progress && !in_progress->finished);
    QCOMPARE(in_progress->last, size_t(5));
    QVERIFY(!FindRelease({}, 0));

    // After the rollback, the same candidate given traffic again is a new
    // trial: a release of its own, the newest one.
    std::vector<AuditRecord> again = trail;
    AuditRecord resumed = Row("set_split", {3000, 10, "v2", "v3", "CANARY"}, "erin", "retry v3");
    resumed.before = again.back().after;
    resumed.sequence = again.back().sequence + 1;
    again.push_back(resumed);
    auto retried = FindRelease(again, 0);
    QVERIFY(retried && !retried->finished);
    QCOMPARE(again[retried->first].reason, std::string("retry v3"));
    QCOMPARE(trail[FindRelease(again, 6)->first].action, std::string("load_candidate"));
  }

  void markdownHasEveryStepsFigures() {
    const ReleaseReport report = Report();
    const QString md = QString::fromStdString(ReportMarkdown(report));
    QVERIFY2(md.contains("fraud: candidate v3 against baseline v2 — rolled back after 6m 00s, 5 "
                         "steps, highest candidate share 50.00 %."),
             qPrintable(md));
    // Step 3 (25 % share during step 4's row): the candidate's figures.
    QVERIFY(
        md.contains("| 3 | 2026-11-18 11:12:40 | 1m 00s | 5.00 % | candidate v3 | 3000 | 21 "
                    "(0.70 %) | 1.30 | 2.10 | 4.20 |"));
    QVERIFY(
        md.contains("| 5 | 2026-11-18 11:15:40 | 1m 00s | 50.00 % | candidate v3 | 5000 | 2500 "
                    "(50.00 %) | 0.90 | 1.50 | 2.50 | rollback by carol (operator) |"));
    QVERIFY(md.contains("Candidate v3: 15000 requests, 17.13 % errors"));
    QVERIFY(md.contains("(default reason)"));
    QVERIFY(md.contains("- 2026-11-18 11:14:40: candidate 'v3' is UNHEALTHY"));
    QVERIFY(md.contains("chain verified through #11"));
    QVERIFY(!md.contains("refused later"));  // after the release ended
    QVERIFY(!md.contains("v2 is good"));     // before it began
    // Text from the trail cannot make table cells or markup.
    QVERIFY(md.contains("widen &lt;script>alert(1)&lt;/script> \\| \\`x\\`"));
    ReleaseReport amp = Report();
    amp.rows[1].reason = "a &amp; b";
    QVERIFY(QString::fromStdString(ReportMarkdown(amp)).contains("a &amp;amp; b"));
  }

  void htmlEscapesAndDrawsTheTimeline() {
    const QString html = QString::fromStdString(ReportHtml(Report(), ChartEmbed::kInlineSvg));
    QVERIFY(!html.contains("<script>"));
    QVERIFY(html.contains("widen &lt;script&gt;alert(1)&lt;/script&gt;"));
    QVERIFY(html.contains("<svg"));
    // The missing candidate minute splits its line in two.
    const QString svg = QString::fromStdString(ReportTimelineSvg(Report(), 900, 300));
    QCOMPARE(svg.count("stroke-dasharray=\"6,3\" points="), 2);
    QVERIFY(svg.contains(">start</text>"));
  }

  void thePdfReadsBackWithTheFigures() {
    const QString pdftotext = QStandardPaths::findExecutable("pdftotext");
    const QString pdftoppm = QStandardPaths::findExecutable("pdftoppm");
    if (pdftotext.isEmpty() || pdftoppm.isEmpty()) {
      QSKIP("poppler-utils is not installed (./dev.sh installs it)");
    }
    const absl::StatusOr<std::string> pdf = ReleaseReportPdf(Report());
    QVERIFY2(pdf.ok(), std::string(pdf.status().message()).c_str());
    QVERIFY(pdf->starts_with("%PDF-"));
    QTemporaryDir dir;
    const QString path = dir.filePath("report.pdf");
    QVERIFY(WriteFileAtomically(path.toStdString(), *pdf).ok());
    QProcess text;
    text.start(pdftotext, {"-layout", path, "-"});
    QVERIFY(text.waitForFinished(30000));
    QCOMPARE(text.exitCode(), 0);
    // Table cells wrap, and Qt prints "fi" as a ligature glyph.
    const QString words = QString::fromUtf8(text.readAllStandardOutput())
                              .replace(QChar(0xFB01), QStringLiteral("fi"))
                              .replace(QChar(0xFB02), QStringLiteral("fl"));
    for (const char* expected :
         {"Release report: fraud on gpu-7", "rolled back after 6m 00s", "highest candidate share",
          "candidate v3", "2500 (50.00", "4.20", "(default reason)", "candidate 'v3' is UNHEALTHY",
          "chain verified through #11", "widen <script>alert(1)</script>"}) {
      QVERIFY2(words.contains(QString::fromUtf8(expected)), expected);
    }
    QVERIFY(words.contains(QString::fromStdString(Report().chain.head_hash)));
    QProcess render;
    render.start(pdftoppm, {"-r", "40", "-png", "-f", "1", "-l", "1", path, dir.filePath("page")});
    QVERIFY(render.waitForFinished(30000));
    QCOMPARE(render.exitCode(), 0);
    QImage page(dir.filePath("page-1.png"));
    QVERIFY2(!page.isNull(), "pdftoppm drew no page");
    QVERIFY(page.width() > page.height());  // landscape
  }
};

QTEST_MAIN(TestReleaseReport)
#include "test_release_report.moc"
