#include "agent/server/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <type_traits>

#include "agent/backends/network_threads.h"
#include "agent/routing/traffic_split.h"
#include "common/address.h"
#include "common/files.h"
#include "common/text.h"

namespace greylane {
namespace fs = std::filesystem;

namespace {

// What a key of type T takes, for the message when it got something else.
template <typename T>
std::string Expected() {
  if constexpr (std::is_same_v<T, bool>) {
    return "true or false";
  } else if constexpr (std::is_integral_v<T>) {
    return "a whole number";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "a number";
  } else {
    return "a single value";
  }
}

// `prefix` names the map the key is in ("candidate."), as range errors do.
template <typename T>
bool ReadScalar(const YAML::Node& node, const std::string& key, T* out, std::string* error,
                const std::string& prefix = {}) {
  const YAML::Node value = node[key];
  if (!value) return true;
  try {
    if (!value.IsScalar()) throw YAML::BadConversion(value.Mark());
    *out = value.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    const std::string where =
        "'" + prefix + key + "' at line " + std::to_string(value.Mark().line + 1);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // Digits that did not convert: more than the type holds.
      const std::string& text = value.IsScalar() ? value.Scalar() : std::string();
      const size_t digits_from = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
      if (text.size() > digits_from &&
          text.find_first_not_of("0123456789", digits_from) == std::string::npos) {
        *error = where + " is out of range: " + Quote(text, 64);
        return false;
      }
    }
    *error = where + " must be " + Expected<T>() + ", not " +
             (value.IsScalar() ? Quote(value.Scalar(), 64) : std::string("a list or a map"));
    return false;
  }
}

// Unknown keys are errors (a typo must not fall back to a default), and so
// are repeated ones: yaml-cpp would silently keep the first.
bool CheckKeys(const YAML::Node& node, const std::set<std::string>& known, const std::string& where,
               std::string* error) {
  std::set<std::string> seen;
  for (const auto& entry : node) {
    std::string key;
    try {
      key = entry.first.as<std::string>();
    } catch (const YAML::Exception&) {
      *error = "a key in " + where + " (line " + std::to_string(entry.first.Mark().line + 1) +
               ") is not a plain word";
      return false;
    }
    const std::string line = std::to_string(entry.first.Mark().line + 1);
    if (!known.count(key)) {
      *error = "unknown key " + Quote(key) + " in " + where + " (line " + line + ")";
      return false;
    }
    if (!seen.insert(key).second) {
      *error = "key " + Quote(key) + " appears twice in " + where + " (again at line " + line +
               "); say it once";
      return false;
    }
  }
  return true;
}

bool ParseRequestLog(const YAML::Node& node, const std::string& base_dir, RequestLogConfig* out,
                     std::string* error) {
  if (!node) return true;
  if (!node.IsMap()) {
    *error = "'request_log' must be a map with path, sample, max_mb, keep";
    return false;
  }
  const std::string in = "request_log.";
  if (!CheckKeys(node, {"path", "sample", "max_mb", "keep"}, "request_log", error) ||
      !ReadScalar(node, "path", &out->path, error, in) ||
      !ReadScalar(node, "sample", &out->sample, error, in) ||
      !ReadScalar(node, "max_mb", &out->max_mb, error, in) ||
      !ReadScalar(node, "keep", &out->keep, error, in)) {
    return false;
  }
  if (!out->path.empty() && out->path != "-" && fs::path(out->path).is_relative() &&
      !base_dir.empty()) {
    out->path = (fs::path(base_dir) / out->path).lexically_normal().string();
  }
  return true;
}

bool ParseAnalysis(const YAML::Node& node, AnalysisPolicy* p, std::string* error) {
  if (!node) return true;
  if (!node.IsMap()) {
    *error = "'analysis' must be a map (see packaging/agent.example.yaml)";
    return false;
  }
  if (!CheckKeys(node,
                 {"armed",
                  "window_seconds",
                  "min_requests",
                  "confidence",
                  "sustain_seconds",
                  "latency_ratio",
                  "latency_min_ms",
                  "p99_warning_ms",
                  "p99_ceiling_ms",
                  "tail_ratio",
                  "error_margin",
                  "error_ceiling",
                  "breaker_failures",
                  "breaker_cooldown_seconds",
                  "candidate_rate_limit",
                  "baseline_rate_limit",
                  "accuracy_margin",
                  "prediction_divergence",
                  "class_share_margin",
                  "ttft_ratio",
                  "itl_ratio"},
                 "analysis", error)) {
    return false;
  }
  int64_t window = p->window_seconds, sustain = p->sustain_seconds;
  int64_t breaker = p->breaker_failures, cooldown = p->breaker_cooldown_seconds;
  int64_t min_requests = static_cast<int64_t>(p->min_requests);
  const std::string in = "analysis.";
  if (!ReadScalar(node, "armed", &p->armed, error, in) ||
      !ReadScalar(node, "window_seconds", &window, error, in) ||
      !ReadScalar(node, "min_requests", &min_requests, error, in) ||
      !ReadScalar(node, "confidence", &p->confidence, error, in) ||
      !ReadScalar(node, "sustain_seconds", &sustain, error, in) ||
      !ReadScalar(node, "latency_ratio", &p->latency_ratio, error, in) ||
      !ReadScalar(node, "latency_min_ms", &p->latency_min_ms, error, in) ||
      !ReadScalar(node, "p99_warning_ms", &p->p99_warning_ms, error, in) ||
      !ReadScalar(node, "p99_ceiling_ms", &p->p99_ceiling_ms, error, in) ||
      !ReadScalar(node, "tail_ratio", &p->tail_ratio, error, in) ||
      !ReadScalar(node, "error_margin", &p->error_margin, error, in) ||
      !ReadScalar(node, "error_ceiling", &p->error_ceiling, error, in) ||
      !ReadScalar(node, "breaker_failures", &breaker, error, in) ||
      !ReadScalar(node, "breaker_cooldown_seconds", &cooldown, error, in) ||
      !ReadScalar(node, "candidate_rate_limit", &p->candidate_rate_limit, error, in) ||
      !ReadScalar(node, "baseline_rate_limit", &p->baseline_rate_limit, error, in) ||
      !ReadScalar(node, "accuracy_margin", &p->accuracy_margin, error, in) ||
      !ReadScalar(node, "prediction_divergence", &p->prediction_divergence, error, in) ||
      !ReadScalar(node, "class_share_margin", &p->class_share_margin, error, in) ||
      !ReadScalar(node, "ttft_ratio", &p->ttft_ratio, error, in) ||
      !ReadScalar(node, "itl_ratio", &p->itl_ratio, error, in)) {
    return false;
  }
  auto clamp_int = [](int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, -1, 1 << 30)); };
  p->window_seconds = clamp_int(window);
  p->sustain_seconds = clamp_int(sustain);
  p->breaker_failures = clamp_int(breaker);
  p->breaker_cooldown_seconds = clamp_int(cooldown);
  p->min_requests = min_requests < 0 ? 0 : static_cast<uint64_t>(min_requests);
  if (std::string problem = ValidatePolicy(p); !problem.empty()) {
    *error = "analysis: " + problem;
    return false;
  }
  return true;
}

bool ParseSlot(const YAML::Node& node, const std::string& name, const std::string& base_dir,
               VersionSpec* slot, std::string* error) {
  if (!node || !node.IsMap()) {
    *error = "'" + name + "' must be a map with version and backend";
    return false;
  }
  if (!CheckKeys(
          node,
          {"version", "backend", "model_file", "address", "upstream_model", "upstream_version",
           "deadline_ms", "connections", "connect_timeout_ms", "first_byte_timeout_ms",
           "idle_timeout_ms", "command", "health_url", "ready_timeout_ms"},
          "'" + name + "'", error)) {
    return false;
  }
  int64_t deadline_ms = 0;  // by backend, below
  int64_t connections = 2;
  int64_t timeouts_ms[3] = {slot->http.connect.count(), slot->http.first_byte.count(),
                            slot->http.idle.count()};
  int64_t ready_timeout_ms = slot->ready_timeout.count();
  const std::string in = name + ".";
  if (!ReadScalar(node, "version", &slot->version, error, in) ||
      !ReadScalar(node, "backend", &slot->backend, error, in) ||
      !ReadScalar(node, "model_file", &slot->model_file, error, in) ||
      !ReadScalar(node, "address", &slot->upstream.address, error, in) ||
      !ReadScalar(node, "upstream_model", &slot->upstream.model, error, in) ||
      !ReadScalar(node, "upstream_version", &slot->upstream.version, error, in) ||
      !ReadScalar(node, "deadline_ms", &deadline_ms, error, in) ||
      !ReadScalar(node, "connections", &connections, error, in) ||
      !ReadScalar(node, "connect_timeout_ms", &timeouts_ms[0], error, in) ||
      !ReadScalar(node, "first_byte_timeout_ms", &timeouts_ms[1], error, in) ||
      !ReadScalar(node, "idle_timeout_ms", &timeouts_ms[2], error, in) ||
      !ReadScalar(node, "command", &slot->command, error, in) ||
      !ReadScalar(node, "health_url", &slot->health_url, error, in) ||
      !ReadScalar(node, "ready_timeout_ms", &ready_timeout_ms, error, in)) {
    return false;
  }
  if (!node["deadline_ms"]) {
    deadline_ms = slot->backend == "openai-http" ? kDefaultGenerationDeadline.count() : 1000;
  }
  // Bounded by VersionSpecProblem below; clamped here only so the cast is safe.
  slot->http.connect = std::chrono::milliseconds(std::clamp<int64_t>(timeouts_ms[0], 0, INT32_MAX));
  slot->http.first_byte =
      std::chrono::milliseconds(std::clamp<int64_t>(timeouts_ms[1], 0, INT32_MAX));
  slot->http.idle = std::chrono::milliseconds(std::clamp<int64_t>(timeouts_ms[2], 0, INT32_MAX));
  // Checked here, before the clamp below, so the message quotes what was written.
  if (node["ready_timeout_ms"] && (ready_timeout_ms < kReadyTimeoutBounds[0].count() ||
                                   ready_timeout_ms > kReadyTimeoutBounds[1].count())) {
    *error = "'" + name + ".ready_timeout_ms' must be " +
             std::to_string(kReadyTimeoutBounds[0].count()) + ".." +
             std::to_string(kReadyTimeoutBounds[1].count()) + ", not " +
             std::to_string(ready_timeout_ms);
    return false;
  }
  slot->ready_timeout =
      std::chrono::milliseconds(std::clamp<int64_t>(ready_timeout_ms, 0, INT32_MAX));
  if (node["ready_timeout_ms"] && !node["command"]) {
    *error = "'" + name + ".ready_timeout_ms' is for a version the agent runs: give command too";
    return false;
  }
  if (deadline_ms < 1 || deadline_ms > kMaxUpstreamDeadline.count()) {
    *error = "'" + name + ".deadline_ms' must be 1.." +
             std::to_string(kMaxUpstreamDeadline.count()) + ", not " + std::to_string(deadline_ms);
    return false;
  }
  if (connections < 1 || connections > kMaxUpstreamConnections) {
    *error = "'" + name + ".connections' must be 1.." + std::to_string(kMaxUpstreamConnections) +
             ", not " + std::to_string(connections);
    return false;
  }
  slot->upstream.deadline = std::chrono::milliseconds(deadline_ms);
  slot->upstream.connections = static_cast<int>(connections);
  // Relative paths are the config file's folder's (the working folder's
  // when there is no file): the agent keeps only absolute ones.
  if ((slot->backend == "builtin" || slot->backend == "builtin-lm") && !slot->model_file.empty() &&
      fs::path(slot->model_file).is_relative()) {
    std::error_code ec;
    const fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
    slot->model_file = (base / slot->model_file).lexically_normal().string();
  }
  if (std::string problem = VersionSpecProblem(*slot); !problem.empty()) {
    *error = "'" + name + "': " + problem;
    return false;
  }
  return true;
}

std::string DurationProblem(const char* key, std::chrono::milliseconds value,
                            const std::chrono::milliseconds (&bounds)[2]) {
  if (value >= bounds[0] && value <= bounds[1]) return {};
  return std::string(key) + " must be " + std::to_string(bounds[0].count()) + ".." +
         std::to_string(bounds[1].count()) + " ms, not " + std::to_string(value.count());
}

// Reads a millisecond key within its bounds; the error quotes what was written.
bool ReadMillis(const YAML::Node& root, const char* key, std::chrono::milliseconds* out,
                const std::chrono::milliseconds (&bounds)[2], std::string* error) {
  int64_t value = out->count();
  if (!ReadScalar(root, key, &value, error)) return false;
  if (value < bounds[0].count() || value > bounds[1].count()) {
    *error = std::string(key) + " must be " + std::to_string(bounds[0].count()) + ".." +
             std::to_string(bounds[1].count()) + " ms, not " + std::to_string(value);
    return false;
  }
  *out = std::chrono::milliseconds(value);
  return true;
}

}  // namespace

std::optional<AgentConfig> ParseConfigYaml(const std::string& yaml, const std::string& base_dir,
                                           std::string* error) {
  if (yaml.size() > kMaxConfigBytes || !IsValidUtf8(yaml)) {
    *error = TextProblem("the config", yaml, kMaxConfigBytes, TextKind::kProse);
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    *error = std::string("the config is not valid YAML: ") + e.what();
    return std::nullopt;
  }
  if (!root.IsMap()) {
    *error = "the config must be a YAML map";
    return std::nullopt;
  }
  // clang-format off
  if (!CheckKeys(root,
                 {"agent_id", "model", "control_listen", "data_listen", "http_listen", "state_dir",
                  "sticky_header", "initial_candidate_basis_points", "probe_interval_ms",
                  "probe_timeout_ms", "drain_timeout_ms", "tokens_file", "models_root",
                  "history_retention_days", "history_max_mb", "baseline", "candidate", "analysis",
                  "request_log", "network_threads", "pin_network_threads",
                  "http_request_timeout_ms", "http_idle_timeout_ms", "http_write_timeout_ms"},
                 "the config", error)) {
    return std::nullopt;
  }
  // clang-format on
  AgentConfig config;
  int64_t initial_bp = 0;
  std::string pinning = "auto";
  if (!ReadScalar(root, "agent_id", &config.agent_id, error) ||
      !ReadScalar(root, "model", &config.model_name, error) ||
      !ReadScalar(root, "control_listen", &config.control_listen, error) ||
      !ReadScalar(root, "data_listen", &config.data_listen, error) ||
      !ReadScalar(root, "http_listen", &config.http_listen, error) ||
      !ReadScalar(root, "state_dir", &config.state_dir, error) ||
      !ReadScalar(root, "tokens_file", &config.tokens_file, error) ||
      !ReadScalar(root, "models_root", &config.models_root, error) ||
      !ReadScalar(root, "sticky_header", &config.sticky_header, error) ||
      !ReadScalar(root, "initial_candidate_basis_points", &initial_bp, error) ||
      !ReadScalar(root, "history_retention_days", &config.history_retention_days, error) ||
      !ReadScalar(root, "history_max_mb", &config.history_max_mb, error) ||
      !ReadScalar(root, "network_threads", &config.network_threads, error) ||
      !ReadScalar(root, "pin_network_threads", &pinning, error) ||
      !ReadMillis(root, "probe_interval_ms", &config.probe_interval, kProbeIntervalBounds, error) ||
      !ReadMillis(root, "probe_timeout_ms", &config.probe_timeout, kProbeTimeoutBounds, error) ||
      !ReadMillis(root, "drain_timeout_ms", &config.drain_timeout, kDrainTimeoutBounds, error) ||
      !ReadMillis(root, "http_request_timeout_ms", &config.http_request_timeout,
                  kHttpRequestTimeoutBounds, error) ||
      !ReadMillis(root, "http_idle_timeout_ms", &config.http_idle_timeout, kHttpIdleTimeoutBounds,
                  error) ||
      !ReadMillis(root, "http_write_timeout_ms", &config.http_write_timeout,
                  kHttpWriteTimeoutBounds, error)) {
    return std::nullopt;
  }
  if (initial_bp < 0 || initial_bp > int64_t{kMaxBasisPoints}) {
    *error = "initial_candidate_basis_points must be 0..10000, not " + std::to_string(initial_bp);
    return std::nullopt;
  }
  config.initial_candidate_basis_points = static_cast<uint32_t>(initial_bp);
  if (const auto pin = ParseCpuPinning(pinning)) {
    config.pin_network_threads = *pin;
  } else {
    *error = "pin_network_threads must be auto, true or false, not " + Quote(pinning, 40);
    return std::nullopt;
  }
  for (std::string* path : {&config.tokens_file, &config.models_root}) {
    if (!path->empty() && fs::path(*path).is_relative() && !base_dir.empty()) {
      *path = (fs::path(base_dir) / *path).lexically_normal().string();
    }
  }
  for (char& c : config.sticky_header) c = static_cast<char>(std::tolower(c));
  config.http_listen_given = static_cast<bool>(root["http_listen"]);
  if (!ParseSlot(root["baseline"], "baseline", base_dir, &config.baseline, error) ||
      !ParseSlot(root["candidate"], "candidate", base_dir, &config.candidate, error) ||
      !ParseAnalysis(root["analysis"], &config.analysis, error) ||
      !ParseRequestLog(root["request_log"], base_dir, &config.request_log, error)) {
    return std::nullopt;
  }
  if (config.baseline.version == config.candidate.version) {
    *error = "baseline and candidate must have different versions (both are '" +
             config.baseline.version + "')";
    return std::nullopt;
  }
  return config;
}

AgentConfig DemoConfig(const std::string& models_dir, const std::string& pair) {
  AgentConfig config;
  config.initial_candidate_basis_points = 500;  // a 5 % canary
  config.demo_tokens = true;
  const bool lm = pair == "lm";
  config.model_name = lm ? "lm" : "digits";
  const char* kind = lm ? "builtin-lm" : "builtin";
  for (auto [spec, version] :
       {std::pair{&config.baseline, "v1"}, std::pair{&config.candidate, "v2"}}) {
    spec->version = version;
    spec->backend = kind;
    spec->model_file =
        (fs::path(models_dir) / (config.model_name + "-" + version + ".glm")).string();
  }
  config.analysis.armed = true;  // `greylane-ctl drill` shows an automatic rollback
  if (lm) {
    // Streams are judged by what users feel: a first token or a stream
    // twice as slow fails the candidate as a slower request would. v2 is
    // the larger model (1.7x v1's times by design) and passes; a drill's
    // added latency does not.
    config.analysis.ttft_ratio = 2.0;
    config.analysis.itl_ratio = 2.0;
  }
  return config;
}

std::string ValidateConfig(const AgentConfig& config) {
  struct Plane {
    const char* name;
    const std::string& address;
    const TlsFiles& tls;
  };
  const RequestLogConfig& log = config.request_log;
  if (!(log.sample >= 0 && log.sample <= 1)) {
    return "the request log's sample must be 0..1 (the share of successes written), not " +
           std::to_string(log.sample);
  }
  if (log.max_mb < 1 || log.max_mb > (int64_t{1} << 20)) {
    return "the request log's max_mb must be 1..1048576, not " + std::to_string(log.max_mb);
  }
  if (log.keep < 0 || log.keep > 100) {
    return "the request log's keep must be 0..100 rotated files, not " + std::to_string(log.keep);
  }
  if (config.http_tls.cert.empty() != config.http_tls.key.empty()) {
    return "the HTTP plane needs both --http-tls-cert and --http-tls-key";
  }
  if (!config.http_listen.empty()) {
    std::string host;
    if (!ParseHostPort(config.http_listen, &host)) {
      return "--http-listen " + Quote(config.http_listen) +
             " is not host:port (e.g. 127.0.0.1:8000), or empty for no HTTP plane";
    }
    if (!IsLoopbackAddress(config.http_listen) && !config.insecure && !config.http_tls.Enabled()) {
      return "refusing to serve the HTTP data plane on " + config.http_listen +
             " in plaintext: give --http-tls-cert and --http-tls-key, listen on a loopback "
             "address, give --http-listen '' to turn it off, or pass --insecure to accept the "
             "risk.";
    }
  }
  for (const Plane& plane : {Plane{"control", config.control_listen, config.control_tls},
                             Plane{"data", config.data_listen, config.data_tls}}) {
    std::string host;
    if (!ParseHostPort(plane.address, &host)) {
      return std::string("--") + plane.name + "-listen " + Quote(plane.address) +
             " is not host:port (e.g. 127.0.0.1:7070 or [::1]:7070)";
    }
    if (plane.tls.cert.empty() != plane.tls.key.empty()) {
      return std::string("the ") + plane.name + " plane needs both a TLS certificate and key";
    }
    if (!IsLoopbackAddress(plane.address) && !plane.tls.Enabled() && !config.insecure) {
      return std::string("refusing to serve the ") + plane.name + " plane on " + plane.address +
             " in plaintext: anyone on the network could use it. Give it a certificate (" +
             (std::string(plane.name) == "control" ? "--tls-cert/--tls-key"
                                                   : "--data-tls-cert/--data-tls-key") +
             "), listen on a loopback address, or pass --insecure to accept the risk.";
    }
  }
  if (config.initial_candidate_basis_points > kMaxBasisPoints) {
    return "initial_candidate_basis_points must be 0..10000";
  }
  for (const std::string& problem :
       {DurationProblem("probe_interval_ms", config.probe_interval, kProbeIntervalBounds),
        DurationProblem("probe_timeout_ms", config.probe_timeout, kProbeTimeoutBounds),
        DurationProblem("drain_timeout_ms", config.drain_timeout, kDrainTimeoutBounds),
        DurationProblem("http_request_timeout_ms", config.http_request_timeout,
                        kHttpRequestTimeoutBounds),
        DurationProblem("http_idle_timeout_ms", config.http_idle_timeout, kHttpIdleTimeoutBounds),
        DurationProblem("http_write_timeout_ms", config.http_write_timeout,
                        kHttpWriteTimeoutBounds)}) {
    if (!problem.empty()) return problem;
  }
  if (config.ring_frames < kRingFramesBounds[0] || config.ring_frames > kRingFramesBounds[1]) {
    return "the metrics ring must hold " + std::to_string(kRingFramesBounds[0]) + ".." +
           std::to_string(kRingFramesBounds[1]) + " frames";
  }
  if (config.history_retention_days < 1 || config.history_retention_days > 3650) {
    return "history_retention_days must be 1..3650, not " +
           std::to_string(config.history_retention_days);
  }
  if (config.network_threads < 0 || config.network_threads > kMaxNetworkThreads) {
    return "network_threads must be 1.." + std::to_string(kMaxNetworkThreads) +
           " (or 0 for one per core, 2..8), not " + std::to_string(config.network_threads);
  }
  if (config.history_max_mb < 16 || config.history_max_mb > 1024 * 1024) {
    return "history_max_mb must be 16..1048576 (MiB), not " + std::to_string(config.history_max_mb);
  }
  for (const auto& [what, text] :
       {std::pair{"agent_id", &config.agent_id}, std::pair{"model", &config.model_name}}) {
    if (std::string problem = TextProblem(what, *text, 256, TextKind::kName); !problem.empty()) {
      return problem;
    }
  }
  if (config.model_name.empty()) return "model must not be empty";
  if (config.sticky_header.empty() || config.sticky_header.size() > 128 ||
      config.sticky_header.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
          std::string::npos) {
    return "sticky_header " + Quote(config.sticky_header) +
           " must be a lower-case header name (letters, digits, - _ .)";
  }
  for (const VersionSpec* spec : {&config.baseline, &config.candidate}) {
    if (std::string problem = VersionSpecProblem(*spec, config.models_root); !problem.empty()) {
      return problem;
    }
  }
  if (config.baseline.version == config.candidate.version) {
    return "baseline and candidate must have different versions (both are '" +
           config.baseline.version + "')";
  }
  if (config.tokens_file.empty() && !config.demo_tokens) {
    return "no tokens: give --tokens FILE (or tokens_file in the config) with lines "
           "`<sha256 of the token> <identity> <viewer|operator|admin>`; every control call "
           "must carry one of these tokens";
  }
  if (!config.client_ca.empty() && !config.control_tls.Enabled()) {
    return "--tls-client-ca needs --tls-cert/--tls-key: mutual TLS is TLS first";
  }
  if (!config.data_client_ca.empty() && !config.data_tls.Enabled()) {
    return "--data-tls-client-ca needs --data-tls-cert/--data-tls-key: mutual TLS is TLS first";
  }
  return {};
}

std::string UsageText() {
  return R"(usage: greylane-agent (--demo | --config FILE) [flags]
       greylane-agent audit verify --state-dir DIR
       greylane-agent audit export --state-dir DIR --format csv|jsonl
       greylane-agent serve-model --model FILE.glm [--listen ADDR]   (see serve-model --help)

Runs the canary pair (baseline and candidate) of one model on this node:
serves Open Inference Protocol gRPC on the data plane, splits traffic by
weight (sticky per user), measures each version every second, and answers
the greylane.v1.Agent control API.

  --demo                  built-in digits pair v1 (baseline) / v2 (candidate), 5 % canary
  --config FILE           YAML config (see packaging/agent.example.yaml)
  --control-listen ADDR   control API address        (default 127.0.0.1:7070)
  --demo-pair digits|lm   which demo pair: the digits classifiers (default) or the
                          built-in language models (OpenAI API on --http-listen)
  --data-listen ADDR      inference (OIP gRPC) address (default 127.0.0.1:8001)
  --http-listen ADDR      HTTP data plane: OpenAI API, OIP REST health and
                          metadata, /metrics (default 127.0.0.1:8000; '' for none)
                          port 0 picks a free port; the chosen ones are printed
  --state-dir DIR         audit trail and release state (created if missing;
                          --demo without it: a temporary folder, removed on stop);
                          one agent per state dir (it is locked)
  --tokens FILE           who may call: lines `sha256(token) identity role`,
                          roles viewer | operator | admin (--demo mints its own
                          into <state-dir>/demo-tokens, mode 0600); refused when
                          group- or world-writable
  --agent-id ID           name shown in consoles     (default: the node name)
  --models-dir DIR        where --demo finds its model files
  --models-root DIR       built-in model files must lie under DIR
  --recover-state         rebuild a missing or unreadable release state from the
                          audit trail's last row and the config's version specs
  --tls-cert F --tls-key F            TLS for the control plane
  --tls-client-ca F       mutual TLS: require client certificates from this CA
  --data-tls-cert F --data-tls-key F  TLS for the data plane
  --data-tls-client-ca F  mutual TLS on the data plane
  --http-tls-cert F --http-tls-key F  TLS (HTTPS) for the HTTP data plane
  --request-log FILE|-    one JSON line per data-plane request (version, slot,
                          status, latency, TTFT, tokens; user and input hashed),
                          to FILE (rotated at 64 MiB, 5 kept) or stdout
  --request-log-sample R  share of successful requests logged, 0..1 (default 1);
                          failures are always logged
  --network-threads N     event loops for HTTP traffic (default: one per core, 2..8)
  --pin-network-threads auto|yes|no
                          hold each loop's thread to a CPU of its own; auto
                          (the default) pins when there are no more CPUs
                          than loops
  --insecure              allow plaintext on a non-loopback address
  --ready-file FILE       write "control=ADDR\ndata=ADDR\nhttp=ADDR\n" once all listen
  --help, --version
)";
}

std::optional<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                            std::string* error) {
  CommandLine cl;
  std::string config_file, models_dir;
  // Flags given on the command line override the config file's values.
  std::map<std::string, std::string> overrides;
  CLI::App app("greylane-agent");
  app.set_help_flag();  // --help prints UsageText(), which groups the flags for people
  app.add_flag("--help,-h", cl.help);
  app.add_flag("--version", cl.version);
  app.add_flag("--demo", cl.demo);
  app.add_flag("--insecure", cl.config.insecure);
  app.add_flag("--recover-state", cl.config.recover_state);
  app.add_option("--config", config_file);
  app.add_option("--models-dir", models_dir);
  app.add_option("--ready-file", cl.ready_file);
  std::string demo_pair = "digits";
  app.add_option("--demo-pair", demo_pair);
  for (const char* flag :
       {"--control-listen", "--data-listen", "--http-listen", "--state-dir", "--agent-id",
        "--models-root", "--tls-cert", "--tls-key", "--data-tls-cert", "--data-tls-key", "--tokens",
        "--tls-client-ca", "--data-tls-client-ca", "--http-tls-cert", "--http-tls-key",
        "--request-log", "--request-log-sample", "--network-threads", "--pin-network-threads"}) {
    app.add_option(flag, overrides[flag]);
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ExtrasError&) {
    const std::vector<std::string> extra = app.remaining();
    *error = "unknown flag " + Quote(extra.empty() ? "" : extra.front()) + " (see --help)";
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    const std::string what = e.what();
    *error =
        what.find("required") != std::string::npos || what.find("expected") != std::string::npos
            ? what.substr(0, what.find(':')) + " needs a value (see --help)"
            : what + " (see --help)";
    return std::nullopt;
  }
  if (cl.help || cl.version) return cl;
  if (cl.demo == !config_file.empty()) {
    *error = "give exactly one of --demo or --config FILE (see --help)";
    return std::nullopt;
  }
  const bool insecure = cl.config.insecure;
  const bool recover = cl.config.recover_state;
  if (demo_pair != "digits" && demo_pair != "lm") {
    *error = "--demo-pair must be digits or lm, not " + Quote(demo_pair);
    return std::nullopt;
  }
  if (cl.demo) {
    cl.config = DemoConfig(FindModelsDir(models_dir), demo_pair);
  } else {
    absl::StatusOr<std::string> text = ReadRegularFile(config_file, kMaxConfigBytes, "config file");
    if (!text.ok()) {
      *error = std::string(text.status().message());
      return std::nullopt;
    }
    auto parsed = ParseConfigYaml(*text, fs::path(config_file).parent_path().string(), error);
    if (!parsed) {
      *error = config_file + ": " + *error;
      return std::nullopt;
    }
    cl.config = std::move(*parsed);
  }
  cl.config.insecure = insecure;
  cl.config.recover_state = recover;
  AgentConfig& c = cl.config;
  const std::map<std::string, std::string*> targets = {{"--control-listen", &c.control_listen},
                                                       {"--data-listen", &c.data_listen},
                                                       {"--http-listen", &c.http_listen},
                                                       {"--state-dir", &c.state_dir},
                                                       {"--agent-id", &c.agent_id},
                                                       {"--models-root", &c.models_root},
                                                       {"--tls-cert", &c.control_tls.cert},
                                                       {"--tls-key", &c.control_tls.key},
                                                       {"--data-tls-cert", &c.data_tls.cert},
                                                       {"--data-tls-key", &c.data_tls.key},
                                                       {"--tokens", &c.tokens_file},
                                                       {"--tls-client-ca", &c.client_ca},
                                                       {"--data-tls-client-ca", &c.data_client_ca},
                                                       {"--http-tls-cert", &c.http_tls.cert},
                                                       {"--http-tls-key", &c.http_tls.key},
                                                       {"--request-log", &c.request_log.path}};
  for (const auto& [flag, target] : targets) {
    if (app.count(flag)) *target = overrides[flag];
  }
  if (app.count("--http-listen")) c.http_listen_given = true;
  if (app.count("--pin-network-threads")) {
    const std::string& text = overrides["--pin-network-threads"];
    const auto pin = ParseCpuPinning(text);
    if (!pin) {
      *error = "--pin-network-threads takes auto, yes or no, not " + Quote(text, 40);
      return std::nullopt;
    }
    c.pin_network_threads = *pin;
  }
  if (app.count("--network-threads")) {
    const std::string& text = overrides["--network-threads"];
    char* end = nullptr;
    c.network_threads = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') {
      *error = "--network-threads takes a count, not " + Quote(text);
      return std::nullopt;
    }
  }
  if (app.count("--request-log-sample")) {
    const std::string& text = overrides["--request-log-sample"];
    char* end = nullptr;
    c.request_log.sample = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') {
      *error = "--request-log-sample takes a share 0..1, not " + Quote(text);
      return std::nullopt;
    }
  }
  if (std::string problem = ValidateConfig(cl.config); !problem.empty()) {
    *error = problem;
    return std::nullopt;
  }
  return cl;
}

}  // namespace greylane
