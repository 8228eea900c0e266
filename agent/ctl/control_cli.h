#pragma once
// greylane-ctl: the control API from a terminal, for the on-call engineer
// without a console and for scripts. Errors print the agent's own message.
#include <string>
#include <vector>

namespace greylane {

// Runs one command; returns the process exit code (0 ok, 1 refused or
// failed, 2 usage).
int RunControlCli(const std::vector<std::string>& args);

}  // namespace greylane
