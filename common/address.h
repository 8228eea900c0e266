#pragma once
// host:port addresses as the agent listens on them and clients dial them.
#include <string>

namespace greylane {

// "host:port" or "[v6]:port" -> host; false when it is neither.
bool ParseHostPort(const std::string& host_port, std::string* host);
// Only address literals in 127.0.0.0/8 or ::1, and "localhost": a name such
// as 127.0.0.1.example.com resolves to whatever its owner likes.
bool IsLoopbackAddress(const std::string& host_port);

}  // namespace greylane
