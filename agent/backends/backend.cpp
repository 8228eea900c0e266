#include "agent/backends/backend.h"

#include <algorithm>
#include <cctype>

#include "common/text.h"

namespace greylane {

std::string ForwardingName(std::string_view agent_id) {
  const bool plain = !agent_id.empty() && std::all_of(agent_id.begin(), agent_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
  return plain ? std::string(agent_id) : "hex-" + HexEncode(agent_id);
}

}  // namespace greylane
