#pragma once
// Everything an agent needs to start: read from YAML (--config), built for
// --demo, then overridden by command-line flags.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/analysis/canary_judge.h"
#include "agent/backends/network_threads.h"
#include "agent/backends/version_spec.h"
#include "common/address.h"
#include "common/models_dir.h"

namespace greylane {

struct TlsFiles {
  std::string cert;
  std::string key;
  bool Enabled() const { return !cert.empty(); }
};

// The request log (request_log.h): one JSON line per data-plane request.
struct RequestLogConfig {
  std::string path;     // a file, "-" for stdout, empty for none
  double sample = 1.0;  // share of successes written; failures always are
  int64_t max_mb = 64;  // a file past this is rotated
  int64_t keep = 5;     // rotated files kept
};

struct AgentConfig {
  std::string agent_id;  // defaults to the node name
  std::string model_name = "digits";
  std::string control_listen = "127.0.0.1:7070";
  std::string data_listen = "127.0.0.1:8001";
  // The HTTP data plane (OpenAI API, OIP REST, /metrics); empty: none.
  std::string http_listen = "127.0.0.1:8000";
  // Set by a config or flag: then a port in use stops the agent; the
  // default's being in use only turns the HTTP plane off, with a warning.
  bool http_listen_given = false;
  std::string state_dir;
  std::string sticky_header = "x-user-id";
  uint32_t initial_candidate_basis_points = 0;
  std::chrono::milliseconds probe_interval{2000};
  std::chrono::milliseconds probe_timeout{1000};
  // Not in YAML: the least time between two health rows of one slot
  // (tests shorten it).
  std::chrono::milliseconds health_row_gap{10000};
  std::chrono::milliseconds drain_timeout{5000};
  size_t ring_frames = 1024;
  // Per-minute history in <state-dir>/history.db for release reviews:
  // minutes older than this go, and the oldest go first past the size bound.
  int64_t history_retention_days = 14;
  int64_t history_max_mb = 512;
  TlsFiles control_tls;
  TlsFiles data_tls;
  TlsFiles http_tls;
  // The HTTP plane's client deadlines: a request's first byte to its last
  // (a slowloris is cut there), kept-alive silence between requests, and a
  // client that stops reading an answer.
  std::chrono::milliseconds http_request_timeout{10000};
  std::chrono::milliseconds http_idle_timeout{75000};
  std::chrono::milliseconds http_write_timeout{30000};
  RequestLogConfig request_log;
  // The event loops of the HTTP plane and its upstream calls (0: one per
  // core, 2..8), and whether each is held to a CPU of its own.
  int64_t network_threads = 0;
  CpuPinning pin_network_threads = CpuPinning::kAuto;
  bool insecure = false;
  std::string tokens_file;     // lines `sha256(token) identity role`
  bool demo_tokens = false;    // mint demo-viewer/-operator/-admin into <state-dir>/demo-tokens
  std::string client_ca;       // control plane: require client certificates signed by this CA
  std::string data_client_ca;  // data plane: the same, separately
  // When set, built-in model files (config, LoadCandidate, restart) must
  // lie under this folder.
  std::string models_root;
  // Rebuild a missing or unreadable release state from the trail's last
  // row and this config's version specs (--recover-state).
  bool recover_state = false;
  VersionSpec baseline;
  VersionSpec candidate;
  // The first start's analysis policy (`analysis:`); later, the one the
  // state dir holds (SetPolicy changes it there).
  AnalysisPolicy analysis;
};

// Bounds on every duration the agent waits for (a huge value would
// overflow a deadline and spin a core; a tiny one would spin it too).
inline constexpr std::chrono::milliseconds kProbeIntervalBounds[2] = {
    std::chrono::milliseconds(100), std::chrono::hours(1)};
inline constexpr std::chrono::milliseconds kProbeTimeoutBounds[2] = {std::chrono::milliseconds(10),
                                                                     std::chrono::minutes(1)};
inline constexpr std::chrono::milliseconds kDrainTimeoutBounds[2] = {std::chrono::milliseconds(0),
                                                                     std::chrono::minutes(10)};
inline constexpr std::chrono::milliseconds kHttpRequestTimeoutBounds[2] = {
    std::chrono::milliseconds(100), std::chrono::minutes(10)};
inline constexpr std::chrono::milliseconds kHttpIdleTimeoutBounds[2] = {
    std::chrono::milliseconds(100), std::chrono::hours(1)};
inline constexpr std::chrono::milliseconds kHttpWriteTimeoutBounds[2] = {
    std::chrono::milliseconds(100), std::chrono::minutes(10)};
inline constexpr size_t kRingFramesBounds[2] = {16, 86400};

struct CommandLine {
  AgentConfig config;
  bool demo = false;
  bool help = false;
  bool version = false;
  std::string ready_file;  // written once both planes listen
};

// `base_dir` resolves relative model files (the config file's folder).
std::optional<AgentConfig> ParseConfigYaml(const std::string& yaml, const std::string& base_dir,
                                           std::string* error);
// `pair` is "digits" (the classifier pair) or "lm" (the language models).
AgentConfig DemoConfig(const std::string& models_dir, const std::string& pair = "digits");

std::optional<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                            std::string* error);
std::string UsageText();

// Problems that must stop the start (empty when none), e.g. plaintext on a
// non-loopback address without --insecure.
std::string ValidateConfig(const AgentConfig& config);

}  // namespace greylane
