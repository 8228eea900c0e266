#pragma once
// What serves one slot's requests: a model computed in-process, or an
// upstream inference server. The data plane does routing and metrics; a
// backend only answers.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/status.h>

#include "agent/backends/generation.h"
#include "inference/grpc_service.pb.h"

namespace greylane {

struct InferOutcome {
  grpc::Status status;
  // The caller's mistake (bad tensor): never counted against the version.
  bool client_error = false;
};

class InferCompletion {
 public:
  virtual void OnInferDone(const InferOutcome& outcome) = 0;

 protected:
  ~InferCompletion() = default;
};

struct TensorSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;  // -1 for a variable dimension
};

struct BackendDescription {
  std::string kind;    // "builtin" | "oip-grpc" | "builtin-lm" | "openai-http"
  std::string target;  // model file or upstream address
  std::string platform;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// The agents a request has passed, comma-separated: an upstream that points
// back at an agent on the path (itself, or two agents at each other) would
// otherwise forward one request forever, a core spinning per request.
inline constexpr char kForwardedViaHeader[] = "x-greylane-via";
inline constexpr size_t kMaxForwardHops = 8;
// An agent id as it travels in that header: printable ASCII without
// commas, else hex, so two agents never look alike.
std::string ForwardingName(std::string_view agent_id);

class Backend {
 public:
  virtual ~Backend() = default;
  // Answers into `response` and calls done->OnInferDone exactly once, maybe
  // before returning. `request` and `response` outlive that call. `via` is
  // the path to send on (kForwardedViaHeader), this agent included.
  virtual void Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response, InferCompletion* done,
                     const std::string& via) = 0;
  // A real inference on a fixed input, outside the metrics: the deep health
  // probe. Blocks for at most `deadline`. `via` names the probing agent, so
  // an upstream that leads back to it fails the probe.
  virtual grpc::Status Probe(std::chrono::milliseconds deadline, const std::string& via) = 0;
  virtual BackendDescription Description() const = 0;
  // True for a backend that takes the OpenAI API (Generate).
  virtual bool Generative() const { return false; }
  // Serves one OpenAI-API exchange into `sink`. The default refuses: a
  // tensor model takes the Open Inference Protocol.
  virtual std::shared_ptr<GenerationCall> Generate(GenerationRequest request,
                                                   std::shared_ptr<GenerationSink> sink);
};

}  // namespace greylane
