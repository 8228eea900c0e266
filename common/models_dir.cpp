#include "common/models_dir.h"

#include <cstdlib>
#include <filesystem>

namespace greylane {

std::string FindModelsDir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("GREYLANE_MODELS_DIR"); env && *env) return env;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(GREYLANE_MODELS_INSTALL_DIR) / "digits-v1.glm",
                              ec)) {
    return GREYLANE_MODELS_INSTALL_DIR;
  }
  return GREYLANE_MODELS_SOURCE_DIR;
}

}  // namespace greylane
