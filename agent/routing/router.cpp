#include "agent/routing/router.h"

#include <random>

#include "agent/routing/traffic_split.h"

namespace greylane {
namespace {
// FNV-1a, then the splitmix64 finaliser so that keys differing only in
// their last characters (user-1, user-2, ...) spread over all buckets.
uint64_t HashKey(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}
}  // namespace

uint32_t Router::BucketOf(std::string_view sticky_key) {
  return static_cast<uint32_t>(HashKey(sticky_key) % kMaxBasisPoints);
}

uint32_t Router::RandomBucket() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return static_cast<uint32_t>(rng() % kMaxBasisPoints);
}

RouteDecision Router::Route(std::string_view sticky_key, uint32_t candidate_basis_points) {
  const bool sticky = !sticky_key.empty();
  const uint32_t bucket = sticky ? BucketOf(sticky_key) : RandomBucket();
  return {bucket < candidate_basis_points ? ReleaseRole::kCandidate : ReleaseRole::kBaseline,
          sticky ? RouteBasis::kSticky : RouteBasis::kRandom};
}

}  // namespace greylane
