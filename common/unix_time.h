#pragma once
// Wall-clock milliseconds since the epoch (UTC), as audit rows and states
// carry them.
#include <chrono>
#include <cstdint>

namespace greylane {

inline int64_t UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline int64_t NowUnixMillis() {
  return UnixMillis(std::chrono::system_clock::now());
}

}  // namespace greylane
