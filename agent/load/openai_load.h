#pragma once
// greylane-load --openai: chat completions from simulated users against an
// agent's HTTP data plane (or any OpenAI-compatible server), open loop at a
// target rate, streaming by default, measuring from the client's side what
// users feel: time to first token from the scheduled send, the gaps between
// tokens, output tokens per second, and which version answered
// (x-greylane-version) — an outside view to check the agent's own figures
// against. Each user is sticky through the OpenAI "user" field.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/latency_sketch.h"

namespace greylane {

struct OpenAiLoadOptions {
  std::string target = "127.0.0.1:8000";  // host:port or http://host:port
  std::string model = "lm";               // or a version name, which pins it
  double rps = 5;
  int users = 100;
  double duration_s = 10;
  uint64_t max_requests = 0;  // 0: no cap
  int max_tokens = 32;
  bool stream = true;
  std::chrono::milliseconds deadline{60000};
  size_t max_in_flight = 2000;  // open loop: beyond it, requests are shed
  const std::atomic<bool>* stop = nullptr;
};

struct OpenAiLoadStats {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t shed = 0;
  uint64_t tokens = 0;                       // content events (streamed) or usage (not)
  std::map<int, uint64_t> errors_by_status;  // 0: no HTTP answer
  std::string first_error;
  std::map<std::string, uint64_t> by_version;
  LatencySketch ttft;     // streamed only
  LatencySketch itl;      // streamed only
  LatencySketch latency;  // to the last byte
  void Merge(const OpenAiLoadStats& other);
};

struct OpenAiLoadReport {
  OpenAiLoadStats total;
  double elapsed_s = 0;
};

OpenAiLoadReport RunOpenAiLoad(const OpenAiLoadOptions& options,
                               const std::function<void(int, const OpenAiLoadStats&)>& each_second,
                               std::string* error);

std::string FormatOpenAiSecond(int second, const OpenAiLoadStats& stats);
std::string FormatOpenAiSummary(const OpenAiLoadReport& report);

}  // namespace greylane
