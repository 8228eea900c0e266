#pragma once
// Game-day fault drills on the data plane (InjectFault): for a while, a
// share of one slot's requests get added latency, some fail with
// UNAVAILABLE as server errors, and some answers are wrong (their top class
// moved to the next one: a model that is fast and healthy but answers
// differently, for proving the outcome-quality checks). Self-expiring. Read on every request, so
// the hot path is one relaxed atomic load when no drill runs.
//
// DelayQueue holds the delayed requests: one thread and a timer heap, since
// the gRPC callback threads must never sleep. Written here: neither gRPC
// nor the standard library has a timer queue for arbitrary callbacks.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

namespace greylane {

struct FaultSpec {
  uint32_t added_latency_ms = 0;  // at most kMaxAddedLatencyMs
  double latency_share = 1;       // of requests that get the added latency
  double error_rate = 0;          // of requests that fail
  double wrong_answer_rate = 0;   // of answers whose top class moves to the next class
  friend bool operator==(const FaultSpec&, const FaultSpec&) = default;
};

inline constexpr uint32_t kMaxAddedLatencyMs = 10'000;
inline constexpr uint32_t kMaxDrillSeconds = 3600;

// Empty when `spec` and `duration_seconds` can be drilled, else why not.
std::string FaultSpecProblem(const FaultSpec& spec, uint32_t duration_seconds);

struct FaultDecision {
  bool fail = false;
  bool wrong_answer = false;  // the answer's top class is moved (a quality fault)
  uint32_t delay_ms = 0;
};

class FaultDrill {
 public:
  // Starts (or replaces) the drill until `ends`; a past `ends` stops it.
  void Start(const FaultSpec& spec, std::chrono::steady_clock::time_point ends,
             int64_t ends_unix_ms);
  void Stop();
  // What happens to one request now.
  FaultDecision Decide() const;
  bool Active() const;
  // The running drill's spec and end (wall clock), when Active().
  FaultSpec Spec() const;
  int64_t EndsUnixMs() const { return m_ends_unix_ms.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> m_ends_ns{0};  // steady clock; 0: no drill
  std::atomic<int64_t> m_ends_unix_ms{0};
  std::atomic<uint32_t> m_added_ms{0};
  std::atomic<uint32_t> m_latency_ppm{0};  // parts per million
  std::atomic<uint32_t> m_error_ppm{0};
  std::atomic<uint32_t> m_wrong_ppm{0};
};

class DelayQueue {
 public:
  DelayQueue();
  ~DelayQueue();  // runs whatever is still queued, at once
  void Schedule(std::chrono::steady_clock::time_point when, std::function<void()> run);
  // Runs everything queued now (shutdown: delayed calls must still answer).
  void Flush();

 private:
  struct Item {
    std::chrono::steady_clock::time_point when;
    uint64_t order;
    std::function<void()> run;
    bool operator>(const Item& other) const {
      return when != other.when ? when > other.when : order > other.order;
    }
  };
  void Loop();
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> m_items;
  uint64_t m_order = 0;
  bool m_flush = false;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace greylane
