#include "agent/metrics/step_ledger.h"

#include <cmath>

namespace greylane {
namespace {
uint64_t QuantileMicros(const LatencySketch& sketch, double q) {
  return sketch.Count() ? static_cast<uint64_t>(std::llround(sketch.QuantileMicros(q))) : 0;
}
}  // namespace

StepLedger::StepLedger(int64_t started_unix_ms) : m_started(started_unix_ms) {}

void StepLedger::Add(const v1::MetricsFrame& frame) {
  absl::MutexLock lock(&m_mutex);
  MergeFrame(&m_current, frame);
  if (m_peeked) MergeFrame(&m_since_peek, frame);
}

AuditStep StepLedger::Peek(int64_t now_unix_ms, uint32_t candidate_basis_points) {
  absl::MutexLock lock(&m_mutex);
  m_peeked = true;
  m_peeked_end = now_unix_ms;
  m_since_peek.clear();
  AuditStep step{m_started, now_unix_ms, candidate_basis_points, {}};
  // One entry per slot: a version that served only a second or two of the
  // step (a change racing the ticker) yields to the one that served it.
  for (const v1::Slot slot : {v1::BASELINE, v1::CANDIDATE}) {
    const MergedWindow* best = nullptr;
    for (const MergedWindow& f : m_current) {
      if (f.slot == slot && (!best || f.requests > best->requests)) best = &f;
    }
    if (!best) continue;
    step.versions.push_back(
        {slot == v1::CANDIDATE ? "candidate" : "baseline", best->version, best->requests,
         best->server_errors, best->client_errors, QuantileMicros(best->latency, 0.50),
         QuantileMicros(best->latency, 0.90), QuantileMicros(best->latency, 0.99)});
  }
  return step;
}

void StepLedger::Commit() {
  absl::MutexLock lock(&m_mutex);
  if (!m_peeked) return;
  m_current = std::move(m_since_peek);
  m_since_peek.clear();
  m_started = m_peeked_end;
  m_peeked = false;
}

void StepLedger::Abandon() {
  absl::MutexLock lock(&m_mutex);
  m_peeked = false;
  m_since_peek.clear();
}

}  // namespace greylane
