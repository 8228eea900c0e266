#pragma once
// The two slots an agent serves, with their backends, counters, health and
// the split between them.
//
// There are two slots (indexes 0 and 1); which one plays the baseline is a bit in
// the split word (a promotion flips it), so a request resolves its slot and
// its role from one atomic read. A slot's version is published through an
// atomic pointer, read wait-free per request; a replaced version is kept
// alive until the pair is destroyed (replacements are rare admin actions).
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/backends/backend.h"
#include "agent/backends/version_spec.h"
#include "agent/metrics/version_recorder.h"
#include "agent/routing/circuit_breaker.h"
#include "agent/routing/rate_limit.h"
#include "agent/routing/router.h"
#include "agent/routing/traffic_split.h"
#include "agent/server/fault_drill.h"
#include "agent/server/supervised_process.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

// Index of one of the two slots (0 or 1): what a slot is, as against the
// role (baseline or candidate) it plays under the current split.
using SlotIndex = size_t;

struct SlotVersion {
  std::string version;
  std::shared_ptr<Backend> backend;
  VersionSpec spec;  // what built it, for persistence and display
  // The model server the agent runs for it (spec.command), else null.
  std::shared_ptr<SupervisedProcess> process;
};

struct SlotHealth {
  v1::Health health = v1::HEALTH_UNKNOWN;
  std::string detail;
  int64_t checked_unix_ms = 0;
};

v1::Slot ToProto(ReleaseRole slot);
const char* ReleaseRoleName(ReleaseRole slot);  // "baseline" | "candidate"

class CanaryPair {
 public:
  static constexpr SlotIndex kSlots = 2;
  static SlotIndex SlotOf(ReleaseRole role, const SplitValue& split) {
    return static_cast<SlotIndex>(role) ^ (split.roles_swapped ? 1u : 0u);
  }
  static ReleaseRole RoleOf(SlotIndex slot, const SplitValue& split) {
    return static_cast<ReleaseRole>(slot ^ (split.roles_swapped ? 1u : 0u));
  }

  CanaryPair(SlotVersion slot0, SlotVersion slot1, SplitValue initial_split);
  CanaryPair(const CanaryPair&) = delete;
  CanaryPair& operator=(const CanaryPair&) = delete;

  const SlotVersion& VersionAt(SlotIndex slot) const {
    return *m_current[slot].load(std::memory_order_acquire);
  }
  VersionRecorder& RecorderAt(SlotIndex slot) { return m_recorders[slot]; }
  // By role, under the split in force now.
  const SlotVersion& Version(ReleaseRole role) const {
    return VersionAt(SlotOf(role, m_split.Load()));
  }
  VersionRecorder& Recorder(ReleaseRole role) { return RecorderAt(SlotOf(role, m_split.Load())); }

  void InstallAt(SlotIndex slot, SlotVersion version);
  TrafficSplit& Split() { return m_split; }
  const TrafficSplit& Split() const { return m_split; }

  SlotHealth HealthAt(SlotIndex slot) const;
  SlotHealth Health(ReleaseRole role) const { return HealthAt(SlotOf(role, m_split.Load())); }
  // Records a probe result unless the slot's version was replaced meanwhile.
  void SetHealthAt(SlotIndex slot, const SlotVersion* probed, SlotHealth health);
  // Ready when every role that can receive traffic passed its last probe.
  bool Ready() const;
  // The slot's fault drill (InjectFault); installing a version stops it.
  FaultDrill& DrillAt(SlotIndex slot) { return m_drills[slot]; }
  const FaultDrill& DrillAt(SlotIndex slot) const { return m_drills[slot]; }
  // The slot's circuit breaker; installing a version resets it.
  CircuitBreaker& BreakerAt(SlotIndex slot) { return m_breakers[slot]; }
  const CircuitBreaker& BreakerAt(SlotIndex slot) const { return m_breakers[slot]; }
  // Rate limits belong to the role (the capacity the release plans for),
  // not to a version.
  RateLimit& LimitOf(ReleaseRole role) { return m_limits[static_cast<size_t>(role)]; }
  const RateLimit& LimitOf(ReleaseRole role) const { return m_limits[static_cast<size_t>(role)]; }

 private:
  std::array<std::atomic<const SlotVersion*>, kSlots> m_current{};
  std::array<VersionRecorder, kSlots> m_recorders;
  std::array<FaultDrill, kSlots> m_drills;
  std::array<CircuitBreaker, kSlots> m_breakers;
  std::array<RateLimit, kRoleCount> m_limits;
  TrafficSplit m_split;
  mutable absl::Mutex m_mutex;
  // Every version ever installed (requests in flight may still use one).
  std::vector<std::unique_ptr<SlotVersion>> m_versions ABSL_GUARDED_BY(m_mutex);
  std::array<SlotHealth, kSlots> m_health ABSL_GUARDED_BY(m_mutex);
};

}  // namespace greylane
