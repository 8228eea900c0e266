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
#include <string_view>

#include "common/latency_sketch.h"

namespace greylane {

// Predicted classes counted apart; the last counts every class from it up.
inline constexpr int kPredictionClasses = 32;

// What generative answers (the OpenAI API) add: times between tokens,
// token counts and how streams ended.
struct GenerationTotals {
  uint64_t answers = 0;  // successful generative answers (streamed or not)
  uint64_t streams = 0;  // of them, streamed
  uint64_t prompt_tokens = 0;
  uint64_t generation_tokens = 0;
  uint64_t finish_stop = 0;
  uint64_t finish_length = 0;
  uint64_t finish_other = 0;  // tool_calls, content_filter, anything else
  // Stream integrity: streams that ended without "data: [DONE]", without
  // the usage chunk they asked for, cut before their finish reason, or with a
  // finish reason outside stop/length/tool_calls.
  uint64_t missing_done = 0;
  uint64_t missing_usage = 0;
  uint64_t truncated = 0;
  uint64_t unexpected_finish = 0;
  LatencySketch ttft;           // time to first token
  LatencySketch itl;            // between consecutive tokens
  LatencySketch output_tokens;  // tokens per answer (a "microsecond" is one token)
};

// One finished generative answer, as the data plane measured it.
struct GenerationRecord {
  bool streamed = false;
  int64_t ttft_ns = -1;  // -1: no token came
  int64_t prompt_tokens = 0;
  int64_t generation_tokens = 0;
  std::string_view finish_reason;
  bool missing_done = false;
  bool missing_usage = false;
  bool truncated = false;
};

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
  GenerationTotals generation;
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
  // A generative answer that ended (after RecordOk or RecordServerError),
  // and each gap between two of its tokens as it streamed.
  void RecordGeneration(const GenerationRecord& record);
  void RecordInterToken(int64_t gap_ns);
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
  struct alignas(64) GenerationShard {
    std::array<std::atomic<uint64_t>, 11> counts{};  // GenerationTotals' counters, in order
    std::array<std::atomic<uint64_t>, LatencySketch::kBucketCount> ttft{};
    std::array<std::atomic<uint64_t>, LatencySketch::kBucketCount> itl{};
    std::array<std::atomic<uint64_t>, LatencySketch::kBucketCount> output_tokens{};
  };
  Shard& LocalShard();
  static unsigned ShardIndex();

  std::unique_ptr<Shard[]> m_shards;
  // Apart, so the tensor plane's shards stay small in cache.
  std::unique_ptr<GenerationShard[]> m_generation;
  alignas(64) std::atomic<int64_t> m_in_flight{0};
};

}  // namespace greylane
