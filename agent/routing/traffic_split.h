#pragma once
// The candidate's share and its revision packed into one atomic word, so a
// change is visible, whole, to the very next request and two writers cannot
// both win against the same revision.
#include <atomic>
#include <cstdint>
#include <optional>

namespace greylane {

inline constexpr uint32_t kMaxBasisPoints = 10000;

struct SplitValue {
  uint32_t candidate_basis_points = 0;
  uint64_t revision = 0;
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
  // Unconditional set (restore at start-up, rollback): revision + 1.
  SplitValue Force(uint32_t candidate_basis_points);

 private:
  static uint64_t Pack(SplitValue v) { return (v.revision << 16) | v.candidate_basis_points; }
  static SplitValue Unpack(uint64_t p) { return {static_cast<uint32_t>(p & 0xffff), p >> 16}; }
  std::atomic<uint64_t> m_packed;
};

}  // namespace greylane
