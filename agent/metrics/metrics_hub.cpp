#include "agent/metrics/metrics_hub.h"

#include <algorithm>
#include <array>

#include "agent/metrics/window_merge.h"

namespace greylane {

MetricsHub::MetricsHub(std::string agent_id, size_t ring_frames)
    : m_agent_id(std::move(agent_id)), m_ring_frames(std::max<size_t>(ring_frames, 1)) {}

FramePtr MetricsHub::Seal(int64_t window_end_unix_ms, uint64_t split_revision,
                          uint32_t candidate_basis_points, std::span<const WindowSource> sources,
                          const std::function<void(v1::MetricsFrame*)>& annotate) {
  auto frame = std::make_shared<v1::MetricsFrame>();
  frame->set_agent_id(m_agent_id);
  frame->set_window_end_unix_ms(window_end_unix_ms);
  frame->set_split_revision(split_revision);
  frame->set_candidate_basis_points(candidate_basis_points);

  // Snapshots are taken outside m_mutex so subscribers never wait on them.
  absl::MutexLock seal_lock(&m_seal_mutex);
  std::vector<VersionTotals> now;
  now.reserve(sources.size());
  for (const auto& source : sources) now.push_back(source.recorder->Snapshot());
  m_previous.resize(sources.size());

  for (size_t i = 0; i < sources.size(); ++i) {
    const VersionTotals& cur = now[i];
    const VersionTotals& prev = m_previous[i];
    const uint64_t ok = cur.ok - prev.ok;
    const uint64_t server_errors = cur.server_errors - prev.server_errors;
    const uint64_t client_errors = cur.client_errors - prev.client_errors;
    const LatencySketch window = LatencySketch::Difference(cur.latency, prev.latency);
    const double max_ms = static_cast<double>(sources[i].recorder->TakeMaxNanos()) / 1e6;

    auto* v = frame->add_versions();
    v->set_slot(sources[i].slot);
    v->set_version(sources[i].version);
    v->set_requests(ok + server_errors + client_errors);
    v->set_server_errors(server_errors);
    v->set_client_errors(client_errors);
    v->set_rate_limited(cur.rate_limited - prev.rate_limited);
    v->set_spilled(cur.spilled - prev.spilled);
    v->set_breaker_diverted(cur.breaker_diverted - prev.breaker_diverted);
    v->set_outcomes(cur.outcomes - prev.outcomes);
    v->set_incorrect(cur.incorrect - prev.incorrect);
    std::array<uint64_t, kPredictionClasses> predicted{};
    for (size_t c = 0; c < predicted.size(); ++c)
      predicted[c] = cur.predictions[c] - prev.predictions[c];
    SetPredictions(predicted, v);
    v->set_latency_p50_ms(window.QuantileMillis(0.50));
    v->set_latency_p90_ms(window.QuantileMillis(0.90));
    v->set_latency_p99_ms(window.QuantileMillis(0.99));
    v->set_latency_p999_ms(window.QuantileMillis(0.999));
    v->set_latency_max_ms(window.Count() == 0 ? 0.0 : max_ms);
    v->set_in_flight(sources[i].recorder->InFlight());
    window.ToProto(v->mutable_latency());
    ToGenerationWindow(GenerationDifference(cur.generation, prev.generation), true, v);
  }
  m_previous = std::move(now);
  if (annotate) annotate(frame.get());

  absl::MutexLock lock(&m_mutex);
  frame->set_sequence(++m_sequence);
  FramePtr sealed = std::move(frame);
  m_ring.push_back(sealed);
  while (m_ring.size() > m_ring_frames) m_ring.pop_front();
  for (FrameSink* sink : m_sinks) sink->OnFrame(sealed);
  return sealed;
}

void MetricsHub::Subscribe(FrameSink* sink, uint32_t backfill) {
  absl::MutexLock lock(&m_mutex);
  const size_t n = std::min<size_t>(backfill, m_ring.size());
  sink->OnBackfill({m_ring.end() - static_cast<std::ptrdiff_t>(n), m_ring.end()});
  if (m_closed) {
    sink->OnClosed();
    return;
  }
  m_sinks.push_back(sink);
}

void MetricsHub::CloseSinks() {
  absl::MutexLock lock(&m_mutex);
  m_closed = true;
  for (FrameSink* sink : m_sinks) sink->OnClosed();
}

void MetricsHub::Unsubscribe(FrameSink* sink) {
  absl::MutexLock lock(&m_mutex);
  std::erase(m_sinks, sink);
}

size_t MetricsHub::SubscriberCount() const {
  absl::MutexLock lock(&m_mutex);
  return m_sinks.size();
}

std::vector<FramePtr> MetricsHub::Recent(size_t count) const {
  absl::MutexLock lock(&m_mutex);
  const size_t n = std::min(count, m_ring.size());
  return {m_ring.end() - static_cast<std::ptrdiff_t>(n), m_ring.end()};
}

}  // namespace greylane
