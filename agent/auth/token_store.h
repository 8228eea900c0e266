#pragma once
// Who may call the control API. Tokens are configured as lines of
// `sha256(token) identity role`; the agent never holds a token in clear.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace greylane {

enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };

const char* RoleName(Role role);
std::optional<Role> ParseRole(const std::string& name);

struct Principal {
  std::string identity;
  Role role = Role::kViewer;
};

class TokenStore {
 public:
  static constexpr size_t kMaxIdentityBytes = 128;

  // Lines: `<64 hex sha256> <identity> <viewer|operator|admin>`; '#' comments.
  // Identities are valid UTF-8 without control characters: they are stored
  // in the audit trail and sent to every console.
  static std::optional<TokenStore> Parse(const std::string& text, std::string* error);
  // Like OpenSSH with its credential files: refused when group- or
  // world-writable (anyone who can write it can make themselves admin) or
  // owned by someone other than root or this process's user; a
  // world-readable file is used, with `warning` set.
  static absl::StatusOr<TokenStore> LoadFile(const std::string& path, std::string* warning);

  // The principal a bearer token belongs to, if any.
  std::optional<Principal> Authenticate(const std::string& token) const;
  void Add(const std::string& token_sha256_hex, Principal principal);
  size_t Size() const { return m_by_hash.size(); }

 private:
  std::map<std::string, Principal> m_by_hash;
};

struct DemoToken {
  Role role;
  std::string identity;
  std::string token;
};

// Three fresh random identities (demo-viewer, demo-operator, demo-admin),
// written to `path` (mode 0600) as lines `role identity token`.
std::optional<std::vector<DemoToken>> CreateDemoTokens(const std::string& path, std::string* error);
// The demo tokens already in `path` when it is owner-only and lists all
// three roles (a restarted demo agent keeps its consoles signed in);
// otherwise fresh ones, as CreateDemoTokens.
std::optional<std::vector<DemoToken>> LoadOrCreateDemoTokens(const std::string& path,
                                                             std::string* error);
TokenStore StoreFor(const std::vector<DemoToken>& tokens);
std::string NewRandomToken();

}  // namespace greylane
