#include "agent/backends/backend.h"

#include <algorithm>
#include <cctype>

namespace greylane {

std::string ForwardingName(std::string_view agent_id) {
  const bool plain = !agent_id.empty() && std::all_of(agent_id.begin(), agent_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
  if (plain) return std::string(agent_id);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "hex-";
  for (const unsigned char c : agent_id) {
    name += kHex[c >> 4];
    name += kHex[c & 15];
  }
  return name;
}

}  // namespace greylane
