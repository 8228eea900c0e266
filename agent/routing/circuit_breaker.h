#pragma once
// A circuit breaker for one version: after N consecutive server errors or
// timeouts it opens for a cool-down; then it lets one trial request through
// at a time (half-open) and closes after kTrialSuccesses of them in a row,
// or opens again at the first trial that fails.
//
// Whether an open breaker sends requests elsewhere is the caller's choice
// per request: the candidate's users go to the baseline, the baseline's
// breaker only reports (there is nowhere safer to send production).
//
// Read on every request: when closed, admitting is one relaxed load and a
// success is one load. Transitions are compare-and-swap, so exactly one
// request opens (or closes) the breaker; each transition is queued as an
// event for the audit trail. Written here because no Debian library has a
// breaker for an in-process request path.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace greylane {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState state);  // "closed" | "open" | "half-open"

// What the breaker lets one request do.
enum class BreakerAdmit : uint8_t {
  kAdmitted,  // go ahead
  kTrial,     // go ahead as the half-open trial: report its outcome with trial = true
  kRefused,   // open (or a trial already runs): serve it elsewhere
};

struct BreakerEvent {
  BreakerState to = BreakerState::kClosed;
  int64_t unix_ms = 0;
  uint32_t failures = 0;       // consecutive failures that opened it
  std::string last_error;      // the failure that opened it (bounded)
  uint64_t diverted = 0;       // requests served elsewhere while it was open (on closing)
  int64_t open_for_ms = 0;     // how long it stayed open (on closing)
  bool reopened = false;       // opened again by a failed trial
  uint32_t failed_trials = 0;  // trials that failed while it was open (on closing)
};

struct BreakerSnapshot {
  BreakerState state = BreakerState::kClosed;
  uint32_t consecutive_failures = 0;
  uint32_t failures_to_open = 0;  // 0: off
  int64_t opened_unix_ms = 0;     // when open or half-open
  int64_t retry_unix_ms = 0;      // when an open breaker lets a trial through
  int64_t retry_steady_ns = 0;    // the same, on the steady clock (for waits)
  uint64_t diverted = 0;          // since it opened
  uint64_t times_opened = 0;      // since the version was installed
};

class CircuitBreaker {
 public:
  static constexpr uint32_t kTrialSuccesses = 3;
  static constexpr size_t kMaxQueuedEvents = 64;

  // `failures` 0 turns the breaker off (and closes it).
  void Configure(uint32_t failures, std::chrono::milliseconds cooldown);
  // Closes it and forgets its history: a new version is installed.
  void Reset();

  // `diverts`: this request would be served elsewhere when refused.
  // A breaker that does not divert still opens and closes, and admits all.
  BreakerAdmit Admit(int64_t steady_ns, bool diverts);
  void OnSuccess(bool trial);
  void OnFailure(bool trial, int64_t steady_ns, std::string_view error);
  // An outcome that says nothing about the version (a client error).
  void OnNeutral(bool trial);
  // A request refused by Admit was served elsewhere.
  void CountDiverted() { m_diverted.fetch_add(1, std::memory_order_relaxed); }

  BreakerSnapshot Snapshot() const;
  std::vector<BreakerEvent> TakeEvents();

 private:
  void Open(int64_t steady_ns, uint32_t failures, std::string_view error, bool reopened);
  // `why` empty: closed by its trials.
  void QueueClosed(std::string why);
  void Queue(BreakerEvent event);

  std::atomic<uint8_t> m_state{static_cast<uint8_t>(BreakerState::kClosed)};
  std::atomic<uint32_t> m_failures_to_open{5};
  std::atomic<int64_t> m_cooldown_ns{30'000'000'000};
  std::atomic<uint32_t> m_consecutive{0};
  std::atomic<int64_t> m_retry_ns{0};  // steady clock
  std::atomic<bool> m_trial_running{false};
  std::atomic<uint32_t> m_trial_successes{0};
  std::atomic<uint64_t> m_diverted{0};
  std::atomic<uint64_t> m_times_opened{0};
  std::atomic<uint32_t> m_failed_trials{0};  // since it last opened from closed
  std::atomic<int64_t> m_opened_unix_ms{0};
  std::atomic<int64_t> m_retry_unix_ms{0};

  mutable std::mutex m_events_mutex;  // transitions only, never a request in the closed state
  std::vector<BreakerEvent> m_events;
};

}  // namespace greylane
