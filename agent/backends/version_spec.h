#pragma once
// What serves one version: a built-in model file or an upstream Open
// Inference Protocol server. The same bounds apply on every way a spec
// enters the agent: the YAML config, LoadCandidate, and the release state
// restored at start-up.
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/backends/backend.h"
#include "agent/backends/oip_grpc_backend.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

// The deadlines of an openai-http upstream besides the total (`deadline`).
struct HttpUpstreamTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds first_byte{60000};
  std::chrono::milliseconds idle{30000};
};

struct VersionSpec {
  std::string version;
  std::string backend;     // "builtin" | "oip-grpc" | "builtin-lm" | "openai-http"
  std::string model_file;  // builtin, builtin-lm
  // oip-grpc: address host:port; openai-http: address is the base URL,
  // deadline the total timeout, connections the idle connections kept.
  OipGrpcOptions upstream;
  HttpUpstreamTimeouts http;  // openai-http
  // A model server the agent starts and supervises (config only).
  std::string command;     // /bin/sh -c
  std::string health_url;  // ready once it answers 200
  // Not ready this long (after a start, or since it stopped answering), it
  // is restarted: a server stuck loading or hung is not waited for forever.
  std::chrono::milliseconds ready_timeout{600000};
};

// An openai-http upstream's total timeout when none is given: a long
// generation takes minutes.
inline constexpr std::chrono::milliseconds kDefaultGenerationDeadline{600000};

inline constexpr size_t kMaxVersionNameBytes = 128;
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr int kMaxUpstreamConnections = 64;
inline constexpr std::chrono::milliseconds kMaxUpstreamDeadline{10 * 60 * 1000};
// A large model can take many minutes to load; an hour is not loading.
inline constexpr std::chrono::milliseconds kReadyTimeoutBounds[2] = {
    std::chrono::milliseconds(1000), std::chrono::milliseconds(60 * 60 * 1000)};

// Version names travel in headers, metrics labels and file names:
// 1..128 of A-Z a-z 0-9 . _ - + @ : /
std::string VersionNameProblem(std::string_view version);

// What is wrong with a spec (empty when it may be built). `models_root`,
// when not empty, is the only folder built-in model files may come from.
std::string VersionSpecProblem(const VersionSpec& spec, const std::string& models_root = {});

// Wire form; 0 for deadline or connections means the default (1 s, 2).
VersionSpec VersionSpecFromProto(const v1::VersionSpec& spec);
void VersionSpecToProto(const VersionSpec& spec, v1::VersionSpec* out);
// "builtin /models/v2.glm" or "oip-grpc 10.0.0.5:8001"
std::string BackendTarget(const VersionSpec& spec);

// Builds the backend a spec names (reads and checks a model file).
absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const VersionSpec& spec);

// Why a candidate cannot take the baseline's traffic (empty when it can):
// its inputs or outputs differ in name, datatype or shape (-1 matches any
// size). A side that does not know its tensors yet is not compared.
std::string SignatureProblem(const BackendDescription& baseline,
                             const BackendDescription& candidate);

}  // namespace greylane
