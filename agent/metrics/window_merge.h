#pragma once
// Seconds of one version merged into a longer window: counts add, latency
// sketches merge exactly, so a minute's or a step's percentiles are those
// of every request in it, never an average of per-second percentiles.
#include <cstdint>
#include <string>
#include <vector>

#include "common/latency_sketch.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct MergedWindow {
  v1::Slot slot = v1::SLOT_UNSPECIFIED;
  std::string version;
  uint64_t requests = 0;
  uint64_t server_errors = 0;
  uint64_t client_errors = 0;
  uint64_t rate_limited = 0;
  uint64_t spilled = 0;
  uint64_t breaker_diverted = 0;
  double max_ms = 0;
  int64_t in_flight = 0;  // the latest second's
  LatencySketch latency;
};

// Adds each version of `frame` to the entry with its slot and version.
void MergeFrame(std::vector<MergedWindow>* into, const v1::MetricsFrame& frame);
void ToVersionWindow(const MergedWindow& merged, bool with_sketch, v1::VersionWindow* out);

}  // namespace greylane
