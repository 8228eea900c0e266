#pragma once
// greylane-ctl: the control API from a terminal, for the on-call engineer
// without a console and for scripts. Errors print the agent's own message.
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/release_report.h"

namespace greylane {

// Prints a release report to PDF bytes. The executable wires in Qt's
// (app/release_report_pdf.h), so this library stays free of Qt.
using ReportPdfPrinter = std::function<absl::StatusOr<std::string>(const ReleaseReport&)>;

// Runs one command; returns the process exit code (0 ok, 1 refused or
// failed, 2 usage).
int RunControlCli(const std::vector<std::string>& args, ReportPdfPrinter pdf = nullptr);

}  // namespace greylane
