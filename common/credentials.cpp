#include "common/credentials.h"

#include <cctype>

#include "common/address.h"
#include "common/files.h"
#include "common/text.h"

namespace greylane {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientTlsFiles& files) {
  if (!files.Enabled()) return grpc::InsecureChannelCredentials();
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        "mutual TLS needs both a client certificate and its key (one was given without the "
        "other)");
  }
  grpc::SslCredentialsOptions tls;
  struct Wanted {
    const std::string& path;
    std::string* field;
    const char* what;
  };
  for (const Wanted& w : {Wanted{files.ca, &tls.pem_root_certs, "the CA file"},
                          Wanted{files.cert, &tls.pem_cert_chain, "the client certificate"},
                          Wanted{files.key, &tls.pem_private_key, "the client key"}}) {
    if (w.path.empty()) continue;
    absl::StatusOr<std::string> text = ReadRegularFile(w.path, kMaxPemBytes, w.what);
    if (!text.ok()) return text.status();
    if (text->find("-----BEGIN ") == std::string::npos) {
      return absl::InvalidArgumentError(std::string(w.what) + " '" + w.path +
                                        "' holds no PEM block (-----BEGIN ...)");
    }
    *w.field = std::move(*text);
  }
  return grpc::SslCredentials(tls);
}

absl::Status CheckTokenTransport(const std::string& address, const ClientTlsFiles& files,
                                 bool allow_plaintext) {
  if (files.Enabled() || allow_plaintext || IsLoopbackAddress(address)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "refusing to send a token in plaintext to " + Quote(address, 200) +
      ": anyone on the way could use it. Give --ca FILE (or --tls for the system's roots), or "
      "--insecure to accept the risk");
}

std::string BearerHeader(std::string_view token) {
  return "Bearer " + std::string(token);
}

std::string BearerToken(std::string_view authorization) {
  static constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  return std::string(authorization.substr(kScheme.size()));
}

}  // namespace greylane
