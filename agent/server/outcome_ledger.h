#pragma once
// The most recent requests by id: which version answered each and what it
// predicted, so a caller's ground truth (RecordOutcome) counts for the
// version that answered even after the split has moved. Bounded: past
// `capacity` requests the oldest are forgotten. Sharded by the id's hash,
// so data-plane threads seldom meet on a lock. Written here: no Debian
// library has a bounded, sharded map with first-in-first-out eviction.
#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace greylane {

struct SlotVersion;

struct ServedRequest {
  const SlotVersion* version = nullptr;  // the pair keeps every version alive
  size_t slot = 0;
  int predicted = -1;  // the top class of a one-row answer; -1: none (a batch, no scores)
  int classes = 0;     // how many classes that answer scored
};

enum class OutcomeClaim {
  kClaimed,
  kUnknown,
  kAlreadyRecorded,
  kNoPrediction,    // a label was given, but the answer had no single top class
  kLabelNotAClass,  // the label is not one of the classes the answer scored
};

class OutcomeLedger {
 public:
  static constexpr size_t kDefaultCapacity = 262'144;
  explicit OutcomeLedger(size_t capacity = kDefaultCapacity);

  // A later request with the same id replaces the earlier one.
  void Remember(std::string_view request_id, const ServedRequest& served);
  // The request, marked so a second outcome for it is refused. With a
  // `label` (>= 0) to compare, a request without a predicted class, or
  // whose answer did not score that class, is left unmarked.
  OutcomeClaim Claim(std::string_view request_id, int label, ServedRequest* out);
  size_t Capacity() const { return m_capacity; }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    ServedRequest served;
    bool recorded = false;
  };
  struct Shard {
    absl::Mutex mutex;
    std::unordered_map<uint64_t, Entry> entries ABSL_GUARDED_BY(mutex);
    std::vector<uint64_t> order ABSL_GUARDED_BY(mutex);  // a ring, oldest at `next`
    size_t next ABSL_GUARDED_BY(mutex) = 0;
  };
  static uint64_t KeyOf(std::string_view request_id);
  Shard& ShardOf(uint64_t key) { return m_shards[key % kShards]; }

  const size_t m_capacity;
  std::array<Shard, kShards> m_shards;
};

}  // namespace greylane
