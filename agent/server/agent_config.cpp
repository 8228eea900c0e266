#include "agent/server/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace greylane {
namespace fs = std::filesystem;

namespace {

template <typename T>
bool ReadScalar(const YAML::Node& node, const std::string& key, T* out, std::string* error) {
  const YAML::Node value = node[key];
  if (!value) return true;
  try {
    *out = value.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    *error = "'" + key + "' at line " + std::to_string(value.Mark().line + 1) +
             " has a value of the wrong type";
    return false;
  }
}

bool CheckKeys(const YAML::Node& node, const std::set<std::string>& known, const std::string& where,
               std::string* error) {
  for (const auto& entry : node) {
    const auto key = entry.first.as<std::string>();
    if (!known.count(key)) {
      *error = "unknown key '" + key + "' in " + where + " (line " +
               std::to_string(entry.first.Mark().line + 1) + ")";
      return false;
    }
  }
  return true;
}

bool ParseSlot(const YAML::Node& node, const std::string& name, const std::string& base_dir,
               SlotConfig* slot, std::string* error) {
  if (!node || !node.IsMap()) {
    *error = "'" + name + "' must be a map with version and backend";
    return false;
  }
  if (!CheckKeys(node,
                 {"version", "backend", "model_file", "address", "upstream_model",
                  "upstream_version", "deadline_ms", "connections"},
                 "'" + name + "'", error)) {
    return false;
  }
  int64_t deadline_ms = 1000;
  if (!ReadScalar(node, "version", &slot->version, error) ||
      !ReadScalar(node, "backend", &slot->backend, error) ||
      !ReadScalar(node, "model_file", &slot->model_file, error) ||
      !ReadScalar(node, "address", &slot->upstream.address, error) ||
      !ReadScalar(node, "upstream_model", &slot->upstream.model, error) ||
      !ReadScalar(node, "upstream_version", &slot->upstream.version, error) ||
      !ReadScalar(node, "deadline_ms", &deadline_ms, error) ||
      !ReadScalar(node, "connections", &slot->upstream.connections, error)) {
    return false;
  }
  slot->upstream.deadline = std::chrono::milliseconds(deadline_ms);
  if (slot->version.empty()) {
    *error = "'" + name + ".version' is required";
    return false;
  }
  if (slot->backend == "builtin") {
    if (slot->model_file.empty()) {
      *error = "'" + name + ".model_file' is required for a builtin backend";
      return false;
    }
    if (fs::path(slot->model_file).is_relative() && !base_dir.empty()) {
      slot->model_file = (fs::path(base_dir) / slot->model_file).string();
    }
  } else if (slot->backend == "oip-grpc") {
    if (slot->upstream.address.empty() || slot->upstream.model.empty()) {
      *error = "'" + name + "' with backend oip-grpc needs 'address' and 'upstream_model'";
      return false;
    }
    if (deadline_ms <= 0 || slot->upstream.connections < 1 || slot->upstream.connections > 64) {
      *error = "'" + name + "': deadline_ms must be > 0 and connections 1..64";
      return false;
    }
  } else {
    *error = "'" + name + ".backend' must be 'builtin' or 'oip-grpc', not '" + slot->backend + "'";
    return false;
  }
  return true;
}

bool ParseHostPort(const std::string& host_port, std::string* host) {
  if (host_port.empty()) return false;
  if (host_port.front() == '[') {
    const auto close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return false;
    }
    *host = host_port.substr(1, close - 1);
    return true;
  }
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) return false;
  *host = host_port.substr(0, colon);
  return host->find(':') == std::string::npos;
}

}  // namespace

std::optional<AgentConfig> ParseConfigYaml(const std::string& yaml, const std::string& base_dir,
                                           std::string* error) {
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
  if (!CheckKeys(root,
                 {"agent_id", "model", "control_listen", "data_listen", "state_dir",
                  "sticky_header", "initial_candidate_basis_points", "probe_interval_ms",
                  "probe_timeout_ms", "drain_timeout_ms", "tokens_file", "baseline", "candidate"},
                 "the config", error)) {
    return std::nullopt;
  }
  AgentConfig config;
  int64_t probe_interval_ms = config.probe_interval.count();
  int64_t probe_timeout_ms = config.probe_timeout.count();
  int64_t drain_timeout_ms = config.drain_timeout.count();
  if (!ReadScalar(root, "agent_id", &config.agent_id, error) ||
      !ReadScalar(root, "model", &config.model_name, error) ||
      !ReadScalar(root, "control_listen", &config.control_listen, error) ||
      !ReadScalar(root, "data_listen", &config.data_listen, error) ||
      !ReadScalar(root, "state_dir", &config.state_dir, error) ||
      !ReadScalar(root, "tokens_file", &config.tokens_file, error) ||
      !ReadScalar(root, "sticky_header", &config.sticky_header, error) ||
      !ReadScalar(root, "initial_candidate_basis_points", &config.initial_candidate_basis_points,
                  error) ||
      !ReadScalar(root, "probe_interval_ms", &probe_interval_ms, error) ||
      !ReadScalar(root, "probe_timeout_ms", &probe_timeout_ms, error) ||
      !ReadScalar(root, "drain_timeout_ms", &drain_timeout_ms, error)) {
    return std::nullopt;
  }
  if (probe_interval_ms < 100 || probe_timeout_ms < 10 || drain_timeout_ms < 0) {
    *error = "probe_interval_ms must be >= 100, probe_timeout_ms >= 10, drain_timeout_ms >= 0";
    return std::nullopt;
  }
  if (!config.tokens_file.empty() && fs::path(config.tokens_file).is_relative() &&
      !base_dir.empty()) {
    config.tokens_file = (fs::path(base_dir) / config.tokens_file).string();
  }
  config.probe_interval = std::chrono::milliseconds(probe_interval_ms);
  config.probe_timeout = std::chrono::milliseconds(probe_timeout_ms);
  config.drain_timeout = std::chrono::milliseconds(drain_timeout_ms);
  for (char& c : config.sticky_header) c = static_cast<char>(std::tolower(c));
  if (!ParseSlot(root["baseline"], "baseline", base_dir, &config.baseline, error) ||
      !ParseSlot(root["candidate"], "candidate", base_dir, &config.candidate, error)) {
    return std::nullopt;
  }
  if (config.baseline.version == config.candidate.version) {
    *error = "baseline and candidate must have different versions (both are '" +
             config.baseline.version + "')";
    return std::nullopt;
  }
  return config;
}

AgentConfig DemoConfig(const std::string& models_dir) {
  AgentConfig config;
  config.model_name = "digits";
  config.initial_candidate_basis_points = 500;  // a 5 % canary
  config.demo_tokens = true;
  config.baseline = {"v1", "builtin", (fs::path(models_dir) / "digits-v1.glm").string(), {}};
  config.candidate = {"v2", "builtin", (fs::path(models_dir) / "digits-v2.glm").string(), {}};
  return config;
}

std::string FindModelsDir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("GREYLANE_MODELS_DIR"); env && *env) return env;
  std::error_code ec;
  if (fs::exists(fs::path(GREYLANE_MODELS_INSTALL_DIR) / "digits-v1.glm", ec)) {
    return GREYLANE_MODELS_INSTALL_DIR;
  }
  return GREYLANE_MODELS_SOURCE_DIR;
}

bool IsLoopbackAddress(const std::string& host_port) {
  std::string host;
  if (!ParseHostPort(host_port, &host)) return false;
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string ValidateConfig(const AgentConfig& config) {
  struct Plane {
    const char* name;
    const std::string& address;
    const TlsFiles& tls;
  };
  for (const Plane& plane : {Plane{"control", config.control_listen, config.control_tls},
                             Plane{"data", config.data_listen, config.data_tls}}) {
    std::string host;
    if (!ParseHostPort(plane.address, &host)) {
      return std::string("--") + plane.name + "-listen '" + plane.address +
             "' is not host:port (e.g. 127.0.0.1:7070 or [::1]:7070)";
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
  if (config.initial_candidate_basis_points > 10000) {
    return "initial_candidate_basis_points must be 0..10000";
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

Runs the canary pair (baseline and candidate) of one model on this node:
serves Open Inference Protocol gRPC on the data plane, splits traffic by
weight (sticky per user), measures each version every second, and answers
the greylane.v1.Agent control API.

  --demo                  built-in digits pair v1 (baseline) / v2 (candidate), 5 % canary
  --config FILE           YAML config (see packaging/agent.example.yaml)
  --control-listen ADDR   control API address        (default 127.0.0.1:7070)
  --data-listen ADDR      inference (OIP gRPC) address (default 127.0.0.1:8001)
                          port 0 picks a free port; the chosen ones are printed
  --state-dir DIR         audit trail and release state (created if missing;
                          --demo without it uses a fresh temporary folder)
  --tokens FILE           who may call: lines `sha256(token) identity role`,
                          roles viewer | operator | admin (--demo mints its own
                          into <state-dir>/demo-tokens, mode 0600)
  --agent-id ID           name shown in consoles     (default: the node name)
  --models-dir DIR        where --demo finds its model files
  --tls-cert F --tls-key F            TLS for the control plane
  --tls-client-ca F       mutual TLS: require client certificates from this CA
  --data-tls-cert F --data-tls-key F  TLS for the data plane
  --data-tls-client-ca F  mutual TLS on the data plane
  --insecure              allow plaintext on a non-loopback address
  --ready-file FILE       write "control=ADDR\ndata=ADDR\n" once both listen
  --help, --version
)";
}

std::optional<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                            std::string* error) {
  CommandLine cl;
  std::string config_file;
  std::string models_dir;
  struct Override {
    std::string flag;
    std::string value;
  };
  std::vector<Override> overrides;
  static const std::set<std::string> kValued = {
      "--config",        "--control-listen",    "--data-listen", "--state-dir",
      "--agent-id",      "--models-dir",        "--tls-cert",    "--tls-key",
      "--data-tls-cert", "--data-tls-key",      "--ready-file",  "--tokens",
      "--tls-client-ca", "--data-tls-client-ca"};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (kValued.count(flag)) {
      if (i + 1 >= args.size()) {
        *error = flag + " needs a value";
        return std::nullopt;
      }
      value = args[++i];
    }
    if (flag == "--demo") {
      cl.demo = true;
    } else if (flag == "--help" || flag == "-h") {
      cl.help = true;
    } else if (flag == "--version") {
      cl.version = true;
    } else if (flag == "--insecure") {
      cl.config.insecure = true;
    } else if (flag == "--config") {
      config_file = value;
    } else if (flag == "--models-dir") {
      models_dir = value;
    } else if (flag == "--ready-file") {
      cl.ready_file = value;
    } else if (kValued.count(flag)) {
      overrides.push_back({flag, value});
    } else {
      *error = "unknown flag '" + args[i] + "' (see --help)";
      return std::nullopt;
    }
  }
  if (cl.help || cl.version) return cl;
  if (cl.demo == !config_file.empty()) {
    *error = "give exactly one of --demo or --config FILE (see --help)";
    return std::nullopt;
  }
  const bool insecure = cl.config.insecure;
  if (cl.demo) {
    cl.config = DemoConfig(FindModelsDir(models_dir));
  } else {
    std::ifstream in(config_file);
    if (!in) {
      *error = "cannot read config file '" + config_file + "'";
      return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ParseConfigYaml(text.str(), fs::path(config_file).parent_path().string(), error);
    if (!parsed) {
      *error = config_file + ": " + *error;
      return std::nullopt;
    }
    cl.config = std::move(*parsed);
  }
  cl.config.insecure = insecure;
  for (const Override& o : overrides) {
    AgentConfig& c = cl.config;
    if (o.flag == "--control-listen") c.control_listen = o.value;
    if (o.flag == "--data-listen") c.data_listen = o.value;
    if (o.flag == "--state-dir") c.state_dir = o.value;
    if (o.flag == "--agent-id") c.agent_id = o.value;
    if (o.flag == "--tls-cert") c.control_tls.cert = o.value;
    if (o.flag == "--tls-key") c.control_tls.key = o.value;
    if (o.flag == "--data-tls-cert") c.data_tls.cert = o.value;
    if (o.flag == "--data-tls-key") c.data_tls.key = o.value;
    if (o.flag == "--tokens") c.tokens_file = o.value;
    if (o.flag == "--tls-client-ca") c.client_ca = o.value;
    if (o.flag == "--data-tls-client-ca") c.data_client_ca = o.value;
  }
  if (std::string problem = ValidateConfig(cl.config); !problem.empty()) {
    *error = problem;
    return std::nullopt;
  }
  return cl;
}

}  // namespace greylane
