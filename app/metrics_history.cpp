#include "app/metrics_history.h"

#include <algorithm>
#include <cmath>

namespace greylane {
namespace {

// index << 32 | count per bucket, the zero bucket included.
std::vector<uint64_t> Sparse(const v1::LatencySketch& sketch) {
  std::vector<uint64_t> out;
  const int n = std::min(sketch.bucket_index_size(), sketch.bucket_count_size());
  out.reserve(static_cast<size_t>(n) + 1);
  if (sketch.zero_count() > 0) out.push_back(std::min<uint64_t>(sketch.zero_count(), UINT32_MAX));
  for (int i = 0; i < n; ++i) {
    const uint64_t count = std::min<uint64_t>(sketch.bucket_count(i), UINT32_MAX);
    out.push_back(uint64_t{sketch.bucket_index(i)} << 32 | count);
  }
  return out;
}

void AddSparse(const std::vector<uint64_t>& sparse, LatencySketch* into) {
  for (const uint64_t bucket : sparse)
    into->AddBucket(static_cast<int>(bucket >> 32), bucket & UINT32_MAX);
}

}  // namespace

double DistributionDistance(const LatencySketch& a, const LatencySketch& b) {
  if (a.Count() == 0 || b.Count() == 0) return 0;
  double ca = 0, cb = 0, worst = 0;
  const auto& x = a.Buckets();
  const auto& y = b.Buckets();
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    ca += static_cast<double>(x[i]) / static_cast<double>(a.Count());
    cb += static_cast<double>(y[i]) / static_cast<double>(b.Count());
    worst = std::max(worst, std::abs(ca - cb));
  }
  return std::min(worst, 1.0);
}

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
    p.buckets = Sparse(v.latency());
    if (v.has_generation()) {
      const v1::GenerationWindow& g = v.generation();
      p.generative = true;
      m_generative = true;
      p.ttft_p50_ms = g.ttft_p50_ms();
      p.ttft_p99_ms = g.ttft_p99_ms();
      p.itl_p50_ms = g.itl_p50_ms();
      p.itl_p99_ms = g.itl_p99_ms();
      p.generation_tokens = g.generation_tokens();
      p.integrity_problems =
          g.missing_done() + g.missing_usage() + g.truncated() + g.unexpected_finish();
      p.ttft_buckets = Sparse(g.ttft());
      p.itl_buckets = Sparse(g.itl());
      p.output_buckets = Sparse(g.output_tokens());
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
  LatencySketch merged, ttft, itl;
  uint64_t server_errors = 0, tokens = 0;
  for (auto it = points.rbegin(); it != points.rend() && it->end_unix_ms > from; ++it) {
    if (it->generative) {
      s.generative = true;
      AddSparse(it->ttft_buckets, &ttft);
      AddSparse(it->itl_buckets, &itl);
      AddSparse(it->output_buckets, &s.output_tokens);
      tokens += it->generation_tokens;
      s.integrity_problems += it->integrity_problems;
    }
    s.requests += it->requests;
    server_errors += it->server_errors;
    AddSparse(it->buckets, &merged);
  }
  s.seconds = seconds;
  s.requests_per_second = static_cast<double>(s.requests) / seconds;
  s.server_error_rate = s.requests ? static_cast<double>(server_errors) / s.requests : 0.0;
  s.successes = merged.Count();
  s.p50_ms = merged.QuantileMillis(0.5);
  s.p99_ms = merged.QuantileMillis(0.99);
  s.streams = ttft.Count();
  s.ttft_p50_ms = ttft.QuantileMillis(0.5);
  s.ttft_p99_ms = ttft.QuantileMillis(0.99);
  s.itl_p50_ms = itl.QuantileMillis(0.5);
  s.itl_p99_ms = itl.QuantileMillis(0.99);
  s.tokens_per_second = static_cast<double>(tokens) / seconds;
  return s;
}

}  // namespace greylane
