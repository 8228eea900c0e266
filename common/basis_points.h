#pragma once
// A split as people read it: 500 basis points -> "5.00 %". The one
// formatter for agent, tools and console; header-only and dependency-free,
// so the widgets use it too.
#include <cstdint>
#include <cstdio>
#include <string>

namespace greylane {

inline std::string FormatBasisPoints(uint32_t basis_points) {
  char text[32];
  std::snprintf(text, sizeof(text), "%u.%02u %%", basis_points / 100, basis_points % 100);
  return text;
}

}  // namespace greylane
