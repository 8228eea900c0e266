#pragma once
// How a client reaches an agent: TLS channel credentials from files and
// the bearer header. One implementation for greylane-ctl, greylane-watch,
// the benchmarks and the console, so they fail alike: a named file that
// cannot be read is always an error, never a silent fall back to the
// system's roots or to plaintext.
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"

namespace greylane {

struct ClientTlsFiles {
  bool tls = false;  // also implied by any file below
  std::string ca;    // empty with tls: the system's trusted roots
  std::string cert;  // mutual TLS: both cert and key
  std::string key;
  bool Enabled() const { return tls || !ca.empty() || !cert.empty() || !key.empty(); }
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientTlsFiles& files);

// A bearer token may travel in plaintext only to a loopback address, the
// same rule the agent applies to what it serves, unless the caller accepts
// the risk (--insecure).
absl::Status CheckTokenTransport(const std::string& address, const ClientTlsFiles& files,
                                 bool allow_plaintext);

inline constexpr char kAuthorizationHeader[] = "authorization";
std::string BearerHeader(std::string_view token);  // "Bearer <token>"
// "Bearer <token>" (scheme case-insensitive) -> token; empty when malformed.
std::string BearerToken(std::string_view authorization);

}  // namespace greylane
