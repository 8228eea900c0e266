// greylane-bench-record: what the data plane pays per request to be
// measured (VersionRecorder::RecordOk), with 1 and 2 recording threads, next
// to the two clock reads every request also costs.
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "agent/metrics/version_recorder.h"

namespace {
using Clock = std::chrono::steady_clock;

double NanosPerOp(int threads, uint64_t per_thread, bool record) {
  greylane::VersionRecorder recorder;
  std::vector<uint64_t> latencies(4096);
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(std::log(400000.0), 0.8);  // ~0.4 ms in ns
  for (auto& v : latencies) v = static_cast<uint64_t>(dist(rng));
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      uint64_t sink = 0;
      for (uint64_t i = 0; i < per_thread; ++i) {
        if (record) {
          recorder.RecordOk(latencies[i & 4095]);
        } else {
          sink += static_cast<uint64_t>(Clock::now().time_since_epoch().count());
        }
      }
      if (sink == 42) std::puts("");
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (record && recorder.Snapshot().ok != threads * per_thread) std::puts("LOST COUNTS");
  return elapsed / static_cast<double>(per_thread);  // wall time per op per thread
}
}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::stoull(argv[1]) : 20'000'000;
  std::printf("recording cost (ns per request, wall time per thread, %llu requests each):\n",
              static_cast<unsigned long long>(n));
  for (const int threads : {1, 2}) {
    const double record = NanosPerOp(threads, n, true);
    const double clock = NanosPerOp(threads, n, false);
    std::printf("  %d thread%s: RecordOk %.1f ns   (one steady_clock read: %.1f ns)\n", threads,
                threads == 1 ? " " : "s", record, clock);
  }
  return 0;
}
