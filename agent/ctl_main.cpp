// greylane-ctl: wires the control CLI to the command line, and Qt's PDF
// printer to its `report --format pdf`.
#include "agent/ctl/control_cli.h"
#include "app/release_report_pdf.h"

int main(int argc, char** argv) {
  return greylane::RunControlCli({argv + 1, argv + argc}, &greylane::ReleaseReportPdfStandalone);
}
