#include "agent/server/canary_pair.h"

namespace greylane {

v1::Slot ToProto(SlotId slot) {
  return slot == SlotId::kBaseline ? v1::BASELINE : v1::CANDIDATE;
}

const char* SlotName(SlotId slot) {
  return slot == SlotId::kBaseline ? "baseline" : "candidate";
}

CanaryPair::CanaryPair(SlotVersion slot0, SlotVersion slot1, SplitValue initial_split)
    : m_split(initial_split) {
  InstallAt(0, std::move(slot0));
  InstallAt(1, std::move(slot1));
}

void CanaryPair::InstallAt(size_t physical, SlotVersion version) {
  std::lock_guard lock(m_mutex);
  m_versions.push_back(std::make_unique<SlotVersion>(std::move(version)));
  m_current[physical].store(m_versions.back().get(), std::memory_order_release);
  m_health[physical] = {};
}

SlotHealth CanaryPair::HealthAt(size_t physical) const {
  std::lock_guard lock(m_mutex);
  return m_health[physical];
}

void CanaryPair::SetHealthAt(size_t physical, const SlotVersion* probed, SlotHealth health) {
  std::lock_guard lock(m_mutex);
  if (m_current[physical].load(std::memory_order_acquire) != probed) return;
  m_health[physical] = std::move(health);
}

bool CanaryPair::Ready() const {
  const SplitValue split = m_split.Load();
  std::lock_guard lock(m_mutex);
  const bool baseline_ok = m_health[Physical(SlotId::kBaseline, split)].health == v1::HEALTHY;
  const bool candidate_ok = m_health[Physical(SlotId::kCandidate, split)].health == v1::HEALTHY;
  if (split.candidate_basis_points == 0) return baseline_ok;
  if (split.candidate_basis_points == kMaxBasisPoints) return candidate_ok;
  return baseline_ok && candidate_ok;
}

}  // namespace greylane
