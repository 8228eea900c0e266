#include "agent/server/request_log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/text.h"

namespace greylane {
namespace {

namespace fs = std::filesystem;

// Lines waiting for the writer: past this they are dropped (a stalled disk
// must not grow the agent's memory).
constexpr size_t kMaxQueuedBytes = 8u << 20;
constexpr size_t kKeyBytes = 32;
constexpr size_t kMaxErrorBytes = 300;

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + Quote(path, 300) + ": " + std::strerror(errno);
}

// A reader that stops reading (a FIFO, a pipe on stdout) holds a write at
// most this long; then the lines are dropped, so shutdown never waits on it.
constexpr int kWriteWaitMs = 1000;
// Pieces no larger than a pipe's atomic write: once poll says a pipe is
// writable, a piece this size goes in without blocking.
constexpr size_t kWritePiece = 4096;

// Non-blocking open, so a FIFO with no reader is refused (ENXIO) rather
// than hanging the start; the descriptor is blocking afterwards, and
// writes wait in poll with a bound instead.
int OpenAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0640);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// The HMAC key: read from the state dir, or made there on first use.
absl::StatusOr<std::string> LoadKey(const std::string& state_dir) {
  if (state_dir.empty()) {
    std::string key(kKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
      return absl::InternalError("no randomness for the request log's key");
    }
    return key;
  }
  const std::string path = (fs::path(state_dir) / "request-log.key").string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
      ::close(fd);
      return absl::PermissionDeniedError(
          path + " is readable by others (mode " + std::to_string((st.st_mode >> 6) & 7) +
          std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
          "): with it user hashes can be reversed by guessing; chmod 600 it");
    }
    std::string key(kKeyBytes, '\0');
    const ssize_t n = ::read(fd, key.data(), kKeyBytes);
    ::close(fd);
    if (n == static_cast<ssize_t>(kKeyBytes)) return key;
    return absl::DataLossError(path + " is damaged (not " + std::to_string(kKeyBytes) +
                               " bytes); delete it to start a new key (user hashes will change)");
  }
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
    return absl::InternalError("no randomness for the request log's key");
  }
  const std::string temp = path + ".tmp";
  fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(Errno("cannot create", temp));
  const bool written =
      ::write(fd, key.data(), kKeyBytes) == static_cast<ssize_t>(kKeyBytes) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return absl::UnavailableError(Errno("cannot write", path));
  }
  return key;
}

void AppendTime(std::string* out) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char text[96];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                now.tv_nsec / 1000000);
  out->append(text);
}

void AppendMillis(const char* key, double ms, std::string* out) {
  char text[48];
  std::snprintf(text, sizeof(text), ",\"%s\":%.3f", key, ms);
  out->append(text);
}

void AppendText(const char* key, std::string_view value, std::string* out) {
  out->append(",\"").append(key).append("\":").append(JsonString(value));
}

}  // namespace

std::string InputHash(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

absl::StatusOr<std::unique_ptr<RequestLog>> RequestLog::Open(RequestLogOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("the request log needs a path");
  if (!(options.sample >= kRequestLogSampleBounds[0] &&
        options.sample <= kRequestLogSampleBounds[1])) {
    return absl::InvalidArgumentError("the request log's sample must be 0..1");
  }
  absl::StatusOr<std::string> key = LoadKey(options.state_dir);
  if (!key.ok()) return key.status();
  int fd = STDOUT_FILENO;
  uint64_t size = 0;
  if (options.path != "-") {
    fd = OpenAppend(options.path);
    if (fd < 0 && errno == ENXIO) {
      return absl::UnavailableError("the request log " + Quote(options.path, 300) +
                                    " is a FIFO with no reader; start its reader first");
    }
    if (fd < 0) return absl::UnavailableError(Errno("cannot open the request log", options.path));
    struct stat st {};
    if (::fstat(fd, &st) == 0) size = static_cast<uint64_t>(st.st_size);
  }
  return std::unique_ptr<RequestLog>(new RequestLog(std::move(options), std::move(*key), fd, size));
}

RequestLog::RequestLog(RequestLogOptions options, std::string key, int fd, uint64_t size)
    : m_options(std::move(options)),
      m_key(std::move(key)),
      m_stdout(m_options.path == "-"),
      m_fd(fd),
      m_size(size) {
  struct stat st {};
  m_drained = ::fstat(m_fd, &st) != 0 || !S_ISREG(st.st_mode);
  m_writer = std::thread([this] { Run(); });
}

RequestLog::~RequestLog() {
  {
    absl::MutexLock lock(&m_mutex);
    m_stopping = true;
  }
  m_writer.join();
  if (!m_stdout && m_fd >= 0) ::close(m_fd);
}

bool RequestLog::Wanted(bool success) {
  if (!success || m_options.sample >= 1.0) return true;
  if (m_options.sample <= 0.0) return false;
  thread_local std::minstd_rand random(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(random) < m_options.sample;
}

std::string RequestLog::UserHash(std::string_view user) const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), m_key.data(), static_cast<int>(m_key.size()),
       reinterpret_cast<const unsigned char*>(user.data()), user.size(), digest, &size);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

void RequestLog::Write(const RequestLogEntry& e) {
  std::string line;
  line.reserve(384);
  line.append("{\"ts\":\"");
  AppendTime(&line);
  line.push_back('"');
  AppendText("request_id", ClampText(e.request_id, 256), &line);
  AppendText("protocol", e.protocol, &line);
  AppendText("route", ClampText(e.route, 200), &line);
  if (!e.version.empty()) AppendText("version", e.version, &line);
  AppendText("slot", e.slot, &line);
  if (!e.user_key.empty()) AppendText("user", UserHash(e.user_key), &line);
  if (!e.input_hash.empty()) AppendText("input_sha256", e.input_hash, &line);
  line.append(",\"status\":").append(std::to_string(e.status));
  AppendText("outcome", e.outcome, &line);
  AppendMillis("latency_ms", e.latency_ms, &line);
  if (e.ttft_ms >= 0) AppendMillis("ttft_ms", e.ttft_ms, &line);
  if (e.prompt_tokens >= 0) line.append(",\"prompt_tokens\":" + std::to_string(e.prompt_tokens));
  if (e.completion_tokens >= 0) {
    line.append(",\"completion_tokens\":" + std::to_string(e.completion_tokens));
  }
  if (!e.finish_reason.empty()) AppendText("finish_reason", e.finish_reason, &line);
  if (!e.error.empty()) AppendText("error", ClampText(e.error, kMaxErrorBytes), &line);
  line.append("}\n");
  absl::MutexLock lock(&m_mutex);
  if (m_stopping || m_queued_bytes + line.size() > kMaxQueuedBytes) {
    m_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  m_queued_bytes += line.size();
  m_queue.push_back(std::move(line));
}

void RequestLog::Run() {
  bool failing = false;  // the last write failed
  for (;;) {
    std::string batch;
    uint64_t lines = 0;
    {
      absl::MutexLock lock(&m_mutex);
      m_mutex.Await(absl::Condition(this, &RequestLog::HasWork));
      if (m_queue.empty()) return;  // stopping, all written
      if (m_stopping && failing) {
        // Stopping while the log cannot take lines: they are counted as
        // lost now, not written one bounded wait at a time.
        m_dropped.fetch_add(m_queue.size(), std::memory_order_relaxed);
        m_queue.clear();
        m_queued_bytes = 0;
        return;
      }
      while (!m_queue.empty() && batch.size() < (256u << 10)) {
        batch += m_queue.front();
        m_queued_bytes -= m_queue.front().size();
        m_queue.pop_front();
        ++lines;
      }
    }
    if (!m_stdout && m_options.max_bytes > 0 && m_size > 0 &&
        m_size + batch.size() > m_options.max_bytes) {
      Rotate();
    }
    if (!m_stdout && m_fd >= 0) {
      // A file deleted or moved away (logrotate, a person) would swallow
      // lines nobody can read: start a new one at the path.
      struct stat st {};
      if (m_reopen.exchange(false) || (::fstat(m_fd, &st) == 0 && st.st_nlink == 0)) OpenFile();
    }
    if (!m_stdout && m_fd < 0) OpenFile();  // after a failed rotation
    failing = !WriteOut(batch);
    (failing ? m_dropped : m_lines).fetch_add(lines, std::memory_order_relaxed);
  }
}

bool RequestLog::WriteOut(const std::string& lines) {
  if (m_fd < 0) return false;
  // A line cut by a failed write is ended first, so the next parses.
  const std::string& bytes = m_cut_line ? "\n" + lines : lines;
  size_t done = 0;
  while (done < bytes.size()) {
    // A regular file is written whole; anything a reader drains (pipe,
    // FIFO, terminal) in pieces, each waiting a bounded time to fit.
    int ready = 1;
    if (m_drained) {
      pollfd writable{m_fd, POLLOUT, 0};
      ready = ::poll(&writable, 1, kWriteWaitMs);
      if (ready < 0 && errno == EINTR) continue;
    }
    const size_t piece =
        m_drained ? std::min(kWritePiece, bytes.size() - done) : bytes.size() - done;
    const ssize_t n = ready > 0 ? ::write(m_fd, bytes.data() + done, piece) : -1;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = ready == 0 ? ETIMEDOUT : n < 0 ? errno : ENOSPC;
      // A full disk or a closed stdout: the lines are lost and counted, the
      // data plane goes on, and the operator hears of it once a minute.
      m_size += done;
      m_cut_line = m_cut_line || done > 0;
      const auto now = std::chrono::steady_clock::now();
      if (now - m_last_warning > std::chrono::minutes(1)) {
        m_last_warning = now;
        std::fprintf(stderr, "greylane-agent: request log %s: %s; lines are being dropped\n",
                     Quote(m_options.path, 200).c_str(),
                     ready == 0 ? "its reader has not read for a second" : std::strerror(error));
      }
      return false;
    }
    done += static_cast<size_t>(n);
  }
  m_size += done;
  m_cut_line = false;
  return true;
}

// <path>.N-1 -> <path>.N, …, <path> -> <path>.1, then a new <path>.
void RequestLog::Rotate() {
  const std::string& path = m_options.path;
  ::close(m_fd);
  m_fd = -1;
  if (m_options.keep <= 0) {
    ::unlink(path.c_str());
  } else {
    for (int n = m_options.keep; n > 1; --n) {
      const std::string from = path + "." + std::to_string(n - 1);
      const std::string to = path + "." + std::to_string(n);
      ::rename(from.c_str(), to.c_str());  // a gap in the series is no error
    }
    ::rename(path.c_str(), (path + ".1").c_str());
  }
  OpenFile();
  if (m_fd < 0) {
    std::fprintf(stderr, "greylane-agent: %s; request lines are being dropped\n",
                 Errno("cannot reopen the request log", path).c_str());
  }
}

// (Re)opens the file at the path, taking its size and kind as they are now.
void RequestLog::OpenFile() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = OpenAppend(m_options.path);
  m_cut_line = false;
  struct stat st {};
  const bool known = m_fd >= 0 && ::fstat(m_fd, &st) == 0;
  m_size = known ? static_cast<uint64_t>(st.st_size) : 0;
  m_drained = !known || !S_ISREG(st.st_mode);
}

}  // namespace greylane
