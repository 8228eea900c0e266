#pragma once
// The two slots an agent serves — baseline and candidate — with their
// backends, counters, health and the split between them.
//
// A slot's version is published through an atomic pointer so that the data
// plane reads it wait-free per request; a replaced version is kept alive
// until the pair is destroyed (replacements are rare, admin-driven events).
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
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct SlotVersion {
  std::string version;
  std::shared_ptr<Backend> backend;
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
  CanaryPair(SlotVersion baseline, SlotVersion candidate, SplitValue initial_split);
  CanaryPair(const CanaryPair&) = delete;
  CanaryPair& operator=(const CanaryPair&) = delete;

  const SlotVersion& Version(SlotId slot) const {
    return *m_current[Index(slot)].load(std::memory_order_acquire);
  }
  void Install(SlotId slot, SlotVersion version);

  VersionRecorder& Recorder(SlotId slot) { return m_recorders[Index(slot)]; }
  TrafficSplit& Split() { return m_split; }
  const TrafficSplit& Split() const { return m_split; }

  SlotHealth Health(SlotId slot) const;
  void SetHealth(SlotId slot, SlotHealth health);
  // Ready when every slot that can receive traffic passed its last probe.
  bool Ready() const;

 private:
  static size_t Index(SlotId slot) { return static_cast<size_t>(slot); }

  std::array<std::atomic<const SlotVersion*>, kSlotCount> m_current{};
  std::array<VersionRecorder, kSlotCount> m_recorders;
  TrafficSplit m_split;
  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<SlotVersion>> m_versions;  // every version ever installed
  std::array<SlotHealth, kSlotCount> m_health;
};

}  // namespace greylane
