#pragma once
// What the console remembers of one agent's metrics: a bounded ring of
// one-second points per version, and exact summaries over any recent window
// (latency percentiles merged from the frames' sketches, never averaged).
#include <QString>

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "common/latency_sketch.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct MetricsPoint {
  int64_t end_unix_ms = 0;
  uint64_t requests = 0;
  uint64_t server_errors = 0;
  uint64_t client_errors = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  // The sparse sketch, one word per bucket (the zero bucket included):
  // index << 32 | count (a count per bucket per second never nears 2^32).
  // Half the memory of pairs, and sized exactly: 8 agents x 2 versions x
  // 1024 s stay small.
  std::vector<uint64_t> buckets;
  // Generative answers (the OpenAI API), absent for a tensor model: the
  // same sparse form for the time to first token, between tokens, and the
  // output tokens per answer.
  bool generative = false;
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  uint64_t generation_tokens = 0;
  uint64_t integrity_problems = 0;  // missing [DONE] or usage, truncated, odd finish
  std::vector<uint64_t> ttft_buckets, itl_buckets, output_buckets;
};

// What the chart of times plots.
enum class ChartedTime { kRequest, kFirstToken, kBetweenTokens };

struct WindowSummary {
  double seconds = 0;
  double requests_per_second = 0;
  double server_error_rate = 0;  // of requests
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;
  uint64_t successes = 0;  // requests with a latency: the sketch's count
  // Generative answers in the window (all zero for a tensor model).
  bool generative = false;
  uint64_t streams = 0;  // with a first token
  double ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  double tokens_per_second = 0;
  uint64_t integrity_problems = 0;
  LatencySketch output_tokens;  // per answer, for the divergence between versions
};

class MetricsHistory {
 public:
  static constexpr size_t kDefaultCapacity = 1024;  // 17 minutes of seconds
  explicit MetricsHistory(size_t capacity = kDefaultCapacity) : m_capacity(capacity) {}

  // Adds a frame's windows; a frame older than the newest one kept is
  // ignored (a replayed backfill after a reconnect).
  void Add(const v1::MetricsFrame& frame);
  // Points of one version (by version name), oldest first.
  const std::deque<MetricsPoint>& Points(const std::string& version) const;
  // Exact summary of the last `seconds` points of a version, ending at the
  // newest frame.
  WindowSummary Summarize(const std::string& version, int seconds) const;
  int64_t NewestUnixMs() const { return m_newest; }
  // True once any version answered generatively (the charts offer TTFT/ITL).
  bool Generative() const { return m_generative; }
  size_t Capacity() const { return m_capacity; }

 private:
  size_t m_capacity;
  std::map<std::string, std::deque<MetricsPoint>> m_series;
  int64_t m_newest = 0;
  bool m_generative = false;
};

// Kolmogorov-Smirnov distance (0..1) between two sketches' distributions:
// the largest gap between their cumulative shares; 0 when either is empty.
double DistributionDistance(const LatencySketch& a, const LatencySketch& b);

}  // namespace greylane
