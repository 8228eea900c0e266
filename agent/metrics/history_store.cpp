#include "agent/metrics/history_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

namespace greylane {
namespace {

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS minute (end_unix_ms INTEGER PRIMARY KEY, frame BLOB NOT NULL);";
// The writer drops the oldest finished minutes beyond this many when the
// disk cannot keep up (about four hours).
constexpr size_t kMaxQueuedMinutes = 240;

int64_t MinuteEnd(int64_t window_end_unix_ms) {
  const int64_t m = HistoryStore::kMinuteMs;
  return (window_end_unix_ms + m - 1) / m * m;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr); }
  ~Stmt() { sqlite3_finalize(m_stmt); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return m_stmt; }
  bool ok() const { return m_stmt != nullptr; }

 private:
  sqlite3_stmt* m_stmt = nullptr;
};

int64_t ScalarInt(sqlite3* db, const char* sql) {
  Stmt s(db, sql);
  if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return 0;
  return sqlite3_column_int64(s.get(), 0);
}

bool ReadFrame(sqlite3_stmt* s, int column, v1::MetricsFrame* frame) {
  const void* data = sqlite3_column_blob(s, column);
  const int size = sqlite3_column_bytes(s, column);
  return data && frame->ParseFromArray(data, size);
}

void StripSketches(v1::MetricsFrame* frame) {
  for (v1::VersionWindow& v : *frame->mutable_versions()) v.clear_latency();
}
}  // namespace

HistoryStore::HistoryStore(std::string path, HistoryOptions options)
    : m_path(std::move(path)), m_options(options) {}

absl::StatusOr<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& path,
                                                                 HistoryOptions options) {
  std::unique_ptr<HistoryStore> store(new HistoryStore(path, options));
  {
    absl::MutexLock lock(&store->m_db_mutex);
    sqlite3*& db = store->m_db;
    if (sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError("cannot open history database " + path + ": " +
                                           sqlite3_errmsg(db));
    }
    sqlite3_busy_timeout(db, 250);
    // auto_vacuum only takes on a new file: it lets deleted minutes give
    // their pages back to the file system.
    char* message = nullptr;
    const std::string sql = std::string(
                                "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; "
                                "PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=4194304;") +
                            kSchema;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string why = message ? message : sqlite3_errmsg(db);
      sqlite3_free(message);
      return absl::FailedPreconditionError("history database " + path + ": " + why);
    }
  }
  store->m_writer = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

HistoryStore::~HistoryStore() {
  {
    absl::MutexLock lock(&m_mutex);
    if (m_current.seconds > 0) {
      m_queue.push_back(Encode(m_agent_id, m_current, true));
      ++m_queued;
      m_current = {};
    }
    m_stopping = true;
  }
  if (m_writer.joinable()) m_writer.join();
  absl::MutexLock lock(&m_db_mutex);
  sqlite3_close_v2(m_db);
  m_db = nullptr;
}

v1::MetricsFrame HistoryStore::Encode(const std::string& agent_id, const Minute& minute,
                                      bool with_sketches) {
  v1::MetricsFrame frame;
  frame.set_agent_id(agent_id);
  frame.set_sequence(static_cast<uint64_t>(minute.end_unix_ms / kMinuteMs));
  frame.set_window_end_unix_ms(minute.end_unix_ms);
  frame.set_split_revision(minute.split_revision);
  frame.set_candidate_basis_points(minute.candidate_basis_points);
  frame.set_window_seconds(minute.seconds);
  for (const MergedWindow& m : minute.versions) {
    ToVersionWindow(m, with_sketches, frame.add_versions());
  }
  return frame;
}

void HistoryStore::Add(const v1::MetricsFrame& second) {
  absl::MutexLock lock(&m_mutex);
  m_agent_id = second.agent_id();
  const int64_t end = MinuteEnd(second.window_end_unix_ms());
  if (m_current.seconds > 0 && m_current.end_unix_ms != end) {
    m_queue.push_back(Encode(m_agent_id, m_current, true));
    ++m_queued;
    if (m_queue.size() > kMaxQueuedMinutes) {
      m_queue.pop_front();
      ++m_written;  // given up on: Flush() must not wait for it
      ++m_write_failures;
      m_last_error = "the disk did not keep up; the oldest unwritten minute was dropped";
    }
    m_current = {};
  }
  m_current.end_unix_ms = end;
  ++m_current.seconds;
  m_current.split_revision = second.split_revision();
  m_current.candidate_basis_points = second.candidate_basis_points();
  MergeFrame(&m_current.versions, second);
}

void HistoryStore::WriterLoop() {
  for (;;) {
    std::deque<v1::MetricsFrame> batch;
    {
      absl::MutexLock lock(&m_mutex);
      m_mutex.Await(absl::Condition(this, &HistoryStore::HasWork));
      if (m_queue.empty() && m_stopping) return;
      batch.swap(m_queue);
    }
    {
      absl::MutexLock db(&m_db_mutex);
      for (const v1::MetricsFrame& frame : batch) Write(frame);
      Prune(NowUnixMs());
    }
    absl::MutexLock lock(&m_mutex);
    m_written += batch.size();
  }
}

void HistoryStore::Write(const v1::MetricsFrame& frame) {
  // A minute split by a restart is stored whole: the part written before
  // it merges with the part that follows.
  v1::MetricsFrame merged = frame;
  {
    Stmt read(m_db, "SELECT frame FROM minute WHERE end_unix_ms = ?");
    if (read.ok()) {
      sqlite3_bind_int64(read.get(), 1, frame.window_end_unix_ms());
      v1::MetricsFrame earlier;
      if (sqlite3_step(read.get()) == SQLITE_ROW && ReadFrame(read.get(), 0, &earlier)) {
        std::vector<MergedWindow> versions;
        MergeFrame(&versions, earlier);
        MergeFrame(&versions, frame);
        merged.clear_versions();
        for (const MergedWindow& m : versions) ToVersionWindow(m, true, merged.add_versions());
        merged.set_window_seconds(
            std::min<uint32_t>(60, earlier.window_seconds() + frame.window_seconds()));
      }
    }
  }
  const std::string blob = merged.SerializeAsString();
  Stmt insert(m_db, "INSERT OR REPLACE INTO minute (end_unix_ms, frame) VALUES (?, ?)");
  bool ok = insert.ok();
  if (ok) {
    sqlite3_bind_int64(insert.get(), 1, frame.window_end_unix_ms());
    sqlite3_bind_blob(insert.get(), 2, blob.data(), static_cast<int>(blob.size()),
                      SQLITE_TRANSIENT);
    ok = sqlite3_step(insert.get()) == SQLITE_DONE;
  }
  if (!ok) {
    const std::string why = sqlite3_errmsg(m_db);
    absl::MutexLock lock(&m_mutex);
    ++m_write_failures;
    if (why != m_last_error) {
      std::fprintf(stderr, "greylane-agent: history minute not written (%s): %s\n", m_path.c_str(),
                   why.c_str());
    }
    m_last_error = why;
  }
}

void HistoryStore::Prune(int64_t now_unix_ms) {
  const int64_t keep_from =
      now_unix_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(m_options.retention).count();
  {
    Stmt old(m_db, "DELETE FROM minute WHERE end_unix_ms <= ?");
    if (old.ok()) {
      sqlite3_bind_int64(old.get(), 1, keep_from);
      sqlite3_step(old.get());
    }
  }
  // The size bound: the oldest hour goes first, until the live pages fit.
  for (int round = 0; round < 1000 && LiveBytes() > m_options.max_bytes; ++round) {
    if (sqlite3_exec(m_db,
                     "DELETE FROM minute WHERE end_unix_ms IN "
                     "(SELECT end_unix_ms FROM minute ORDER BY end_unix_ms LIMIT 60)",
                     nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_changes(m_db) == 0) {
      break;
    }
  }
  if (ScalarInt(m_db, "PRAGMA freelist_count") > 0) {
    sqlite3_exec(m_db, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr);
  }
  // Once a minute is cheap, and keeps the write-ahead log from adding up to
  // its 4 MiB limit on top of the bound.
  sqlite3_wal_checkpoint_v2(m_db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

uint64_t HistoryStore::LiveBytes() {
  return static_cast<uint64_t>(ScalarInt(m_db, "PRAGMA page_count") -
                               ScalarInt(m_db, "PRAGMA freelist_count")) *
         static_cast<uint64_t>(ScalarInt(m_db, "PRAGMA page_size"));
}

HistoryPage HistoryStore::Query(int64_t from_unix_ms, int64_t to_unix_ms, bool with_sketches) {
  HistoryPage page;
  std::map<int64_t, v1::MetricsFrame> minutes;
  size_t bytes = 0;
  {
    absl::MutexLock db(&m_db_mutex);
    page.oldest_unix_ms = ScalarInt(m_db, "SELECT coalesce(min(end_unix_ms), 0) FROM minute");
    Stmt s(m_db,
           "SELECT end_unix_ms, frame FROM minute WHERE end_unix_ms > ? AND end_unix_ms <= ? "
           "ORDER BY end_unix_ms");
    if (s.ok()) {
      sqlite3_bind_int64(s.get(), 1, from_unix_ms);
      sqlite3_bind_int64(s.get(), 2, to_unix_ms);
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        v1::MetricsFrame frame;
        if (!ReadFrame(s.get(), 1, &frame)) continue;  // unreadable minute: a gap
        if (!with_sketches) StripSketches(&frame);
        bytes += frame.ByteSizeLong();
        const int64_t end = sqlite3_column_int64(s.get(), 0);
        minutes.emplace(end, std::move(frame));
        if (bytes >= kMaxPageBytes) {
          page.next_from_unix_ms = end;
          break;
        }
      }
    }
  }
  if (page.next_from_unix_ms == 0) {
    // Minutes not yet on disk, and the one in progress.
    absl::MutexLock lock(&m_mutex);
    auto overlay = [&](v1::MetricsFrame frame) {
      const int64_t end = frame.window_end_unix_ms();
      if (end <= from_unix_ms || end > to_unix_ms) return;
      if (!with_sketches) StripSketches(&frame);
      minutes[end] = std::move(frame);
    };
    for (const v1::MetricsFrame& f : m_queue) overlay(f);
    if (m_current.seconds > 0) overlay(Encode(m_agent_id, m_current, with_sketches));
    if (page.oldest_unix_ms == 0 && !minutes.empty()) page.oldest_unix_ms = minutes.begin()->first;
  }
  page.minutes.reserve(minutes.size());
  for (auto& [end, frame] : minutes) page.minutes.push_back(std::move(frame));
  return page;
}

void HistoryStore::Flush() {
  absl::MutexLock lock(&m_mutex);
  const uint64_t target = m_queued;
  const auto done = [this, target]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return m_written >= target; };
  m_mutex.Await(absl::Condition(&done));
}

HistoryFigures HistoryStore::Figures() {
  HistoryFigures f;
  {
    absl::MutexLock db(&m_db_mutex);
    f.minutes = static_cast<uint64_t>(ScalarInt(m_db, "SELECT count(*) FROM minute"));
  }
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(m_path + suffix, ec);
    if (!ec) f.file_bytes += size;
  }
  absl::MutexLock lock(&m_mutex);
  f.write_failures = m_write_failures;
  f.last_error = m_last_error;
  return f;
}

}  // namespace greylane
