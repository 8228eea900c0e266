#include "agent/server/outcome_ledger.h"

#include <algorithm>
#include <functional>

namespace greylane {

OutcomeLedger::OutcomeLedger(size_t capacity) : m_capacity(std::max<size_t>(capacity, kShards)) {}

uint64_t OutcomeLedger::KeyOf(std::string_view request_id) {
  // 64 bits: ids that collide are as likely as a cosmic ray; the low bits
  // pick the shard, so they are mixed once more.
  uint64_t h = std::hash<std::string_view>{}(request_id);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

void OutcomeLedger::Remember(std::string_view request_id, const ServedRequest& served) {
  const uint64_t key = KeyOf(request_id);
  Shard& shard = ShardOf(key);
  const size_t per_shard = m_capacity / kShards;
  absl::MutexLock lock(&shard.mutex);
  const auto [it, inserted] = shard.entries.insert_or_assign(key, Entry{served, false});
  if (!inserted) return;  // already in the ring
  if (shard.order.size() < per_shard) {
    shard.order.push_back(key);
    return;
  }
  shard.entries.erase(shard.order[shard.next]);
  shard.order[shard.next] = key;
  shard.next = (shard.next + 1) % per_shard;
}

OutcomeClaim OutcomeLedger::Claim(std::string_view request_id, int label, ServedRequest* out) {
  const uint64_t key = KeyOf(request_id);
  Shard& shard = ShardOf(key);
  absl::MutexLock lock(&shard.mutex);
  const auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return OutcomeClaim::kUnknown;
  *out = it->second.served;
  if (it->second.recorded) return OutcomeClaim::kAlreadyRecorded;
  if (label >= 0 && it->second.served.predicted < 0) return OutcomeClaim::kNoPrediction;
  if (label >= it->second.served.classes && label >= 0) return OutcomeClaim::kLabelNotAClass;
  it->second.recorded = true;
  return OutcomeClaim::kClaimed;
}

}  // namespace greylane
