#pragma once
// The request log: one JSON line per data-plane request (OpenAI API, OIP
// REST and gRPC), each naming the version and slot that served it, for
// Loki/ELK and for "which version answered this user at 03:12?". Lines go
// to a file (rotated by size, a bounded number kept) or to stdout.
//
// The data plane never waits for it: lines are queued (bounded) and written
// by one thread; past the bound they are dropped and counted. Successes may
// be sampled; failures are always written. User keys are written as an
// HMAC under a key kept in the state dir (so one user's lines join up
// across restarts without the log holding who they are); inputs as a
// SHA-256 prefix (so equal prompts can be matched across versions).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace greylane {

struct RequestLogOptions {
  std::string path;  // "-" for stdout; empty: no log
  // Share of successful requests written (0..1); failures always are.
  double sample = 1.0;
  uint64_t max_bytes = 64u << 20;  // a file past this is rotated
  int keep = 5;                    // rotated files kept: <path>.1 … <path>.<keep>
  // The HMAC key for user keys; Open reads or makes <state_dir>/request-log.key.
  std::string state_dir;
};

inline constexpr double kRequestLogSampleBounds[2] = {0.0, 1.0};
inline constexpr int kRequestLogKeepBounds[2] = {0, 100};
inline constexpr uint64_t kRequestLogMaxMbBounds[2] = {1, 1u << 20};

struct RequestLogEntry {
  std::string_view protocol;  // "openai" | "oip-rest" | "oip-grpc"
  std::string_view route;     // "/v1/chat/completions", "ModelInfer", …
  std::string_view request_id;
  std::string_view version;   // empty when refused before routing
  std::string_view slot;      // "baseline" | "candidate"
  std::string_view user_key;  // raw; hashed here
  std::string input_hash;     // InputHash(...) of what the model was asked
  int status = 0;             // HTTP status, or the gRPC code
  std::string_view outcome;   // "ok" | "client_error" | "server_error" | "refused"
  double latency_ms = 0;
  double ttft_ms = -1;  // streams only
  int64_t prompt_tokens = -1;
  int64_t completion_tokens = -1;
  std::string_view finish_reason;
  std::string_view error;
};

// The first 16 hex digits of SHA-256(bytes).
std::string InputHash(std::string_view bytes);

class RequestLog {
 public:
  static absl::StatusOr<std::unique_ptr<RequestLog>> Open(RequestLogOptions options);
  ~RequestLog();  // writes what is queued
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Whether a request ending this way is written (a sampled success, or
  // any failure): build an entry only then.
  bool Wanted(bool success);
  void Write(const RequestLogEntry& entry);

  // Starts a new file at the path before the next write (SIGHUP, after
  // logrotate moved the old one away).
  void Reopen() { m_reopen.store(true); }

  uint64_t Lines() const { return m_lines.load(std::memory_order_relaxed); }
  uint64_t Dropped() const { return m_dropped.load(std::memory_order_relaxed); }
  const std::string& Path() const { return m_options.path; }

 private:
  RequestLog(RequestLogOptions options, std::string key, int fd, uint64_t size);
  void Run();
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex) {
    return m_stopping || !m_queue.empty();
  }
  bool WriteOut(const std::string& lines);  // false: the lines are lost
  void Rotate();
  void OpenFile();
  std::string UserHash(std::string_view user) const;

  const RequestLogOptions m_options;
  const std::string m_key;
  const bool m_stdout;
  int m_fd;
  uint64_t m_size;          // of the current file; the writer's alone
  bool m_cut_line = false;  // a failed write left half a line; the writer's alone
  bool m_drained = false;   // a pipe, FIFO or terminal, not a file; the writer's alone
  std::chrono::steady_clock::time_point m_last_warning{};

  absl::Mutex m_mutex;
  std::deque<std::string> m_queue ABSL_GUARDED_BY(m_mutex);
  size_t m_queued_bytes ABSL_GUARDED_BY(m_mutex) = 0;
  bool m_stopping ABSL_GUARDED_BY(m_mutex) = false;
  std::atomic<uint64_t> m_lines{0};
  std::atomic<uint64_t> m_dropped{0};
  std::atomic<bool> m_reopen{false};
  std::thread m_writer;
};

}  // namespace greylane
