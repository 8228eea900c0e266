#pragma once
// Where the demo models and the held-out digits live, for the agent's
// --demo, the load generator, tests and benchmarks.
#include <string>

namespace greylane {

// --models-dir (flag_value), $GREYLANE_MODELS_DIR, the installed data
// folder, then the source tree this binary was built from.
std::string FindModelsDir(const std::string& flag_value = {});

}  // namespace greylane
