#pragma once
// The release report (common/release_report.h) printed to PDF with Qt's
// own QTextDocument and QPdfWriter: no new dependency. The timeline is the
// report's SVG drawn by QSvgRenderer, since QTextDocument draws no SVG.
#include <string>

#include "absl/status/statusor.h"
#include "common/release_report.h"

namespace greylane {

// Needs a QGuiApplication (the console's, or one ReleaseReportPdfStandalone
// makes).
absl::StatusOr<std::string> ReleaseReportPdf(const ReleaseReport& report);
// For a program without one (greylane-ctl): an offscreen one for the call.
absl::StatusOr<std::string> ReleaseReportPdfStandalone(const ReleaseReport& report);

}  // namespace greylane
