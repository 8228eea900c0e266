#include "agent/server/canary_pair.h"

namespace greylane {

v1::Slot ToProto(SlotId slot) {
  return slot == SlotId::kBaseline ? v1::BASELINE : v1::CANDIDATE;
}

const char* SlotName(SlotId slot) {
  return slot == SlotId::kBaseline ? "baseline" : "candidate";
}

CanaryPair::CanaryPair(SlotVersion baseline, SlotVersion candidate, SplitValue initial_split)
    : m_split(initial_split) {
  Install(SlotId::kBaseline, std::move(baseline));
  Install(SlotId::kCandidate, std::move(candidate));
}

void CanaryPair::Install(SlotId slot, SlotVersion version) {
  std::lock_guard lock(m_mutex);
  m_versions.push_back(std::make_unique<SlotVersion>(std::move(version)));
  m_current[Index(slot)].store(m_versions.back().get(), std::memory_order_release);
  m_health[Index(slot)] = {};
}

SlotHealth CanaryPair::Health(SlotId slot) const {
  std::lock_guard lock(m_mutex);
  return m_health[Index(slot)];
}

void CanaryPair::SetHealth(SlotId slot, SlotHealth health) {
  std::lock_guard lock(m_mutex);
  m_health[Index(slot)] = std::move(health);
}

bool CanaryPair::Ready() const {
  const uint32_t candidate_bp = m_split.Load().candidate_basis_points;
  std::lock_guard lock(m_mutex);
  const bool baseline_ok = m_health[Index(SlotId::kBaseline)].health == v1::HEALTHY;
  const bool candidate_ok = m_health[Index(SlotId::kCandidate)].health == v1::HEALTHY;
  if (candidate_bp == 0) return baseline_ok;
  if (candidate_bp == kMaxBasisPoints) return candidate_ok;
  return baseline_ok && candidate_ok;
}

}  // namespace greylane
