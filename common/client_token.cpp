#include "common/client_token.h"

#include <sstream>
#include <vector>

#include "common/files.h"
#include "common/text.h"

namespace greylane {

absl::StatusOr<ClientToken> ReadTokenFile(const std::string& path, const std::string& wanted_role) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxTokensBytes, "the token file");
  if (!text.ok()) return text.status();
  return ParseTokenFile(*text, path, wanted_role);
}

absl::StatusOr<ClientToken> ParseTokenFile(const std::string& text, const std::string& path,
                                           const std::string& wanted_role) {
  std::vector<ClientToken> entries;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.empty() || words[0][0] == '#') continue;
    ClientToken entry;
    if (words.size() == 1) entry = {words[0], "", ""};
    if (words.size() == 3) entry = {words[2], words[1], words[0]};
    if (entry.token.empty()) continue;
    for (const char c : entry.token) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError("the token file " + Quote(path, 300) + " line " +
                                          std::to_string(number) +
                                          ": a token must be printable ASCII");
      }
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError("no token in " + Quote(path, 300) +
                                      " (expected a token, or lines `role identity token`)");
  }
  // A file of bare tokens has no roles to choose from; a file with role
  // lines must have the one asked for (falling back to another role would
  // act with powers the caller did not ask for, or quietly fewer).
  std::string roles;
  for (const ClientToken& entry : entries) {
    if (entry.role.empty() || wanted_role.empty() || entry.role == wanted_role) return entry;
    if (roles.find(entry.role) == std::string::npos)
      roles += (roles.empty() ? "" : ", ") + entry.role;
  }
  return absl::InvalidArgumentError("no " + Quote(wanted_role, 32) + " line in the token file " +
                                    Quote(path, 300) + " (it has: " + TerminalSafe(roles) +
                                    "); choose one of those");
}

}  // namespace greylane
