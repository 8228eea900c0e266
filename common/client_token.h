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

// The wanted role's line of a demo-format file (an error when it has none),
// or the first token of a file of bare tokens. A token must be printable
// ASCII (it travels in a header).
absl::StatusOr<ClientToken> ReadTokenFile(const std::string& path, const std::string& wanted_role);
// The same from the file's text; `name` says which file in errors.
absl::StatusOr<ClientToken> ParseTokenFile(const std::string& text, const std::string& name,
                                           const std::string& wanted_role);

}  // namespace greylane
