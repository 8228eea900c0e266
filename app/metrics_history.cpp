#include "app/metrics_history.h"

#include <algorithm>

namespace greylane {

void MetricsHistory::Add(const v1::MetricsFrame& frame) {
  if (frame.window_end_unix_ms() <= m_newest) return;
  m_newest = frame.window_end_unix_ms();
  for (const auto& v : frame.versions()) {
    MetricsPoint p;
    p.end_unix_ms = frame.window_end_unix_ms();
    p.requests = v.requests();
    p.server_errors = v.server_errors();
    p.client_errors = v.client_errors();
    p.p50_ms = v.latency_p50_ms();
    p.p99_ms = v.latency_p99_ms();
    p.zero_count = v.latency().zero_count();
    const int n = std::min(v.latency().bucket_index_size(), v.latency().bucket_count_size());
    p.buckets.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const uint64_t count = std::min<uint64_t>(v.latency().bucket_count(i), UINT32_MAX);
      p.buckets.push_back(uint64_t{v.latency().bucket_index(i)} << 32 | count);
    }
    auto& series = m_series[v.version()];
    series.push_back(std::move(p));
    while (series.size() > m_capacity) series.pop_front();
  }
}

const std::deque<MetricsPoint>& MetricsHistory::Points(const std::string& version) const {
  static const std::deque<MetricsPoint> kEmpty;
  const auto it = m_series.find(version);
  return it == m_series.end() ? kEmpty : it->second;
}

WindowSummary MetricsHistory::Summarize(const std::string& version, int seconds) const {
  WindowSummary s;
  const auto& points = Points(version);
  if (points.empty() || seconds <= 0) return s;
  const int64_t from = m_newest - int64_t{seconds} * 1000;
  LatencySketch merged;
  uint64_t server_errors = 0;
  for (auto it = points.rbegin(); it != points.rend() && it->end_unix_ms > from; ++it) {
    s.requests += it->requests;
    server_errors += it->server_errors;
    merged.AddBucket(0, it->zero_count);
    for (const uint64_t bucket : it->buckets) {
      merged.AddBucket(static_cast<int>(bucket >> 32), bucket & UINT32_MAX);
    }
  }
  s.seconds = seconds;
  s.requests_per_second = static_cast<double>(s.requests) / seconds;
  s.server_error_rate = s.requests ? static_cast<double>(server_errors) / s.requests : 0.0;
  s.successes = merged.Count();
  s.p50_ms = merged.QuantileMillis(0.5);
  s.p99_ms = merged.QuantileMillis(0.99);
  return s;
}

}  // namespace greylane
