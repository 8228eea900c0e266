// greylane-load: wires the load generator to the command line.
#include <cstdio>
#include <string>

#include "agent/load/load_generator.h"
#include "agent/load/openai_load.h"
#include "common/command_line.h"
#include "common/text.h"

namespace {
const char kAbout[] = R"(greylane-load: sends Open Inference Protocol ModelInfer requests (the
held-out digits rows) from simulated users, each with an x-user-id header,
and prints each second and at the end: sent, ok, errors, client-side
p50/p99, and how many requests each version served (with its accuracy on
the labels).

With --openai it sends OpenAI chat completions to an agent's HTTP data plane
instead (--target its --http-listen address), streaming unless --no-stream,
and reports from the client's side the time to first token, the time between
tokens, tokens per second, and which version answered.)";
}  // namespace

int main(int argc, char** argv) {
  greylane::LoadOptions o;
  bool quiet = false;
  bool json = false;
  CLI::App app(kAbout, "greylane-load");
  auto non_negative = CLI::NonNegativeNumber;
  app.add_option("--target", o.target, "the agent's data plane (default 127.0.0.1:8001)");
  app.add_option("--rps", o.rps,
                 "open-loop rate; latency counts from the scheduled send time, so back-pressure "
                 "cannot hide it (default 100)")
      ->check(non_negative);
  app.add_option("--concurrency", o.concurrency, "closed loop instead: N requests in flight")
      ->check(CLI::Range(0, 100000));
  app.add_option("--users", o.users, "simulated users (default 1000)")
      ->check(CLI::Range(1, 100000000));
  app.add_option("--duration", o.duration_s, "seconds (default 10)")->check(non_negative);
  app.add_option("--requests", o.max_requests, "stop after N requests");
  app.add_option("--batch", o.batch, "rows per request (default 1)")->check(CLI::Range(1, 1024));
  app.add_option("--connections", o.connections, "HTTP/2 connections (default 1)")
      ->check(CLI::Range(1, 256));
  app.add_option("--pin", o.pin, "send x-greylane-version: baseline | candidate | VERSION");
  app.add_option("--user-header", o.user_header, "sticky header (default x-user-id)");
  app.add_option("--data", o.data_file,
                 "digits CSV (default: digits-holdout.csv beside the models)");
  app.add_option("--outcomes", o.outcomes,
                 "share of answers whose true label is reported back with RecordOutcome, 0..1 "
                 "(default 0); the agent then judges each version's accuracy");
  app.add_flag("--typed", o.typed_contents, "send fp32_contents instead of raw_input_contents");
  bool openai = false, no_stream = false;
  int max_tokens = 32;
  app.add_flag("--openai", openai,
               "OpenAI chat completions to the agent's HTTP plane (--target HOST:PORT of "
               "--http-listen; --model lm, or a version name to pin it)");
  app.add_option("--max-tokens", max_tokens, "--openai: tokens per answer (default 32)")
      ->check(CLI::Range(1, 4096));
  app.add_flag("--no-stream", no_stream, "--openai: whole answers instead of streams");
  app.add_option("--model", o.model, "model name (default digits; --openai: lm)");
  app.add_flag("--quiet", quiet, "no per-second lines");
  app.add_flag("--json", json, "end with one JSON line of the totals");
  if (const auto code = greylane::ParseOrExit(app, {argv + 1, argv + argc}, "greylane-load")) {
    return *code;
  }
  std::string error;
  if (openai) {
    greylane::OpenAiLoadOptions a;
    a.target = app.count("--target") ? o.target : "127.0.0.1:8000";
    a.model = app.count("--model") ? o.model : "lm";
    a.rps = app.count("--rps") ? o.rps : 5;
    a.users = o.users;
    a.duration_s = o.duration_s;
    a.max_requests = o.max_requests;
    a.max_tokens = max_tokens;
    a.stream = !no_stream;
    const auto report = greylane::RunOpenAiLoad(
        a,
        [&](int second, const greylane::OpenAiLoadStats& stats) {
          if (quiet) return;
          std::printf("%s\n", greylane::FormatOpenAiSecond(second, stats).c_str());
          std::fflush(stdout);
        },
        &error);
    if (!error.empty()) {
      std::fprintf(stderr, "greylane-load: %s\n", greylane::TerminalSafe(error).c_str());
      return 2;
    }
    std::printf("%s", greylane::FormatOpenAiSummary(report).c_str());
    return report.total.ok > 0 ? 0 : 1;
  }
  const auto report = greylane::RunLoad(
      o,
      [&](int second, const greylane::LoadStats& stats) {
        if (quiet) return;
        std::printf("%s\n", greylane::FormatSecond(second, stats).c_str());
        std::fflush(stdout);
      },
      &error);
  if (!error.empty()) {
    std::fprintf(stderr, "greylane-load: %s\n", greylane::TerminalSafe(error).c_str());
    return 2;
  }
  std::printf("%s", greylane::FormatSummary(report).c_str());
  if (json) std::printf("%s\n", greylane::FormatSummaryJson(report).c_str());
  return report.total.ok > 0 ? 0 : 1;
}
