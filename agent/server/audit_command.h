#pragma once
// `greylane-agent audit verify|export`: offline work on a state dir's audit
// trail, with no agent running (release reviews, forensics), and
// `audit verify --file` for an exported trail someone sent.
#include <string>
#include <vector>

namespace greylane {

// Returns the exit code; writes results to stdout and problems to stderr.
int RunAuditCommand(const std::vector<std::string>& args);

}  // namespace greylane
