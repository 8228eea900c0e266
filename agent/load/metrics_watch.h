#pragma once
// A terminal view of one agent: its state, then one line per metrics frame.
// What `./dev.sh demo` shows, and a plain client of WatchMetrics.
#include <cstdint>
#include <string>

#include "common/credentials.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct WatchOptions {
  std::string control = "127.0.0.1:7070";
  uint32_t backfill_seconds = 0;
  uint64_t frames = 0;  // stop after this many frames; 0 runs until the stream ends
  std::string token;    // bearer token for the control API
  ClientTlsFiles tls;
};

// One line per frame and a few for a state, every text from the agent made
// safe for a terminal.
std::string FormatFrame(const v1::MetricsFrame& frame);
std::string FormatState(const v1::AgentState& state);
// Returns the process exit code.
int RunWatch(const WatchOptions& options);

}  // namespace greylane
