#pragma once
// A token bucket for one version's requests, as the generic cell rate
// algorithm: one atomic "theoretical arrival time" moved forward by one
// interval per request admitted, which is a token bucket of `burst` tokens
// refilled at `per_second`, without a lock or a refill timer. Unlimited is
// one relaxed load per request. Written here because no Debian library
// offers a lock-free limiter for an in-process request path.
#include <atomic>
#include <cstdint>

namespace greylane {

class RateLimit {
 public:
  // `per_second` 0: unlimited. The burst is a tenth of a second's worth of
  // requests, at least two. Starts from a full bucket.
  void Configure(double per_second);
  double PerSecond() const { return m_per_second.load(std::memory_order_relaxed); }
  // Takes a token at `steady_ns` (nanoseconds on a monotonic clock); false
  // when the bucket is empty.
  bool TryTake(int64_t steady_ns);

 private:
  std::atomic<int64_t> m_interval_ns{0};   // 0: unlimited
  std::atomic<int64_t> m_tolerance_ns{0};  // (burst - 1) intervals
  std::atomic<int64_t> m_arrival_ns{0};
  std::atomic<double> m_per_second{0};
};

}  // namespace greylane
