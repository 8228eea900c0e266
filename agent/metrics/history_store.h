#pragma once
// The agent's long memory for release reviews: every second's frame is
// merged into its wall-clock minute (counts add, sketches merge), and each
// finished minute is written to `history.db` in the state dir (SQLite,
// WAL). Minutes older than the retention are deleted, and the oldest go
// first whenever the file would pass its size bound, so the store never
// grows without limit. Writes happen on the store's own thread: a slow
// disk never holds up the one-second ticker.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/window_merge.h"
#include "greylane/v1/agent.pb.h"

struct sqlite3;

namespace greylane {

struct HistoryOptions {
  std::chrono::hours retention{14 * 24};
  uint64_t max_bytes = 512ull << 20;
};

struct HistoryPage {
  std::vector<v1::MetricsFrame> minutes;  // oldest first; window_seconds says how full each is
  int64_t next_from_unix_ms = 0;          // 0: the range is complete
  int64_t oldest_unix_ms = 0;             // the oldest minute kept (0: none)
};

struct HistoryFigures {
  uint64_t minutes = 0;
  uint64_t file_bytes = 0;  // database and write-ahead log
  uint64_t write_failures = 0;
  std::string last_error;
};

class HistoryStore {
 public:
  static constexpr int64_t kMinuteMs = 60'000;
  static constexpr size_t kMaxPageBytes = 1 << 20;

  static absl::StatusOr<std::unique_ptr<HistoryStore>> Open(const std::string& path,
                                                            HistoryOptions options);
  ~HistoryStore();  // writes the minute in progress

  // The ticker, once a second. Never waits on the disk.
  void Add(const v1::MetricsFrame& second);

  // Minutes whose end lies in (from, to], the one in progress included,
  // up to about kMaxPageBytes of encoded frames per page.
  HistoryPage Query(int64_t from_unix_ms, int64_t to_unix_ms, bool with_sketches);

  // Blocks until every finished minute handed to the writer is on disk.
  void Flush();
  HistoryFigures Figures();
  const HistoryOptions& Options() const { return m_options; }

 private:
  struct Minute {
    int64_t end_unix_ms = 0;
    uint32_t seconds = 0;
    uint64_t split_revision = 0;
    uint32_t candidate_basis_points = 0;
    std::vector<MergedWindow> versions;
  };
  HistoryStore(std::string path, HistoryOptions options);
  static v1::MetricsFrame Encode(const std::string& agent_id, const Minute& minute,
                                 bool with_sketches);
  void WriterLoop();
  void Write(const v1::MetricsFrame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_db_mutex);
  void Prune(int64_t now_unix_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_db_mutex);
  // The pages in use (the free list excluded): what the size bound counts.
  uint64_t LiveBytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_db_mutex);
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex) {
    return m_stopping || !m_queue.empty();
  }

  const std::string m_path;
  const HistoryOptions m_options;

  absl::Mutex m_mutex;
  std::string m_agent_id ABSL_GUARDED_BY(m_mutex);
  Minute m_current ABSL_GUARDED_BY(m_mutex);
  std::deque<v1::MetricsFrame> m_queue ABSL_GUARDED_BY(m_mutex);
  uint64_t m_queued ABSL_GUARDED_BY(m_mutex) = 0;
  uint64_t m_written ABSL_GUARDED_BY(m_mutex) = 0;
  bool m_stopping ABSL_GUARDED_BY(m_mutex) = false;
  uint64_t m_write_failures ABSL_GUARDED_BY(m_mutex) = 0;
  std::string m_last_error ABSL_GUARDED_BY(m_mutex);

  absl::Mutex m_db_mutex;
  sqlite3* m_db ABSL_GUARDED_BY(m_db_mutex) = nullptr;
  std::thread m_writer;
};

}  // namespace greylane
