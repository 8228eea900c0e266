#include "agent/metrics/version_recorder.h"

#include <algorithm>

namespace greylane {
namespace {
std::atomic<unsigned> g_next_shard{0};

enum GenerationCount : size_t {
  kAnswers,
  kStreams,
  kPromptTokens,
  kGenerationTokens,
  kFinishStop,
  kFinishLength,
  kFinishOther,
  kMissingDone,
  kMissingUsage,
  kTruncated,
  kUnexpectedFinish
};

void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}
}  // namespace

VersionRecorder::VersionRecorder()
    : m_shards(std::make_unique<Shard[]>(kShardCount)),
      m_generation(std::make_unique<GenerationShard[]>(kShardCount)) {}

unsigned VersionRecorder::ShardIndex() {
  // A thread keeps its shard for life; with more threads than shards two
  // share one, which stays correct because every update is an atomic add.
  thread_local const unsigned shard = g_next_shard.fetch_add(1, std::memory_order_relaxed);
  return shard % kShardCount;
}

VersionRecorder::Shard& VersionRecorder::LocalShard() {
  return m_shards[ShardIndex()];
}

void VersionRecorder::RecordGeneration(const GenerationRecord& r) {
  GenerationShard& g = m_generation[ShardIndex()];
  if (r.ttft_ns >= 0) {
    Bump(g.ttft[static_cast<size_t>(
        LatencySketch::BucketOf(static_cast<double>(r.ttft_ns) / 1000.0))]);
  }
  Bump(g.counts[kAnswers]);
  if (r.streamed) Bump(g.counts[kStreams]);
  Bump(g.counts[kPromptTokens], static_cast<uint64_t>(std::max<int64_t>(r.prompt_tokens, 0)));
  const uint64_t tokens = static_cast<uint64_t>(std::max<int64_t>(r.generation_tokens, 0));
  Bump(g.counts[kGenerationTokens], tokens);
  Bump(g.output_tokens[static_cast<size_t>(LatencySketch::BucketOf(static_cast<double>(tokens)))]);
  const std::string_view f = r.finish_reason;
  if (f == "stop") {
    Bump(g.counts[kFinishStop]);
  } else if (f == "length") {
    Bump(g.counts[kFinishLength]);
  } else if (!f.empty()) {
    Bump(g.counts[kFinishOther]);
    if (f != "tool_calls" && f != "function_call") Bump(g.counts[kUnexpectedFinish]);
  }
  if (r.missing_done) Bump(g.counts[kMissingDone]);
  if (r.missing_usage) Bump(g.counts[kMissingUsage]);
  if (r.truncated) Bump(g.counts[kTruncated]);
}

void VersionRecorder::RecordInterToken(int64_t gap_ns) {
  const double micros = static_cast<double>(std::max<int64_t>(gap_ns, 0)) / 1000.0;
  Bump(m_generation[ShardIndex()].itl[static_cast<size_t>(LatencySketch::BucketOf(micros))]);
}

void VersionRecorder::RecordOk(uint64_t latency_ns) {
  Shard& shard = LocalShard();
  const int bucket = LatencySketch::BucketOf(static_cast<double>(latency_ns) / 1000.0);
  shard.buckets[static_cast<size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  shard.ok.fetch_add(1, std::memory_order_relaxed);
  uint64_t seen = shard.max_ns.load(std::memory_order_relaxed);
  while (latency_ns > seen &&
         !shard.max_ns.compare_exchange_weak(seen, latency_ns, std::memory_order_relaxed)) {
  }
}

void VersionRecorder::RecordServerError() {
  LocalShard().server_errors.fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordClientError() {
  LocalShard().client_errors.fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordRateLimited() {
  LocalShard().rate_limited.fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordSpilled() {
  LocalShard().spilled.fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordBreakerDiverted() {
  LocalShard().breaker_diverted.fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordPrediction(int predicted_class) {
  const int index = std::clamp(predicted_class, 0, kPredictionClasses - 1);
  LocalShard().predictions[static_cast<size_t>(index)].fetch_add(1, std::memory_order_relaxed);
}

void VersionRecorder::RecordOutcome(bool correct) {
  Shard& shard = LocalShard();
  shard.outcomes.fetch_add(1, std::memory_order_relaxed);
  if (!correct) shard.incorrect.fetch_add(1, std::memory_order_relaxed);
}

VersionTotals VersionRecorder::Snapshot() const {
  VersionTotals totals;
  for (int s = 0; s < kShardCount; ++s) {
    const Shard& shard = m_shards[s];
    totals.ok += shard.ok.load(std::memory_order_relaxed);
    totals.server_errors += shard.server_errors.load(std::memory_order_relaxed);
    totals.client_errors += shard.client_errors.load(std::memory_order_relaxed);
    totals.rate_limited += shard.rate_limited.load(std::memory_order_relaxed);
    totals.spilled += shard.spilled.load(std::memory_order_relaxed);
    totals.breaker_diverted += shard.breaker_diverted.load(std::memory_order_relaxed);
    totals.outcomes += shard.outcomes.load(std::memory_order_relaxed);
    totals.incorrect += shard.incorrect.load(std::memory_order_relaxed);
    for (size_t c = 0; c < totals.predictions.size(); ++c)
      totals.predictions[c] += shard.predictions[c].load(std::memory_order_relaxed);
    for (int b = 0; b < LatencySketch::kBucketCount; ++b) {
      totals.latency.AddBucket(
          b, shard.buckets[static_cast<size_t>(b)].load(std::memory_order_relaxed));
    }
    const GenerationShard& g = m_generation[s];
    GenerationTotals& t = totals.generation;
    uint64_t* counts[] = {&t.answers,           &t.streams,          &t.prompt_tokens,
                          &t.generation_tokens, &t.finish_stop,      &t.finish_length,
                          &t.finish_other,      &t.missing_done,     &t.missing_usage,
                          &t.truncated,         &t.unexpected_finish};
    for (size_t c = 0; c < g.counts.size(); ++c)
      *counts[c] += g.counts[c].load(std::memory_order_relaxed);
    for (int b = 0; b < LatencySketch::kBucketCount; ++b) {
      const size_t i = static_cast<size_t>(b);
      t.ttft.AddBucket(b, g.ttft[i].load(std::memory_order_relaxed));
      t.itl.AddBucket(b, g.itl[i].load(std::memory_order_relaxed));
      t.output_tokens.AddBucket(b, g.output_tokens[i].load(std::memory_order_relaxed));
    }
  }
  return totals;
}

uint64_t VersionRecorder::TakeMaxNanos() {
  uint64_t max = 0;
  for (int s = 0; s < kShardCount; ++s) {
    max = std::max(max, m_shards[s].max_ns.exchange(0, std::memory_order_relaxed));
  }
  return max;
}

}  // namespace greylane
