#include "agent/routing/circuit_breaker.h"

#include <utility>

namespace greylane {
namespace {
constexpr size_t kMaxErrorBytes = 300;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint8_t Code(BreakerState s) {
  return static_cast<uint8_t>(s);
}
}  // namespace

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

void CircuitBreaker::Configure(uint32_t failures, std::chrono::milliseconds cooldown) {
  m_failures_to_open.store(failures, std::memory_order_relaxed);
  m_cooldown_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(cooldown).count(),
                      std::memory_order_relaxed);
  if (failures != 0) return;
  uint8_t s = m_state.load(std::memory_order_acquire);
  if (s != Code(BreakerState::kClosed) &&
      m_state.compare_exchange_strong(s, Code(BreakerState::kClosed))) {
    QueueClosed("the breaker was turned off (breaker_failures 0)");
  }
  m_consecutive.store(0, std::memory_order_relaxed);
}

void CircuitBreaker::Reset() {
  m_state.store(Code(BreakerState::kClosed), std::memory_order_release);
  m_consecutive.store(0, std::memory_order_relaxed);
  m_trial_running.store(false, std::memory_order_release);
  m_diverted.store(0, std::memory_order_relaxed);
  m_times_opened.store(0, std::memory_order_relaxed);
  m_opened_unix_ms.store(0, std::memory_order_relaxed);
  m_retry_unix_ms.store(0, std::memory_order_relaxed);
  std::lock_guard lock(m_events_mutex);
  m_events.clear();  // about the version that left
}

BreakerAdmit CircuitBreaker::Admit(int64_t steady_ns, bool diverts) {
  uint8_t s = m_state.load(std::memory_order_acquire);
  if (s == Code(BreakerState::kClosed)) return BreakerAdmit::kAdmitted;
  if (s == Code(BreakerState::kOpen)) {
    if (steady_ns < m_retry_ns.load(std::memory_order_acquire))
      return diverts ? BreakerAdmit::kRefused : BreakerAdmit::kAdmitted;
    if (m_state.compare_exchange_strong(s, Code(BreakerState::kHalfOpen))) {
      m_trial_successes.store(0, std::memory_order_relaxed);
    } else if (s == Code(BreakerState::kClosed)) {
      return BreakerAdmit::kAdmitted;
    }
  }
  // Half-open: one trial at a time.
  if (!m_trial_running.exchange(true, std::memory_order_acq_rel)) return BreakerAdmit::kTrial;
  return diverts ? BreakerAdmit::kRefused : BreakerAdmit::kAdmitted;
}

void CircuitBreaker::OnSuccess(bool trial) {
  if (!trial) {
    if (m_consecutive.load(std::memory_order_relaxed) != 0)
      m_consecutive.store(0, std::memory_order_relaxed);
    return;
  }
  uint8_t s = Code(BreakerState::kHalfOpen);
  if (m_state.load(std::memory_order_acquire) == s &&
      m_trial_successes.fetch_add(1, std::memory_order_acq_rel) + 1 >= kTrialSuccesses &&
      m_state.compare_exchange_strong(s, Code(BreakerState::kClosed))) {
    m_consecutive.store(0, std::memory_order_relaxed);
    QueueClosed({});
  }
  m_trial_running.store(false, std::memory_order_release);
}

void CircuitBreaker::OnFailure(bool trial, int64_t steady_ns, std::string_view error) {
  if (trial) {
    if (m_state.load(std::memory_order_acquire) == Code(BreakerState::kHalfOpen))
      Open(steady_ns, kTrialSuccesses, error, true);
    m_trial_running.store(false, std::memory_order_release);
    return;
  }
  // Failures of requests admitted before it opened say nothing new.
  if (m_state.load(std::memory_order_acquire) != Code(BreakerState::kClosed)) return;
  const uint32_t limit = m_failures_to_open.load(std::memory_order_relaxed);
  const uint32_t n = m_consecutive.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (limit != 0 && n >= limit) Open(steady_ns, n, error, false);
}

void CircuitBreaker::OnNeutral(bool trial) {
  if (trial) m_trial_running.store(false, std::memory_order_release);
}

void CircuitBreaker::Open(int64_t steady_ns, uint32_t failures, std::string_view error,
                          bool reopened) {
  const int64_t cooldown = m_cooldown_ns.load(std::memory_order_relaxed);
  const int64_t now_ms = NowUnixMs();
  // The retry time is in place before any reader can see the breaker open.
  m_retry_ns.store(steady_ns + cooldown, std::memory_order_release);
  m_retry_unix_ms.store(now_ms + cooldown / 1'000'000, std::memory_order_relaxed);
  uint8_t from = Code(reopened ? BreakerState::kHalfOpen : BreakerState::kClosed);
  if (!m_state.compare_exchange_strong(from, Code(BreakerState::kOpen))) return;
  if (reopened) m_failed_trials.fetch_add(1, std::memory_order_relaxed);
  if (!reopened) {
    m_failed_trials.store(0, std::memory_order_relaxed);
    m_diverted.store(0, std::memory_order_relaxed);
    m_opened_unix_ms.store(now_ms, std::memory_order_relaxed);
  }
  m_times_opened.fetch_add(1, std::memory_order_relaxed);
  BreakerEvent e;
  e.to = BreakerState::kOpen;
  e.unix_ms = now_ms;
  e.failures = failures;
  e.last_error = std::string(error.substr(0, kMaxErrorBytes));
  e.reopened = reopened;
  Queue(std::move(e));
}

void CircuitBreaker::QueueClosed(std::string why) {
  BreakerEvent e;
  e.to = BreakerState::kClosed;
  e.unix_ms = NowUnixMs();
  e.diverted = m_diverted.load(std::memory_order_relaxed);
  e.open_for_ms = e.unix_ms - m_opened_unix_ms.load(std::memory_order_relaxed);
  e.failed_trials = m_failed_trials.load(std::memory_order_relaxed);
  e.last_error = std::move(why);
  Queue(std::move(e));
}

void CircuitBreaker::Queue(BreakerEvent event) {
  std::lock_guard lock(m_events_mutex);
  // A flapping upstream cannot grow this: the oldest are dropped.
  if (m_events.size() >= kMaxQueuedEvents) m_events.erase(m_events.begin());
  m_events.push_back(std::move(event));
}

std::vector<BreakerEvent> CircuitBreaker::TakeEvents() {
  std::lock_guard lock(m_events_mutex);
  return std::exchange(m_events, {});
}

BreakerSnapshot CircuitBreaker::Snapshot() const {
  BreakerSnapshot s;
  s.state = static_cast<BreakerState>(m_state.load(std::memory_order_acquire));
  s.consecutive_failures = m_consecutive.load(std::memory_order_relaxed);
  s.failures_to_open = m_failures_to_open.load(std::memory_order_relaxed);
  s.times_opened = m_times_opened.load(std::memory_order_relaxed);
  if (s.state != BreakerState::kClosed) {
    s.opened_unix_ms = m_opened_unix_ms.load(std::memory_order_relaxed);
    s.retry_unix_ms = m_retry_unix_ms.load(std::memory_order_relaxed);
    s.retry_steady_ns = m_retry_ns.load(std::memory_order_acquire);
    s.diverted = m_diverted.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace greylane
