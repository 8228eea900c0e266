#pragma once
// The two slots an agent serves, with their backends, counters, health and
// the split between them.
//
// There are two physical slots; which one plays the baseline is a bit in
// the split word (a promotion flips it), so a request resolves its slot and
// its role from one atomic read. A slot's version is published through an
// atomic pointer, read wait-free per request; a replaced version is kept
// alive until the pair is destroyed (replacements are rare admin actions).
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/backends/backend.h"
#include "agent/metrics/version_recorder.h"
#include "agent/routing/router.h"
#include "agent/routing/traffic_split.h"
#include "agent/server/agent_config.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct SlotVersion {
  std::string version;
  std::shared_ptr<Backend> backend;
  SlotConfig spec;  // what built it, for persistence and display
};

struct SlotHealth {
  v1::Health health = v1::HEALTH_UNKNOWN;
  std::string detail;
  int64_t checked_unix_ms = 0;
};

v1::Slot ToProto(SlotId slot);
const char* SlotName(SlotId slot);  // "baseline" | "candidate"

class CanaryPair {
 public:
  static constexpr size_t kPhysicalSlots = 2;
  static size_t Physical(SlotId role, const SplitValue& split) {
    return static_cast<size_t>(role) ^ (split.roles_swapped ? 1u : 0u);
  }
  static SlotId RoleOf(size_t physical, const SplitValue& split) {
    return static_cast<SlotId>(physical ^ (split.roles_swapped ? 1u : 0u));
  }

  CanaryPair(SlotVersion slot0, SlotVersion slot1, SplitValue initial_split);
  CanaryPair(const CanaryPair&) = delete;
  CanaryPair& operator=(const CanaryPair&) = delete;

  const SlotVersion& VersionAt(size_t physical) const {
    return *m_current[physical].load(std::memory_order_acquire);
  }
  VersionRecorder& RecorderAt(size_t physical) { return m_recorders[physical]; }
  // By role, under the split in force now.
  const SlotVersion& Version(SlotId role) const {
    return VersionAt(Physical(role, m_split.Load()));
  }
  VersionRecorder& Recorder(SlotId role) { return RecorderAt(Physical(role, m_split.Load())); }

  void InstallAt(size_t physical, SlotVersion version);
  TrafficSplit& Split() { return m_split; }
  const TrafficSplit& Split() const { return m_split; }

  SlotHealth HealthAt(size_t physical) const;
  SlotHealth Health(SlotId role) const { return HealthAt(Physical(role, m_split.Load())); }
  // Records a probe result unless the slot's version was replaced meanwhile.
  void SetHealthAt(size_t physical, const SlotVersion* probed, SlotHealth health);
  // Ready when every role that can receive traffic passed its last probe.
  bool Ready() const;

 private:
  std::array<std::atomic<const SlotVersion*>, kPhysicalSlots> m_current{};
  std::array<VersionRecorder, kPhysicalSlots> m_recorders;
  TrafficSplit m_split;
  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<SlotVersion>> m_versions;  // every version ever installed
  std::array<SlotHealth, kPhysicalSlots> m_health;
};

}  // namespace greylane
