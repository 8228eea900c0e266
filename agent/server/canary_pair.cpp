#include "agent/server/canary_pair.h"

#include "common/text.h"

namespace greylane {

v1::Slot ToProto(ReleaseRole slot) {
  return slot == ReleaseRole::kBaseline ? v1::BASELINE : v1::CANDIDATE;
}

const char* ReleaseRoleName(ReleaseRole slot) {
  return slot == ReleaseRole::kBaseline ? "baseline" : "candidate";
}

CanaryPair::CanaryPair(SlotVersion slot0, SlotVersion slot1, SplitValue initial_split)
    : m_split(initial_split) {
  InstallAt(0, std::move(slot0));
  InstallAt(1, std::move(slot1));
}

void CanaryPair::InstallAt(SlotIndex slot, SlotVersion version) {
  absl::MutexLock lock(&m_mutex);
  m_versions.push_back(std::make_unique<SlotVersion>(std::move(version)));
  m_current[slot].store(m_versions.back().get(), std::memory_order_release);
  m_health[slot] = {};
  m_drills[slot].Stop();  // a drill is for the version it was started on
  m_breakers[slot].Reset();
}

SlotHealth CanaryPair::HealthAt(SlotIndex slot) const {
  absl::MutexLock lock(&m_mutex);
  return m_health[slot];
}

void CanaryPair::SetHealthAt(SlotIndex slot, const SlotVersion* probed, SlotHealth health) {
  absl::MutexLock lock(&m_mutex);
  if (m_current[slot].load(std::memory_order_acquire) != probed) return;
  // Probe errors can quote an upstream's words: bounded, valid UTF-8.
  health.detail = ClampText(health.detail, 512);
  m_health[slot] = std::move(health);
}

bool CanaryPair::Ready() const {
  const SplitValue split = m_split.Load();
  absl::MutexLock lock(&m_mutex);
  const bool baseline_ok = m_health[SlotOf(ReleaseRole::kBaseline, split)].health == v1::HEALTHY;
  const bool candidate_ok = m_health[SlotOf(ReleaseRole::kCandidate, split)].health == v1::HEALTHY;
  if (split.candidate_basis_points == 0) return baseline_ok;
  if (split.candidate_basis_points == kMaxBasisPoints) return candidate_ok;
  return baseline_ok && candidate_ok;
}

}  // namespace greylane
