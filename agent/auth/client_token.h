#pragma once
// How clients (greylane-watch, benchmarks, the console) find their token:
// a file holding just the token, or the demo format `role identity token`
// per line, from which the wanted role's line is taken.
#include <optional>
#include <string>

namespace greylane {

struct ClientToken {
  std::string token;
  std::string identity;  // empty for a bare token file
  std::string role;
};

std::optional<ClientToken> ReadTokenFile(const std::string& path, const std::string& wanted_role,
                                         std::string* error);

}  // namespace greylane
