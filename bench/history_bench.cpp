// The agent's per-minute history: disk per day, and the time to answer a
// 24-hour query (the console's longest window), with and without sketches.
// Usage: greylane-bench-history [--rps N]   (prints figures; never fails)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "agent/metrics/history_store.h"
#include "common/latency_sketch.h"

using namespace greylane;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int rps = 100;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--rps") rps = std::max(1, std::atoi(argv[i + 1]));
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("greylane-history-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const int64_t minute = HistoryStore::kMinuteMs;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() /
                      minute * minute;
  std::mt19937 rng(42);
  std::lognormal_distribution<double> baseline(std::log(20'000.0), 0.5);  // ~20 ms
  std::lognormal_distribution<double> candidate(std::log(24'000.0), 0.6);
  {
    auto store = HistoryStore::Open((dir / "history.db").string(), {});
    if (!store.ok()) return 1;
    // One day of seconds, 95/5 split: each second a frame as the ticker seals it.
    for (int m = 0; m < 1440; ++m) {
      for (int s = 1; s <= 60; ++s) {
        v1::MetricsFrame frame;
        frame.set_agent_id("bench");
        frame.set_window_end_unix_ms(now - 1440 * minute + m * minute + s * 1000);
        for (const v1::Slot slot : {v1::BASELINE, v1::CANDIDATE}) {
          const int n = slot == v1::BASELINE ? rps * 95 / 100 : std::max(1, rps * 5 / 100);
          LatencySketch sketch;
          for (int i = 0; i < n; ++i) {
            sketch.Add(slot == v1::BASELINE ? baseline(rng) : candidate(rng));
          }
          v1::VersionWindow* v = frame.add_versions();
          v->set_slot(slot);
          v->set_version(slot == v1::BASELINE ? "v1" : "v2");
          v->set_requests(static_cast<uint64_t>(n));
          sketch.ToProto(v->mutable_latency());
        }
        (*store)->Add(frame);
      }
      if (m % 60 == 0) (*store)->Flush();
    }
    (*store)->Flush();
    const HistoryFigures figures = (*store)->Figures();
    std::printf(
        "history: %llu minutes at %d req/s, %.2f MiB on disk for one day (%.0f bytes "
        "per minute)\n",
        static_cast<unsigned long long>(figures.minutes), rps,
        static_cast<double>(figures.file_bytes) / (1 << 20),
        static_cast<double>(figures.file_bytes) / 1440.0);
    for (const bool sketches : {false, true}) {
      std::vector<double> ms;
      size_t minutes = 0, pages = 0;
      for (int round = 0; round < 15; ++round) {
        const auto start = Clock::now();
        minutes = pages = 0;
        for (int64_t from = now - 1440 * minute;;) {
          HistoryPage page = (*store)->Query(from, now, sketches);
          minutes += page.minutes.size();
          ++pages;
          if (page.next_from_unix_ms == 0) break;
          from = page.next_from_unix_ms;
        }
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      std::sort(ms.begin(), ms.end());
      std::printf(
          "query 24 h %s sketches: %zu minutes in %zu page(s), median %.1f ms, max %.1f ms\n",
          sketches ? "with" : "without", minutes, pages, ms[ms.size() / 2], ms.back());
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
