#pragma once
// How clients (greylane-ctl, greylane-watch, benchmarks, the console) find
// their token: a file holding just the token, or the demo format
// `role identity token` per line, from which the wanted role's line is taken.
#include <string>

#include "absl/status/statusor.h"

namespace greylane {

struct ClientToken {
  std::string token;
  std::string identity;  // empty for a bare token file
  std::string role;
};

// The wanted role's line, else the first token in the file. A token must be
// printable ASCII (it travels in a header).
absl::StatusOr<ClientToken> ReadTokenFile(const std::string& path, const std::string& wanted_role);
// The same from the file's text; `name` says which file in errors.
absl::StatusOr<ClientToken> ParseTokenFile(const std::string& text, const std::string& name,
                                           const std::string& wanted_role);

}  // namespace greylane
