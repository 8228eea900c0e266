#pragma once
// Picks the role (baseline or candidate) that serves one request: an explicit pin wins; else a
// sticky key maps to a bucket in [0, 10000) and the candidate serves buckets below its share, so
// raising the share only ever adds users; else a random bucket.
#include <cstdint>
#include <string_view>

namespace greylane {

enum class ReleaseRole : uint8_t { kBaseline = 0, kCandidate = 1 };
inline constexpr int kRoleCount = 2;

enum class RouteBasis : uint8_t { kPinned, kSticky, kRandom };

struct RouteDecision {
  ReleaseRole role;
  RouteBasis basis;
};

class Router {
 public:
  // Stable across processes and versions: the same user keeps the same
  // bucket on every agent of a fleet.
  static uint32_t BucketOf(std::string_view sticky_key);

  static RouteDecision Route(std::string_view sticky_key, uint32_t candidate_basis_points);
  static RouteDecision Pinned(ReleaseRole role) { return {role, RouteBasis::kPinned}; }

 private:
  static uint32_t RandomBucket();
};

}  // namespace greylane
