#include "agent/server/fault_drill.h"

#include <cmath>
#include <random>

namespace greylane {
namespace {
uint32_t Ppm(double share) {
  return static_cast<uint32_t>(std::lround(std::clamp(share, 0.0, 1.0) * 1e6));
}

// Per-thread, so the data plane's threads never share (or lock) a generator.
uint32_t RandomPpm() {
  thread_local std::minstd_rand rng(std::random_device{}());
  return static_cast<uint32_t>(rng() % 1'000'000);
}
}  // namespace

std::string FaultSpecProblem(const FaultSpec& spec, uint32_t duration_seconds) {
  if (spec.added_latency_ms > kMaxAddedLatencyMs)
    return "added_latency_ms must be at most " + std::to_string(kMaxAddedLatencyMs);
  if (!(spec.latency_share >= 0 && spec.latency_share <= 1))
    return "latency_share must be 0 to 1 (a share of requests; 0 means all)";
  if (!(spec.error_rate >= 0 && spec.error_rate <= 1))
    return "error_rate must be 0 to 1 (a share of requests)";
  if (!(spec.wrong_answer_rate >= 0 && spec.wrong_answer_rate <= 1))
    return "wrong_answer_rate must be 0 to 1 (a share of answers)";
  if (duration_seconds > kMaxDrillSeconds)
    return "duration_seconds must be at most " + std::to_string(kMaxDrillSeconds) +
           " (0 stops the slot's drill)";
  if (duration_seconds > 0 && spec.added_latency_ms == 0 && spec.error_rate == 0 &&
      spec.wrong_answer_rate == 0)
    return "a drill needs added_latency_ms, error_rate or wrong_answer_rate";
  return "";
}

void FaultDrill::Start(const FaultSpec& spec, std::chrono::steady_clock::time_point ends,
                       int64_t ends_unix_ms) {
  m_ends_ns.store(0, std::memory_order_release);  // readers see no drill while it changes
  m_added_ms.store(spec.added_latency_ms, std::memory_order_relaxed);
  m_latency_ppm.store(Ppm(spec.latency_share == 0 ? 1 : spec.latency_share),
                      std::memory_order_relaxed);
  m_error_ppm.store(Ppm(spec.error_rate), std::memory_order_relaxed);
  m_wrong_ppm.store(Ppm(spec.wrong_answer_rate), std::memory_order_relaxed);
  m_ends_unix_ms.store(ends_unix_ms, std::memory_order_relaxed);
  m_ends_ns.store(ends.time_since_epoch().count(), std::memory_order_release);
}

void FaultDrill::Stop() {
  m_ends_ns.store(0, std::memory_order_release);
}

bool FaultDrill::Active() const {
  const int64_t ends = m_ends_ns.load(std::memory_order_acquire);
  return ends != 0 && std::chrono::steady_clock::now().time_since_epoch().count() < ends;
}

FaultDecision FaultDrill::Decide() const {
  if (m_ends_ns.load(std::memory_order_relaxed) == 0 || !Active()) return {};
  FaultDecision d;
  d.fail = RandomPpm() < m_error_ppm.load(std::memory_order_relaxed);
  if (!d.fail && RandomPpm() < m_latency_ppm.load(std::memory_order_relaxed))
    d.delay_ms = m_added_ms.load(std::memory_order_relaxed);
  const uint32_t wrong = m_wrong_ppm.load(std::memory_order_relaxed);
  d.wrong_answer = !d.fail && wrong > 0 && RandomPpm() < wrong;
  return d;
}

FaultSpec FaultDrill::Spec() const {
  return {m_added_ms.load(std::memory_order_relaxed),
          m_latency_ppm.load(std::memory_order_relaxed) / 1e6,
          m_error_ppm.load(std::memory_order_relaxed) / 1e6,
          m_wrong_ppm.load(std::memory_order_relaxed) / 1e6};
}

DelayQueue::DelayQueue() : m_thread([this] { Loop(); }) {}

DelayQueue::~DelayQueue() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

void DelayQueue::Schedule(std::chrono::steady_clock::time_point when, std::function<void()> run) {
  {
    std::lock_guard lock(m_mutex);
    if (!m_flush && !m_stop) {
      m_items.push({when, m_order++, std::move(run)});
      m_wake.notify_all();
      return;
    }
  }
  run();  // shutting down: no more waiting
}

void DelayQueue::Flush() {
  {
    std::lock_guard lock(m_mutex);
    m_flush = true;
  }
  m_wake.notify_all();
  // Wait until the loop has run everything queued.
  std::unique_lock lock(m_mutex);
  m_wake.wait(lock, [&] { return m_items.empty(); });
}

void DelayQueue::Loop() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (m_items.empty()) {
      m_wake.notify_all();  // a Flush may be waiting for the queue to empty
      if (m_stop) return;
      m_wake.wait(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!m_flush && !m_stop && m_items.top().when > now) {
      m_wake.wait_until(lock, m_items.top().when);
      continue;
    }
    std::function<void()> run = std::move(const_cast<Item&>(m_items.top()).run);
    m_items.pop();
    lock.unlock();
    run();
    lock.lock();
  }
}

}  // namespace greylane
