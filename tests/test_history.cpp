// The agent's per-minute history (history.db) and the step figures each
// change's audit row carries: exact merging, restarts, retention, the size
// bound and paging.
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <random>

#include <sqlite3.h>

#include "agent/audit/audit_log.h"
#include "agent/metrics/history_store.h"
#include "agent/metrics/step_ledger.h"
#include "common/latency_sketch.h"

using namespace greylane;

namespace {
constexpr int64_t kMinute = HistoryStore::kMinuteMs;
// A minute boundary well in the past of "now" but inside any retention.
int64_t RecentMinute() {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return (now / kMinute - 10) * kMinute;
}

// One second: `n` baseline requests of latencies spread by `rng`, one
// server error per 10, and a few candidate requests.
v1::MetricsFrame Second(int64_t end_ms, uint64_t n, std::mt19937* rng,
                        LatencySketch* baseline_truth = nullptr) {
  v1::MetricsFrame frame;
  frame.set_agent_id("history-test");
  frame.set_window_end_unix_ms(end_ms);
  frame.set_candidate_basis_points(500);
  frame.set_split_revision(3);
  for (const v1::Slot slot : {v1::BASELINE, v1::CANDIDATE}) {
    const uint64_t requests = slot == v1::BASELINE ? n : n / 10;
    LatencySketch sketch;
    std::lognormal_distribution<double> micros(slot == v1::BASELINE ? 7.0 : 7.5, 0.6);
    const uint64_t errors = requests / 10;
    for (uint64_t i = 0; i < requests - errors; ++i) sketch.Add(micros(*rng));
    if (slot == v1::BASELINE && baseline_truth) baseline_truth->Merge(sketch);
    v1::VersionWindow* v = frame.add_versions();
    v->set_slot(slot);
    v->set_version(slot == v1::BASELINE ? "v1" : "v2");
    v->set_requests(requests);
    v->set_server_errors(errors);
    v->set_latency_p99_ms(sketch.QuantileMillis(0.99));
    sketch.ToProto(v->mutable_latency());
  }
  return frame;
}

std::vector<v1::MetricsFrame> QueryAll(HistoryStore& store, int64_t from, int64_t to, bool sketches,
                                       int* pages = nullptr) {
  std::vector<v1::MetricsFrame> all;
  int n = 0;
  for (int64_t next = from;;) {
    HistoryPage page = store.Query(next, to, sketches);
    ++n;
    for (auto& m : page.minutes) all.push_back(std::move(m));
    if (page.next_from_unix_ms == 0) break;
    next = page.next_from_unix_ms;
  }
  if (pages) *pages = n;
  return all;
}
}  // namespace

class TestHistory final : public QObject {
  Q_OBJECT

 private slots:
  void minutesMergeSecondsExactly() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("history.db").toStdString();
    auto store = HistoryStore::Open(path, {});
    QVERIFY(store.ok());
    std::mt19937 rng(7);
    const int64_t m0 = RecentMinute();
    LatencySketch first_minute;
    // Seconds ending m0+1s .. m0+60s are the minute ending m0+60s; then 30
    // seconds of the next one, still in progress.
    for (int s = 1; s <= 90; ++s) {
      (*store)->Add(Second(m0 + s * 1000, 50, &rng, s <= 60 ? &first_minute : nullptr));
    }
    (*store)->Flush();
    const auto minutes = QueryAll(**store, m0 - kMinute, m0 + 10 * kMinute, true);
    QCOMPARE(minutes.size(), size_t(2));
    const v1::MetricsFrame& whole = minutes[0];
    QCOMPARE(whole.window_end_unix_ms(), m0 + kMinute);
    QCOMPARE(whole.window_seconds(), 60u);
    QCOMPARE(whole.versions(0).requests(), 60u * 50u);
    QCOMPARE(whole.versions(0).server_errors(), 60u * 5u);
    QCOMPARE(whole.versions(1).requests(), 60u * 5u);
    LatencySketch stored;
    QVERIFY(LatencySketch::FromProto(whole.versions(0).latency(), &stored));
    QCOMPARE(stored.Count(), first_minute.Count());
    // The minute's p99 is that of every request in it, not an average.
    QCOMPARE(whole.versions(0).latency_p99_ms(), first_minute.QuantileMillis(0.99));
    QCOMPARE(minutes[1].window_seconds(), 30u);  // in progress, from memory
    // Without sketches the same figures, lighter.
    const auto light = QueryAll(**store, m0 - kMinute, m0 + 10 * kMinute, false);
    QCOMPARE(light.size(), size_t(2));
    QVERIFY(!light[0].versions(0).has_latency());
    QCOMPARE(light[0].versions(0).latency_p99_ms(), whole.versions(0).latency_p99_ms());
  }

  void aMinuteSplitByARestartIsStoredWhole() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("history.db").toStdString();
    std::mt19937 rng(9);
    const int64_t m0 = RecentMinute();
    {
      auto store = HistoryStore::Open(path, {});
      QVERIFY(store.ok());
      for (int s = 1; s <= 25; ++s) (*store)->Add(Second(m0 + s * 1000, 20, &rng));
    }  // closing writes the minute in progress
    auto store = HistoryStore::Open(path, {});
    QVERIFY(store.ok());
    for (int s = 31; s <= 61; ++s) (*store)->Add(Second(m0 + s * 1000, 20, &rng));
    (*store)->Flush();
    const auto minutes = QueryAll(**store, m0, m0 + kMinute, false);
    QCOMPARE(minutes.size(), size_t(1));
    QCOMPARE(minutes[0].window_seconds(), 25u + 30u);
    QCOMPARE(minutes[0].versions(0).requests(), 55u * 20u);
  }

  void retentionAndTheSizeBoundHold() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("history.db").toStdString();
    std::mt19937 rng(11);
    const int64_t now = RecentMinute();
    HistoryOptions options;
    options.retention = std::chrono::hours(24);
    options.max_bytes = 256 << 10;
    auto store = HistoryStore::Open(path, options);
    QVERIFY(store.ok());
    // Three days ago: beyond the retention, gone at the next write.
    for (int s = 1; s <= 120; ++s) (*store)->Add(Second(now - 72 * 3600'000 + s * 1000, 5, &rng));
    // Then 6 hours of one second per minute with wide sketches: far more
    // than 256 KiB, so the oldest minutes give way.
    for (int m = 0; m < 360; ++m) {
      (*store)->Add(Second(now - 6 * 3600'000 + m * kMinute + 1000, 400, &rng));
      if (m % 100 == 0) (*store)->Flush();
    }
    (*store)->Add(Second(now + 1000, 5, &rng));
    (*store)->Flush();
    const auto kept = QueryAll(**store, 0, now + kMinute, false);
    QVERIFY(!kept.empty());
    QVERIFY2(kept.front().window_end_unix_ms() > now - 24 * 3600'000,
             "minutes past the retention must be gone");
    QVERIFY2(kept.size() < 360, "the size bound must have removed the oldest minutes");
    QCOMPARE(kept.back().window_end_unix_ms(), now + kMinute);  // the newest stay
    const HistoryFigures figures = (*store)->Figures();
    QVERIFY2(figures.file_bytes < 512u << 10,
             qPrintable(QString("history.db is %1 bytes").arg(figures.file_bytes)));
  }

  void pagesAreBoundedAndComplete() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("history.db").toStdString();
    std::mt19937 rng(13);
    const int64_t now = RecentMinute();
    auto store = HistoryStore::Open(path, {});
    QVERIFY(store.ok());
    const int minutes = 3000;
    for (int m = 0; m < minutes; ++m) {
      (*store)->Add(Second(now - minutes * kMinute + m * kMinute + 1000, 400, &rng));
      if (m % 100 == 0) (*store)->Flush();  // a day in seconds: the writer keeps up
    }
    (*store)->Flush();
    int pages = 0;
    const auto all = QueryAll(**store, 0, now, true, &pages);
    QCOMPARE(all.size(), size_t(minutes));
    QVERIFY2(pages > 1, "two days of minutes with sketches are more than one 1 MiB page");
    for (size_t i = 1; i < all.size(); ++i) {
      QVERIFY(all[i].window_end_unix_ms() > all[i - 1].window_end_unix_ms());
    }
  }

  void aStepHoldsEverySecondUntilItsChangeIsRecorded() {
    std::mt19937 rng(17);
    const int64_t m0 = RecentMinute();
    StepLedger ledger(m0);
    LatencySketch truth;
    for (int s = 1; s <= 10; ++s) ledger.Add(Second(m0 + s * 1000, 30, &rng, &truth));
    AuditStep step = ledger.Peek(m0 + 10'500, 500);
    QCOMPARE(step.started_unix_ms, m0);
    QCOMPARE(step.ended_unix_ms, m0 + 10'500);
    QCOMPARE(step.versions.size(), size_t(2));
    QCOMPARE(step.versions[0].slot, std::string("baseline"));
    QCOMPARE(step.versions[0].requests, 300u);
    QCOMPARE(step.versions[0].server_errors, 30u);
    QCOMPARE(step.versions[0].p99_us, uint64_t(std::llround(truth.QuantileMicros(0.99))));
    QCOMPARE(step.versions[1].version, std::string("v2"));
    // The row could not be written: nothing is lost, the step goes on.
    ledger.Add(Second(m0 + 11'000, 30, &rng));
    ledger.Abandon();
    step = ledger.Peek(m0 + 12'000, 500);
    QCOMPARE(step.versions[0].requests, 330u);
    // A second that arrives between the peek and the commit opens the next step.
    ledger.Add(Second(m0 + 12'000, 30, &rng));
    ledger.Commit();
    step = ledger.Peek(m0 + 13'000, 1000);
    QCOMPARE(step.started_unix_ms, m0 + 12'000);
    QCOMPARE(step.versions[0].requests, 30u);
    QCOMPARE(step.candidate_basis_points, 1000u);
  }

  // A trail from before 0.2 has no step column: it reads as before, read
  // only and untouched, and an agent adds the column and goes on.
  void trailsWithoutStepsStayValid() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("audit.db").toStdString();
    AuditRecord old;
    old.sequence = 1;
    old.time_unix_ms = 1'700'000'000'000;
    old.actor = "agent";
    old.role = "system";
    old.action = "initialize";
    old.outcome = "ok";
    old.reason = "first start";
    old.after = {500, 1, "v1", "v2", "CANARY"};
    old.prev_hash = kGenesisHash;
    old.hash = ComputeRowHash(old);
    {
      sqlite3* db = nullptr;
      QCOMPARE(sqlite3_open(path.c_str(), &db), SQLITE_OK);
      const std::string sql =
          "CREATE TABLE audit (sequence INTEGER PRIMARY KEY, time_unix_ms INTEGER NOT NULL, "
          "actor TEXT NOT NULL, role TEXT NOT NULL, peer TEXT NOT NULL, action TEXT NOT NULL, "
          "outcome TEXT NOT NULL, reason TEXT NOT NULL, before_basis_points INTEGER NOT NULL, "
          "before_revision INTEGER NOT NULL, before_baseline TEXT NOT NULL, before_candidate TEXT "
          "NOT NULL, before_phase TEXT NOT NULL, after_basis_points INTEGER NOT NULL, "
          "after_revision INTEGER NOT NULL, after_baseline TEXT NOT NULL, after_candidate TEXT "
          "NOT NULL, after_phase TEXT NOT NULL, evidence TEXT NOT NULL, prev_hash TEXT NOT NULL, "
          "hash TEXT NOT NULL);"
          "INSERT INTO audit VALUES (1, 1700000000000, 'agent', 'system', '', 'initialize', "
          "'ok', 'first start', 0, 0, '', '', '', 500, 1, 'v1', 'v2', 'CANARY', '', '" +
          old.prev_hash + "', '" + old.hash + "');";
      QCOMPARE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
      sqlite3_close(db);
    }
    {
      auto reader = AuditLog::Open(path, AuditLog::Mode::kReadOnly);
      QVERIFY2(reader.ok(), std::string(reader.status().message()).c_str());
      QVERIFY((*reader)->Verify().ok);
      const auto rows = (*reader)->List(0, 10);
      QCOMPARE(rows.size(), size_t(1));
      QVERIFY(!rows[0].step);
    }
    auto writer = AuditLog::Open(path, AuditLog::Mode::kReadWrite, {.accept_lost_journal = true});
    QVERIFY2(writer.ok(), std::string(writer.status().message()).c_str());
    AuditRecord change;
    change.actor = "op";
    change.role = "operator";
    change.action = "set_split";
    change.outcome = "ok";
    change.reason = "wider";
    change.before = old.after;
    change.after = {1000, 2, "v1", "v2", "CANARY"};
    change.step = AuditStep{1, 2, 500, {{"baseline", "v1", 10, 1, 0, 30, 40, 50}}};
    QVERIFY((*writer)->Append(&change, nullptr).ok());
    const ChainVerdict verdict = (*writer)->Verify();
    QVERIFY2(verdict.ok, verdict.why.c_str());
    const auto rows = (*writer)->List(0, 10);
    QCOMPARE(rows.size(), size_t(2));
    QVERIFY(rows[1].step);
    QCOMPARE(*rows[1].step, *change.step);
  }
};

QTEST_GUILESS_MAIN(TestHistory)
#include "test_history.moc"
