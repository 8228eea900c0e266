#pragma once
// The tools' command lines are CLI11 (Debian libcli11-dev). One way to end
// a parse: --help prints and exits 0, a mistake says what and exits 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/text.h"

namespace greylane {

// Parses `args` (argv without the program). Returns the exit code to stop
// with, or nothing to go on.
inline std::optional<int> ParseOrExit(CLI::App& app, const std::vector<std::string>& args,
                                      const char* program) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program, TerminalSafe(e.what()).c_str());
    return 2;
  }
  return std::nullopt;
}

}  // namespace greylane
