#pragma once
// A mergeable latency sketch with bounded relative error, after the DDSketch
// idea (log-spaced buckets). Written here because no Debian library offers
// one; the agent, the load generator and the console all share this code so
// their percentiles agree exactly.
#include <cstdint>
#include <vector>

namespace greylane::v1 {
class LatencySketch;
}

namespace greylane {

class LatencySketch {
 public:
  // Every quantile is within this relative error of the true sample at that
  // rank. 0.75 % leaves headroom under the 1 % the contract promises.
  static constexpr double kRelativeAccuracy = 0.0075;
  // Index capacity: gamma^1600 microseconds is about 7 hours.
  static constexpr int kBucketCount = 1600;

  // Bucket of a value in microseconds; 0 is the bucket for values <= 1 us.
  static int BucketOf(double micros);
  // The value reported for a bucket: within kRelativeAccuracy of any value in it.
  static double BucketValue(int index);

  void Add(double micros, uint64_t n = 1);
  void AddBucket(int index, uint64_t n);
  void Merge(const LatencySketch& other);
  // later minus earlier, bucket by bucket; earlier must be a prefix of later
  // (as with two snapshots of cumulative counters).
  static LatencySketch Difference(const LatencySketch& later, const LatencySketch& earlier);
  void Clear();

  uint64_t Count() const { return m_count; }
  // q in [0, 1]; the sample of rank floor(q * (count - 1)). 0 when empty.
  double QuantileMicros(double q) const;
  double QuantileMillis(double q) const { return QuantileMicros(q) / 1000.0; }
  double MaxMicros() const;

  // Sparse wire form; FromProto rejects a sketch of a different accuracy.
  void ToProto(greylane::v1::LatencySketch* out) const;
  static bool FromProto(const greylane::v1::LatencySketch& in, LatencySketch* out);

  const std::vector<uint64_t>& Buckets() const { return m_buckets; }

 private:
  std::vector<uint64_t> m_buckets = std::vector<uint64_t>(kBucketCount, 0);
  uint64_t m_count = 0;
};

}  // namespace greylane
