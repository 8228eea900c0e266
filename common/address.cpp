#include "common/address.h"

#include <arpa/inet.h>

namespace greylane {

bool ParseHostPort(const std::string& host_port, std::string* host) {
  if (host_port.empty()) return false;
  if (host_port.front() == '[') {
    const auto close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return false;
    }
    *host = host_port.substr(1, close - 1);
    return true;
  }
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) return false;
  *host = host_port.substr(0, colon);
  return host->find(':') == std::string::npos;
}

bool IsLoopbackAddress(const std::string& host_port) {
  std::string host;
  if (!ParseHostPort(host_port, &host)) return false;
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace greylane
