#include "agent/auth/token_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/audit_record.h"
#include "common/files.h"
#include "common/text.h"

namespace greylane {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(const std::string& name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::optional<TokenStore> TokenStore::Parse(const std::string& text, std::string* error) {
  TokenStore store;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const auto hash_at = line.find('#');
    if (hash_at != std::string::npos) line.resize(hash_at);
    std::istringstream fields(line);
    std::string hash, identity, role, extra;
    if (!(fields >> hash)) continue;  // blank or comment
    fields >> identity >> role >> extra;
    const auto parsed_role = ParseRole(role);
    const bool hex =
        hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex || identity.empty() || !parsed_role || !extra.empty()) {
      *error = "line " + std::to_string(number) +
               ": expected `<sha256 of the token, 64 lower-case hex> <identity> "
               "<viewer|operator|admin>`";
      return std::nullopt;
    }
    if (std::string problem =
            TextProblem("the identity", identity, kMaxIdentityBytes, TextKind::kName);
        !problem.empty()) {
      *error = "line " + std::to_string(number) + ": " + problem +
               " (the file must be UTF-8: identities go into the audit trail)";
      return std::nullopt;
    }
    if (store.m_by_hash.count(hash)) {
      *error = "line " + std::to_string(number) + ": the same token is listed twice";
      return std::nullopt;
    }
    store.Add(hash, {identity, *parsed_role});
  }
  return store;
}

absl::StatusOr<TokenStore> TokenStore::LoadFile(const std::string& path, std::string* warning) {
  struct stat info {};
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxTokensBytes, "tokens file", &info);
  if (!text.ok()) return text.status();
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
  if (info.st_mode & (S_IWGRP | S_IWOTH)) {
    return absl::PermissionDeniedError(
        "tokens file " + Quote(path, 300) + " is writable by " +
        ((info.st_mode & S_IWOTH) ? "everyone" : "its group") + " (mode " + mode +
        "): whoever can write it can make themselves admin. Run: chmod go-w " + path);
  }
  if (info.st_uid != 0 && info.st_uid != ::geteuid()) {
    return absl::PermissionDeniedError(
        "tokens file " + Quote(path, 300) + " belongs to uid " + std::to_string(info.st_uid) +
        ", neither root nor the agent's user (uid " + std::to_string(::geteuid()) + "); chown it");
  }
  if (warning && (info.st_mode & S_IROTH)) {
    *warning = "tokens file " + Quote(path, 300) + " is readable by everyone (mode " + mode +
               "); it holds only token hashes, but chmod o-r " + path + " is wiser";
  }
  std::string error;
  auto store = Parse(*text, &error);
  if (!store) return absl::InvalidArgumentError("tokens file " + Quote(path, 300) + ": " + error);
  return std::move(*store);
}

void TokenStore::Add(const std::string& token_sha256_hex, Principal principal) {
  m_by_hash[token_sha256_hex] = std::move(principal);
}

std::optional<Principal> TokenStore::Authenticate(const std::string& token) const {
  if (token.empty()) return std::nullopt;
  const std::string hash = Sha256Hex(token);
  const auto it = m_by_hash.find(hash);
  // Compare once more in constant time, so the map's early exit is the
  // only timing signal, and it reveals nothing about the token itself.
  if (it == m_by_hash.end() || CRYPTO_memcmp(it->first.data(), hash.data(), hash.size()) != 0) {
    return std::nullopt;
  }
  return it->second;
}

std::string NewRandomToken() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // no entropy: refuse to mint
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token = "glt_";
  for (const unsigned char b : bytes) token += kAlphabet[b & 63];
  return token;
}

std::optional<std::vector<DemoToken>> CreateDemoTokens(const std::string& path,
                                                       std::string* error) {
  std::vector<DemoToken> tokens = {{Role::kViewer, "demo-viewer", NewRandomToken()},
                                   {Role::kOperator, "demo-operator", NewRandomToken()},
                                   {Role::kAdmin, "demo-admin", NewRandomToken()}};
  std::string text;
  for (const DemoToken& t : tokens) {
    text += std::string(RoleName(t.role)) + " " + t.identity + " " + t.token + "\n";
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  const int err = ok ? 0 : (errno ? errno : ENOSPC);
  if (fd >= 0 && ::close(fd) != 0 && ok) ok = false;
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) {
    const int why = err ? err : errno;
    ::unlink(tmp.c_str());
    *error = "cannot write demo tokens to '" + path + "': " + std::strerror(why);
    return std::nullopt;
  }
  return tokens;
}

std::optional<std::vector<DemoToken>> LoadOrCreateDemoTokens(const std::string& path,
                                                             std::string* error) {
  struct stat info {};
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxTokensBytes, "demo tokens", &info);
  if (text.ok() && (info.st_mode & 077) == 0) {
    std::istringstream in(*text);
    std::vector<DemoToken> tokens;
    std::string role, identity, token;
    while (in >> role >> identity >> token) {
      const auto parsed = ParseRole(role);
      if (!parsed || token.size() < 20 ||
          !TextProblem("identity", identity, kMaxIdentityBytes, TextKind::kName).empty()) {
        break;
      }
      tokens.push_back({*parsed, identity, token});
    }
    if (tokens.size() == 3) return tokens;
  }
  return CreateDemoTokens(path, error);
}

TokenStore StoreFor(const std::vector<DemoToken>& tokens) {
  TokenStore store;
  for (const DemoToken& t : tokens) store.Add(Sha256Hex(t.token), {t.identity, t.role});
  return store;
}

}  // namespace greylane
