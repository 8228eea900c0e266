#pragma once
// The candidate's share, which slot plays the baseline, and the
// revision, packed into one atomic word: a change (a promotion swaps the
// roles and the share together) is visible, whole, to the very next request,
// and two writers cannot both win against the same revision.
#include <atomic>
#include <cstdint>
#include <optional>

namespace greylane {

inline constexpr uint32_t kMaxBasisPoints = 10000;

struct SplitValue {
  uint32_t candidate_basis_points = 0;
  uint64_t revision = 0;
  // false: slot 0 is the baseline; true: slot 1 is (after a promotion).
  bool roles_swapped = false;
  friend bool operator==(const SplitValue&, const SplitValue&) = default;
};

class TrafficSplit {
 public:
  explicit TrafficSplit(SplitValue initial = {}) : m_packed(Pack(initial)) {}

  SplitValue Load() const { return Unpack(m_packed.load(std::memory_order_acquire)); }

  // Sets the share if the revision is still `expected_revision`; the new
  // revision is expected + 1. Returns the value in force afterwards and
  // whether this call changed it.
  std::pair<SplitValue, bool> CompareAndSet(uint64_t expected_revision,
                                            uint32_t candidate_basis_points);
  // Unconditional set: revision + 1, roles unchanged.
  SplitValue Force(uint32_t candidate_basis_points);
  // Installs a whole value (the release controller, which serialises writers).
  void Publish(SplitValue value) { m_packed.store(Pack(value), std::memory_order_release); }

 private:
  static uint64_t Pack(SplitValue v) {
    return (v.revision << 15) | (uint64_t{v.roles_swapped} << 14) | v.candidate_basis_points;
  }
  static SplitValue Unpack(uint64_t p) {
    return {static_cast<uint32_t>(p & 0x3fff), p >> 15, ((p >> 14) & 1) != 0};
  }
  std::atomic<uint64_t> m_packed;
};

}  // namespace greylane
