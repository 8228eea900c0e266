#include "agent/routing/traffic_split.h"

namespace greylane {

std::pair<SplitValue, bool> TrafficSplit::CompareAndSet(uint64_t expected_revision,
                                                        uint32_t candidate_basis_points) {
  uint64_t current = m_packed.load(std::memory_order_acquire);
  for (;;) {
    const SplitValue cur = Unpack(current);
    if (cur.revision != expected_revision) return {cur, false};
    const SplitValue next{candidate_basis_points, cur.revision + 1, cur.roles_swapped};
    if (m_packed.compare_exchange_weak(current, Pack(next), std::memory_order_acq_rel)) {
      return {next, true};
    }
  }
}

SplitValue TrafficSplit::Force(uint32_t candidate_basis_points) {
  uint64_t current = m_packed.load(std::memory_order_acquire);
  for (;;) {
    const SplitValue cur = Unpack(current);
    const SplitValue next{candidate_basis_points, cur.revision + 1, cur.roles_swapped};
    if (m_packed.compare_exchange_weak(current, Pack(next), std::memory_order_acq_rel)) {
      return next;
    }
  }
}

}  // namespace greylane
