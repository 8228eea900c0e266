// greylane-load: wires the load generator to the command line.
#include <cstdio>
#include <cstring>
#include <string>

#include "agent/load/load_generator.h"

namespace {
const char kUsage[] = R"(usage: greylane-load [flags]

Sends Open Inference Protocol ModelInfer requests (the held-out digits rows)
from simulated users, each with an x-user-id header, and prints each second
and at the end: sent, ok, errors, client-side p50/p99, and how many requests
each version served (with its accuracy on the labels).

  --target HOST:PORT   the agent's data plane        (default 127.0.0.1:8001)
  --rps N              open-loop rate; latency counts from the scheduled
                       send time, so back-pressure cannot hide it (default 100)
  --concurrency N      closed loop instead: N requests always in flight
  --users N            simulated users               (default 1000)
  --duration S         seconds                       (default 10)
  --requests N         stop after N requests
  --batch N            rows per request              (default 1)
  --connections N      HTTP/2 connections            (default 1)
  --pin baseline|candidate|VERSION   send x-greylane-version
  --user-header NAME   sticky header                 (default x-user-id)
  --typed              send fp32_contents instead of raw_input_contents
  --data FILE          digits CSV (default: digits-holdout.csv beside the models)
  --quiet              no per-second lines
  --json               end with one JSON line of the totals
)";
}  // namespace

int main(int argc, char** argv) {
  greylane::LoadOptions options;
  bool quiet = false;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "greylane-load: %s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&]() -> double {
      const std::string text = value();
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || v < 0) {
        std::fprintf(stderr, "greylane-load: %s needs a non-negative number, not '%s'\n",
                     flag.c_str(), text.c_str());
        std::exit(2);
      }
      return v;
    };
    if (flag == "--target")
      options.target = value();
    else if (flag == "--rps")
      options.rps = number();
    else if (flag == "--concurrency")
      options.concurrency = static_cast<int>(number());
    else if (flag == "--users")
      options.users = static_cast<int>(number());
    else if (flag == "--duration")
      options.duration_s = number();
    else if (flag == "--requests")
      options.max_requests = static_cast<uint64_t>(number());
    else if (flag == "--batch")
      options.batch = static_cast<int>(number());
    else if (flag == "--connections")
      options.connections = static_cast<int>(number());
    else if (flag == "--pin")
      options.pin = value();
    else if (flag == "--user-header")
      options.user_header = value();
    else if (flag == "--data")
      options.data_file = value();
    else if (flag == "--typed")
      options.typed_contents = true;
    else if (flag == "--quiet")
      quiet = true;
    else if (flag == "--json")
      json = true;
    else if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "greylane-load: unknown flag '%s' (see --help)\n", flag.c_str());
      return 2;
    }
  }
  std::string error;
  const auto report = greylane::RunLoad(
      options,
      [&](int second, const greylane::LoadStats& stats) {
        if (quiet) return;
        std::printf("%s\n", greylane::FormatSecond(second, stats).c_str());
        std::fflush(stdout);
      },
      &error);
  if (!error.empty()) {
    std::fprintf(stderr, "greylane-load: %s\n", error.c_str());
    return 2;
  }
  std::printf("%s", greylane::FormatSummary(report).c_str());
  if (json) std::printf("%s\n", greylane::FormatSummaryJson(report).c_str());
  return report.total.ok > 0 ? 0 : 1;
}
