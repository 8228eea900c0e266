#include "agent/routing/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace greylane {

void RateLimit::Configure(double per_second) {
  if (!(per_second > 0) || !std::isfinite(per_second)) {
    m_per_second.store(0, std::memory_order_relaxed);
    m_interval_ns.store(0, std::memory_order_release);
    return;
  }
  const auto interval = std::max<int64_t>(1, std::llround(1e9 / per_second));
  // Two at least: with one, requests that arrive a little early (any real
  // client's jitter) are refused and the rate served falls below the limit.
  const double burst = std::max(2.0, std::floor(per_second / 10));
  // A new rate starts from a full bucket: the old one's debt (a day, at a
  // tiny rate) must not outlive it.
  m_arrival_ns.store(0, std::memory_order_relaxed);
  m_tolerance_ns.store(static_cast<int64_t>((burst - 1) * static_cast<double>(interval)),
                       std::memory_order_relaxed);
  m_per_second.store(per_second, std::memory_order_relaxed);
  m_interval_ns.store(interval, std::memory_order_release);
}

bool RateLimit::TryTake(int64_t steady_ns) {
  const int64_t interval = m_interval_ns.load(std::memory_order_acquire);
  if (interval == 0) return true;
  const int64_t tolerance = m_tolerance_ns.load(std::memory_order_relaxed);
  int64_t arrival = m_arrival_ns.load(std::memory_order_relaxed);
  for (;;) {
    // An idle bucket refills to its burst, never beyond.
    const int64_t start = std::max(arrival, steady_ns);
    if (start - steady_ns > tolerance) return false;
    if (m_arrival_ns.compare_exchange_weak(arrival, start + interval, std::memory_order_relaxed))
      return true;
  }
}

}  // namespace greylane
