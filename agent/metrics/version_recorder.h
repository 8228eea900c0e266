#pragma once
// The data plane's per-version counters. Recording is a handful of relaxed
// atomic adds on a shard owned (almost always) by the recording thread, so
// threads do not fight over cache lines. Counters are cumulative and never
// reset: the ticker subtracts consecutive snapshots, so every request lands
// in exactly one window even when it races the window's end.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "common/latency_sketch.h"

namespace greylane {

// Predicted classes counted apart; the last counts every class from it up.
inline constexpr int kPredictionClasses = 32;

struct VersionTotals {
  uint64_t ok = 0;
  uint64_t server_errors = 0;
  uint64_t client_errors = 0;
  uint64_t rate_limited = 0;
  uint64_t spilled = 0;
  uint64_t breaker_diverted = 0;
  uint64_t outcomes = 0;  // labelled by the caller (RecordOutcome)
  uint64_t incorrect = 0;
  std::array<uint64_t, kPredictionClasses> predictions{};  // rows answered, per top class
  LatencySketch latency;                                   // successful requests only
};

class VersionRecorder {
 public:
  static constexpr int kShardCount = 8;

  VersionRecorder();
  VersionRecorder(const VersionRecorder&) = delete;
  VersionRecorder& operator=(const VersionRecorder&) = delete;

  void RecordOk(uint64_t latency_ns);
  void RecordServerError();
  void RecordClientError();
  // Requests this version did not serve: refused by its rate limit, or
  // served by the other version (its rate limit, its open breaker).
  void RecordRateLimited();
  void RecordSpilled();
  void RecordBreakerDiverted();
  // One answered row whose top class is `predicted_class` (>= 0).
  void RecordPrediction(int predicted_class);
  void RecordOutcome(bool correct);
  void BeginRequest() { m_in_flight.fetch_add(1, std::memory_order_relaxed); }
  void EndRequest() { m_in_flight.fetch_sub(1, std::memory_order_relaxed); }

  int64_t InFlight() const { return m_in_flight.load(std::memory_order_relaxed); }
  // Cumulative totals since construction.
  VersionTotals Snapshot() const;
  // Largest latency since the previous call, then resets it.
  uint64_t TakeMaxNanos();

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> ok{0};
    std::atomic<uint64_t> server_errors{0};
    std::atomic<uint64_t> client_errors{0};
    std::atomic<uint64_t> rate_limited{0};
    std::atomic<uint64_t> spilled{0};
    std::atomic<uint64_t> breaker_diverted{0};
    std::atomic<uint64_t> max_ns{0};
    std::atomic<uint64_t> outcomes{0};
    std::atomic<uint64_t> incorrect{0};
    std::array<std::atomic<uint64_t>, kPredictionClasses> predictions{};
    std::array<std::atomic<uint64_t>, LatencySketch::kBucketCount> buckets{};
  };
  Shard& LocalShard();

  std::unique_ptr<Shard[]> m_shards;
  alignas(64) std::atomic<int64_t> m_in_flight{0};
};

}  // namespace greylane
