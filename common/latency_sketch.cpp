#include "common/latency_sketch.h"

#include <algorithm>
#include <cmath>

#include "greylane/v1/agent.pb.h"

namespace greylane {
namespace {
const double kGamma =
    (1.0 + LatencySketch::kRelativeAccuracy) / (1.0 - LatencySketch::kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);
}  // namespace

int LatencySketch::BucketOf(double micros) {
  if (!(micros > 1.0)) return 0;  // also catches NaN
  const double index = std::ceil(std::log(micros) / kLogGamma);
  return static_cast<int>(std::min(index, static_cast<double>(kBucketCount - 1)));
}

double LatencySketch::BucketValue(int index) {
  if (index <= 0) return 1.0;
  return 2.0 * std::pow(kGamma, index) / (kGamma + 1.0);
}

void LatencySketch::Add(double micros, uint64_t n) {
  AddBucket(BucketOf(micros), n);
}

void LatencySketch::AddBucket(int index, uint64_t n) {
  if (index < 0 || index >= kBucketCount || n == 0) return;
  m_buckets[static_cast<size_t>(index)] += n;
  m_count += n;
}

void LatencySketch::Merge(const LatencySketch& other) {
  for (size_t i = 0; i < m_buckets.size(); ++i) m_buckets[i] += other.m_buckets[i];
  m_count += other.m_count;
}

LatencySketch LatencySketch::Difference(const LatencySketch& later, const LatencySketch& earlier) {
  LatencySketch diff;
  for (size_t i = 0; i < diff.m_buckets.size(); ++i) {
    const uint64_t a = later.m_buckets[i];
    const uint64_t b = earlier.m_buckets[i];
    diff.m_buckets[i] = a > b ? a - b : 0;
    diff.m_count += diff.m_buckets[i];
  }
  return diff;
}

void LatencySketch::Clear() {
  std::fill(m_buckets.begin(), m_buckets.end(), 0);
  m_count = 0;
}

double LatencySketch::QuantileMicros(double q) const {
  if (m_count == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(m_count - 1));
  uint64_t seen = 0;
  for (size_t i = 0; i < m_buckets.size(); ++i) {
    seen += m_buckets[i];
    if (seen > rank) return BucketValue(static_cast<int>(i));
  }
  return BucketValue(kBucketCount - 1);
}

double LatencySketch::MaxMicros() const {
  for (size_t i = m_buckets.size(); i-- > 0;) {
    if (m_buckets[i] != 0) return BucketValue(static_cast<int>(i));
  }
  return 0.0;
}

void LatencySketch::ToProto(greylane::v1::LatencySketch* out) const {
  out->Clear();
  out->set_relative_accuracy(kRelativeAccuracy);
  out->set_zero_count(m_buckets[0]);
  for (size_t i = 1; i < m_buckets.size(); ++i) {
    if (m_buckets[i] == 0) continue;
    out->add_bucket_index(static_cast<uint32_t>(i));
    out->add_bucket_count(m_buckets[i]);
  }
}

bool LatencySketch::FromProto(const greylane::v1::LatencySketch& in, LatencySketch* out) {
  if (std::abs(in.relative_accuracy() - kRelativeAccuracy) > 1e-12) return false;
  if (in.bucket_index_size() != in.bucket_count_size()) return false;
  out->Clear();
  out->AddBucket(0, in.zero_count());
  for (int i = 0; i < in.bucket_index_size(); ++i) {
    const auto index = in.bucket_index(i);
    if (index == 0 || index >= static_cast<uint32_t>(kBucketCount)) return false;
    out->AddBucket(static_cast<int>(index), in.bucket_count(i));
  }
  return true;
}

}  // namespace greylane
