#pragma once
// Seconds of one version merged into a longer window: counts add, latency
// sketches merge exactly, so a minute's or a step's percentiles are those
// of every request in it, never an average of per-second percentiles.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "agent/metrics/version_recorder.h"
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
  uint64_t outcomes = 0;
  uint64_t incorrect = 0;
  std::vector<uint64_t> predictions;  // per class, at most kPredictionClasses
  double max_ms = 0;
  int64_t in_flight = 0;  // the latest second's
  LatencySketch latency;
  GenerationTotals generation;
};

// Adds each version of `frame` to the entry with its slot and version.
void MergeFrame(std::vector<MergedWindow>* into, const v1::MetricsFrame& frame);
void ToVersionWindow(const MergedWindow& merged, bool with_sketch, v1::VersionWindow* out);
// Adds a frame's per-class prediction counts (a hostile frame's extra
// classes fold into the last) into `into`.
void AddPredictions(const v1::VersionWindow& window, std::vector<uint64_t>* into);
// Generative counters and sketches: later minus earlier (cumulative
// snapshots), a window's added in, and the wire form (nothing set when no
// generative answer and no token gap is in it).
GenerationTotals GenerationDifference(const GenerationTotals& later,
                                      const GenerationTotals& earlier);
void AddGeneration(const v1::GenerationWindow& window, GenerationTotals* into);
void ToGenerationWindow(const GenerationTotals& totals, bool with_sketch, v1::VersionWindow* out);
// Per-class counts without trailing zeros, as a VersionWindow carries them.
void SetPredictions(std::span<const uint64_t> counts, v1::VersionWindow* out);

}  // namespace greylane
