#pragma once
// Sends OIP ModelInfer requests from simulated users. Open loop by default:
// requests leave on a fixed schedule whatever the server does, and latency
// counts from the scheduled time, so a slow server cannot hide its latency
// behind back-pressure. With `concurrency` > 0 it is closed loop instead
// (a fixed number in flight), which is how throughput ceilings are measured.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/latency_sketch.h"

namespace greylane {

struct LoadOptions {
  std::string target = "127.0.0.1:8001";
  std::string model = "digits";
  double rps = 100;
  int concurrency = 0;  // > 0: closed loop with this many in flight
  int users = 1000;
  double duration_s = 10;
  uint64_t max_requests = 0;  // 0: no cap
  int batch = 1;              // rows per request
  int connections = 1;
  std::string data_file;  // empty: the holdout file beside the models
  std::string user_header = "x-user-id";
  std::string pin;              // x-greylane-version header, e.g. "candidate"
  bool typed_contents = false;  // fp32_contents instead of raw_input_contents
  std::chrono::milliseconds deadline{5000};
  size_t max_backlog = 20000;  // open loop: requests in flight before it sheds
  // Share of answered requests whose true label is reported back
  // (RecordOutcome with the answer's request id), as a caller with ground
  // truth would; the agent then judges each version's accuracy.
  double outcomes = 0;
  // Set by another thread to end the run early (seen within a second).
  const std::atomic<bool>* stop = nullptr;
};

struct VersionTally {
  uint64_t served = 0;
  uint64_t correct = 0;  // argmax matched the label
};

struct LoadStats {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t shed = 0;  // open loop could not send: too many in flight
  uint64_t outcomes_recorded = 0;
  uint64_t outcomes_refused = 0;  // RecordOutcome failed
  std::string first_outcome_error;
  std::map<int, uint64_t> errors_by_code;
  std::map<int, std::string> first_error_message;
  std::map<std::string, VersionTally> by_version;
  LatencySketch latency;
  void Merge(const LoadStats& other);
};

struct LoadReport {
  LoadStats total;
  double elapsed_s = 0;
};

// Called once a second with that second's stats (on the calling thread of Run).
using SecondCallback = std::function<void(int second, const LoadStats& stats)>;

// Blocks for the run. Empty `error` on success.
LoadReport RunLoad(const LoadOptions& options, const SecondCallback& each_second,
                   std::string* error);

std::string FormatSecond(int second, const LoadStats& stats);
std::string FormatSummary(const LoadReport& report);
std::string FormatSummaryJson(const LoadReport& report);

}  // namespace greylane
