#include "agent/auth/client_token.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace greylane {

std::optional<ClientToken> ReadTokenFile(const std::string& path, const std::string& wanted_role,
                                         std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read token file '" + path + "'";
    return std::nullopt;
  }
  std::vector<ClientToken> entries;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.empty() || words[0][0] == '#') continue;
    if (words.size() == 1) entries.push_back({words[0], "", ""});
    if (words.size() == 3) entries.push_back({words[2], words[1], words[0]});
  }
  if (entries.empty()) {
    *error = "no token in '" + path + "' (expected a token, or lines `role identity token`)";
    return std::nullopt;
  }
  for (const ClientToken& entry : entries) {
    if (entry.role == wanted_role) return entry;
  }
  return entries.front();
}

}  // namespace greylane
