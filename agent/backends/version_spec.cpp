#include "agent/backends/version_spec.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "agent/backends/builtin_backend.h"
#include "agent/backends/builtin_lm_backend.h"
#include "agent/backends/openai_http_backend.h"
#include "common/text.h"

namespace greylane {
namespace fs = std::filesystem;

std::string VersionNameProblem(std::string_view version) {
  if (version.empty()) return "the version name is empty";
  if (version.size() > kMaxVersionNameBytes) {
    return "the version name " + Quote(version) + " is " + std::to_string(version.size()) +
           " bytes; at most " + std::to_string(kMaxVersionNameBytes);
  }
  for (const char c : version) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '+' || c == '@' || c == ':' ||
                    c == '/';
    if (!ok) {
      return "the version name " + Quote(version) +
             " may only hold letters, digits and . _ - + @ : / (it travels in headers, metric "
             "labels and file names)";
    }
  }
  return {};
}

std::string VersionSpecProblem(const VersionSpec& spec, const std::string& models_root) {
  if (std::string problem = VersionNameProblem(spec.version); !problem.empty()) return problem;
  const std::string who = "version '" + spec.version + "'";
  if (!spec.command.empty() || !spec.health_url.empty()) {
    if (std::string problem =
            TextProblem(who + ": command", spec.command, kMaxPathBytes, TextKind::kName);
        !problem.empty()) {
      return problem;
    }
    if (spec.command.empty() || spec.health_url.empty()) {
      return who + ": a supervised version needs both command and health_url";
    }
    if (absl::StatusOr<HttpUrl> url = ParseHttpUrl(spec.health_url); !url.ok()) {
      return who + ": health_url: " + std::string(url.status().message());
    }
    if (spec.ready_timeout < kReadyTimeoutBounds[0] ||
        spec.ready_timeout > kReadyTimeoutBounds[1]) {
      return who + ": ready_timeout_ms must be " + std::to_string(kReadyTimeoutBounds[0].count()) +
             ".." + std::to_string(kReadyTimeoutBounds[1].count()) + ", not " +
             std::to_string(spec.ready_timeout.count());
    }
  }
  // Bounded whatever the backend: a builtin spec stores them too.
  const OipGrpcOptions& limits = spec.upstream;
  if (limits.deadline.count() < 1 || limits.deadline > kMaxUpstreamDeadline) {
    return who + ": deadline_ms must be 1.." + std::to_string(kMaxUpstreamDeadline.count()) +
           ", not " + std::to_string(limits.deadline.count());
  }
  if (limits.connections < 1 || limits.connections > kMaxUpstreamConnections) {
    return who + ": connections must be 1.." + std::to_string(kMaxUpstreamConnections) + ", not " +
           std::to_string(limits.connections);
  }
  if (spec.backend == "builtin" || spec.backend == "builtin-lm") {
    if (std::string problem =
            TextProblem(who + ": model_file", spec.model_file, kMaxPathBytes, TextKind::kName);
        !problem.empty()) {
      return problem;
    }
    if (spec.model_file.empty()) return who + ": a " + spec.backend + " backend needs model_file";
    if (spec.model_file.front() != '/') {
      return who + ": model_file must be an absolute path on the agent's node, not " +
             Quote(spec.model_file);
    }
    if (!models_root.empty()) {
      std::error_code ec;
      const fs::path file = fs::weakly_canonical(spec.model_file, ec);
      const fs::path root = fs::weakly_canonical(models_root, ec);
      const auto [root_end, ignored] =
          std::mismatch(root.begin(), root.end(), file.begin(), file.end());
      if (ec || root_end != root.end()) {
        return who + ": model_file " + Quote(spec.model_file) + " is outside the models root " +
               Quote(models_root) + " (models_root in the config, --models-root)";
      }
    }
    return {};
  }
  if (spec.backend == "openai-http") {
    const OipGrpcOptions& u = spec.upstream;
    for (const auto& [what, text, max] : {std::tuple{": address", &u.address, size_t{1024}},
                                          std::tuple{": upstream_model", &u.model, size_t{256}}}) {
      if (std::string problem = TextProblem(who + what, *text, max, TextKind::kName);
          !problem.empty()) {
        return problem;
      }
    }
    if (absl::StatusOr<HttpUrl> url = ParseHttpUrl(u.address); !url.ok()) {
      return who + ": " + std::string(url.status().message());
    }
    for (const auto& [what, value] : {std::pair{"connect_timeout_ms", spec.http.connect},
                                      std::pair{"first_byte_timeout_ms", spec.http.first_byte},
                                      std::pair{"idle_timeout_ms", spec.http.idle}}) {
      if (value.count() < 1 || value > kMaxUpstreamDeadline) {
        return who + ": " + what + " must be 1.." + std::to_string(kMaxUpstreamDeadline.count()) +
               ", not " + std::to_string(value.count());
      }
    }
    return {};
  }
  if (spec.backend == "oip-grpc") {
    const OipGrpcOptions& u = spec.upstream;
    for (const auto& [what, text, max] :
         {std::tuple{": address", &u.address, size_t{256}},
          std::tuple{": upstream_model", &u.model, size_t{256}},
          std::tuple{": upstream_version", &u.version, size_t{128}}}) {
      if (std::string problem = TextProblem(who + what, *text, max, TextKind::kName);
          !problem.empty()) {
        return problem;
      }
    }
    if (u.address.empty() || u.model.empty()) {
      return who + ": backend oip-grpc needs an address (host:port) and upstream_model";
    }
    return {};
  }
  return who + ": backend must be 'builtin', 'oip-grpc', 'builtin-lm' or 'openai-http', not " +
         Quote(spec.backend);
}

VersionSpec VersionSpecFromProto(const v1::VersionSpec& p) {
  VersionSpec spec;
  spec.version = p.version();
  spec.backend = p.backend();
  spec.model_file = p.model_file();
  spec.upstream.address = p.address();
  spec.upstream.model = p.upstream_model();
  spec.upstream.version = p.upstream_version();
  // Out-of-range values are kept as they are, so validation refuses them
  // rather than a cast hiding them.
  spec.upstream.deadline = p.deadline_ms() ? std::chrono::milliseconds(p.deadline_ms())
                           : p.backend() == "openai-http" ? kDefaultGenerationDeadline
                                                          : std::chrono::milliseconds(1000);
  const HttpUpstreamTimeouts defaults;
  auto or_default = [](uint32_t ms, std::chrono::milliseconds d) {
    return ms ? std::chrono::milliseconds(ms) : d;
  };
  spec.http.connect = or_default(p.connect_timeout_ms(), defaults.connect);
  spec.http.first_byte = or_default(p.first_byte_timeout_ms(), defaults.first_byte);
  spec.http.idle = or_default(p.idle_timeout_ms(), defaults.idle);
  spec.command = p.command();
  spec.health_url = p.health_url();
  spec.ready_timeout = or_default(p.ready_timeout_ms(), VersionSpec{}.ready_timeout);
  spec.upstream.connections = p.connections() == 0 ? 2
                              : p.connections() > static_cast<uint32_t>(kMaxUpstreamConnections)
                                  ? kMaxUpstreamConnections + 1
                                  : static_cast<int>(p.connections());
  return spec;
}

void VersionSpecToProto(const VersionSpec& spec, v1::VersionSpec* out) {
  out->set_version(spec.version);
  out->set_backend(spec.backend);
  out->set_model_file(spec.model_file);
  out->set_address(spec.upstream.address);
  out->set_upstream_model(spec.upstream.model);
  out->set_upstream_version(spec.upstream.version);
  out->set_deadline_ms(static_cast<uint32_t>(spec.upstream.deadline.count()));
  out->set_connections(static_cast<uint32_t>(spec.upstream.connections));
  out->set_command(spec.command);
  out->set_health_url(spec.health_url);
  if (!spec.command.empty()) {
    out->set_ready_timeout_ms(static_cast<uint32_t>(spec.ready_timeout.count()));
  }
  if (spec.backend == "openai-http") {
    out->set_connect_timeout_ms(static_cast<uint32_t>(spec.http.connect.count()));
    out->set_first_byte_timeout_ms(static_cast<uint32_t>(spec.http.first_byte.count()));
    out->set_idle_timeout_ms(static_cast<uint32_t>(spec.http.idle.count()));
  }
}

std::string BackendTarget(const VersionSpec& spec) {
  return spec.backend == "builtin" || spec.backend == "builtin-lm" ? spec.model_file
                                                                   : spec.upstream.address;
}

namespace {
std::string TensorText(const TensorSpec& t) {
  std::string text = Quote(t.name, 64) + " " + t.datatype + " [";
  for (size_t i = 0; i < t.shape.size(); ++i) text += (i ? "," : "") + std::to_string(t.shape[i]);
  return text + "]";
}
std::string TensorsText(const std::vector<TensorSpec>& tensors) {
  std::string text;
  for (const TensorSpec& t : tensors) text += (text.empty() ? "" : ", ") + TensorText(t);
  return text.empty() ? "nothing" : text;
}
bool Fits(const TensorSpec& a, const TensorSpec& b) {
  if (a.name != b.name || a.datatype != b.datatype || a.shape.size() != b.shape.size())
    return false;
  for (size_t i = 0; i < a.shape.size(); ++i) {
    if (a.shape[i] != b.shape[i] && a.shape[i] != -1 && b.shape[i] != -1) return false;
  }
  return true;
}
}  // namespace

std::string SignatureProblem(const BackendDescription& baseline,
                             const BackendDescription& candidate) {
  if (baseline.inputs.empty() || candidate.inputs.empty()) return {};
  for (const auto& [what, b, c] : {std::tuple{"takes", &baseline.inputs, &candidate.inputs},
                                   std::tuple{"answers", &baseline.outputs, &candidate.outputs}}) {
    bool same = b->size() == c->size();
    for (size_t i = 0; same && i < b->size(); ++i) same = Fits((*b)[i], (*c)[i]);
    if (!same) {
      return std::string("the candidate ") + what + " " + TensorsText(*c) + " where the baseline " +
             what + " " + TensorsText(*b) + ": the baseline's clients could not use it";
    }
  }
  return {};
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const VersionSpec& spec) {
  if (spec.backend == "builtin") {
    absl::StatusOr<std::unique_ptr<BuiltinBackend>> backend = BuiltinBackend::Open(spec.model_file);
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<Backend>(std::move(*backend));
  }
  if (spec.backend == "oip-grpc") return std::make_unique<OipGrpcBackend>(spec.upstream);
  if (spec.backend == "openai-http") {
    OpenAiHttpOptions options;
    options.base_url = spec.upstream.address;
    options.model = spec.upstream.model;
    options.connect_timeout = spec.http.connect;
    options.first_byte_timeout = spec.http.first_byte;
    options.idle_timeout = spec.http.idle;
    options.total_timeout = spec.upstream.deadline;
    options.connections = spec.upstream.connections;
    absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> backend = OpenAiHttpBackend::Create(options);
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<Backend>(std::move(*backend));
  }
  if (spec.backend == "builtin-lm") {
    absl::StatusOr<std::unique_ptr<BuiltinLmBackend>> backend =
        BuiltinLmBackend::Open(spec.model_file);
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<Backend>(std::move(*backend));
  }
  return absl::InvalidArgumentError("unknown backend kind " + Quote(spec.backend));
}

}  // namespace greylane
