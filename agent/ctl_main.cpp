// greylane-ctl: wires the control CLI to the command line.
#include "agent/ctl/control_cli.h"

int main(int argc, char** argv) {
  return greylane::RunControlCli({argv + 1, argv + argc});
}
