// greylane-watch: prints an agent's state and then one line per second.
#include <cstdio>
#include <string>

#include "agent/load/metrics_watch.h"
#include "common/client_token.h"
#include "common/command_line.h"
#include "common/text.h"

int main(int argc, char** argv) {
  greylane::WatchOptions options;
  std::string token_file, role = "viewer";
  CLI::App app("greylane-watch: an agent's state, then one line per second of metrics",
               "greylane-watch");
  app.add_option("--token-file", token_file, "a token, or the demo file")->required();
  app.add_option("--as", role, "which line of a demo file (default viewer)")
      ->check(CLI::IsMember({"viewer", "operator", "admin"}));
  app.add_option("--control", options.control, "the agent's control API (default 127.0.0.1:7070)");
  app.add_option("--backfill", options.backfill_seconds, "seconds of history first")
      ->check(CLI::Range(0u, 86400u));
  app.add_option("--frames", options.frames, "stop after N frames (default: until the end)");
  app.add_flag("--tls", options.tls.tls, "TLS with the system's trusted roots");
  app.add_option("--ca", options.tls.ca, "TLS: trust this CA");
  app.add_option("--cert", options.tls.cert, "mutual TLS: this client certificate");
  app.add_option("--key", options.tls.key, "mutual TLS: the certificate's key");
  bool insecure = false;
  app.add_flag("--insecure", insecure, "allow a plaintext connection to a non-loopback address");
  if (const auto code = greylane::ParseOrExit(app, {argv + 1, argv + argc}, "greylane-watch")) {
    return *code;
  }
  if (const absl::Status s = greylane::CheckTokenTransport(options.control, options.tls, insecure);
      !s.ok()) {
    std::fprintf(stderr, "greylane-watch: %s\n",
                 greylane::TerminalSafe(std::string(s.message())).c_str());
    return 2;
  }
  const auto token = greylane::ReadTokenFile(token_file, role);
  if (!token.ok()) {
    std::fprintf(stderr, "greylane-watch: %s\n",
                 greylane::TerminalSafe(std::string(token.status().message())).c_str());
    return 2;
  }
  options.token = token->token;
  return greylane::RunWatch(options);
}
