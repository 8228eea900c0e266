#include "agent/server/process_tuning.h"

#include <csignal>

#include <pthread.h>
#include <signal.h>

#include <absl/synchronization/mutex.h>
#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "common/text.h"

namespace greylane {
namespace {

std::atomic<int64_t> g_next_protobuf_log_ms{0};
std::atomic<uint64_t> g_protobuf_lines_left_out{0};

void RateLimitedProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                            const std::string& message) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t next = g_next_protobuf_log_ms.load();
  if (level < google::protobuf::LOGLEVEL_FATAL &&
      (now < next || !g_next_protobuf_log_ms.compare_exchange_strong(next, now + 10000))) {
    g_protobuf_lines_left_out.fetch_add(1);
    return;
  }
  const uint64_t left_out = g_protobuf_lines_left_out.exchange(0);
  std::fprintf(stderr, "[libprotobuf %s:%d] %s", file, line, TerminalSafe(message).c_str());
  if (left_out)
    std::fprintf(stderr, " (%llu similar lines left out)",
                 static_cast<unsigned long long>(left_out));
  std::fputc('\n', stderr);
}

}  // namespace

void ApplyServerProcessTuning() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // A reader that goes away (a log shipper on stdout, a FIFO) must fail a
  // write, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  google::protobuf::SetLogHandler(&RateLimitedProtobufLog);
}

namespace {
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForStopSignal(const std::function<void()>& on_hangup) {
  const sigset_t set = StopSignals();
  for (;;) {
    int signal = 0;
    sigwait(&set, &signal);
    if (signal != SIGHUP) return signal;
    if (on_hangup) on_hangup();
  }
}

}  // namespace greylane
