#pragma once
// Who may call the control API. Tokens are configured as lines of
// `sha256(token) identity role`; the agent never holds a token in clear.
#include <map>
#include <optional>
#include <string>
#include <vector>

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
  // Lines: `<64 hex sha256> <identity> <viewer|operator|admin>`; '#' comments.
  static std::optional<TokenStore> Parse(const std::string& text, std::string* error);
  static std::optional<TokenStore> LoadFile(const std::string& path, std::string* error);

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
