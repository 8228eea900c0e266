// libFuzzer: the agent's YAML config, as read from --config. Whatever the
// bytes, parsing ends with a config or a message, and a config that parses
// passes ValidateConfig or says why not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/server/agent_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto config = greylane::ParseConfigYaml(yaml, "/etc/greylane", &error);
  if (!config) {
    if (error.empty()) __builtin_trap();  // a refusal always says why
    return 0;
  }
  config->demo_tokens = true;
  (void)greylane::ValidateConfig(*config);
  return 0;
}
