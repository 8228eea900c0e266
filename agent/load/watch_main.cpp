// greylane-watch: prints an agent's state and then one line per second.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/auth/client_token.h"
#include "agent/load/metrics_watch.h"

int main(int argc, char** argv) {
  greylane::WatchOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if ((flag == "--control" || flag == "--backfill" || flag == "--frames" ||
         flag == "--token-file") &&
        i + 1 < argc) {
      const std::string value = argv[++i];
      if (flag == "--token-file") {
        std::string error;
        const auto token = greylane::ReadTokenFile(value, "viewer", &error);
        if (!token) {
          std::fprintf(stderr, "greylane-watch: %s\n", error.c_str());
          return 2;
        }
        options.token = token->token;
      }
      if (flag == "--control") options.control = value;
      if (flag == "--backfill") options.backfill_seconds = static_cast<uint32_t>(std::stoul(value));
      if (flag == "--frames") options.frames = std::stoull(value);
    } else {
      std::fprintf(stderr,
                   "usage: greylane-watch --token-file FILE [--control HOST:PORT] "
                   "[--backfill SECONDS] [--frames N]\n");
      return flag == "--help" ? 0 : 2;
    }
  }
  return greylane::RunWatch(options);
}
