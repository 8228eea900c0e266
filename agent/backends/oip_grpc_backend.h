#pragma once
// Forwards a slot's requests to an upstream Open Inference Protocol server
// (Triton, KServe, MLServer, another greylane-agent) with a per-request
// deadline, over a few HTTP/2 connections so one connection's flow control
// does not cap throughput.
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/backends/backend.h"
#include "inference/grpc_service.grpc.pb.h"

namespace greylane {

struct OipGrpcOptions {
  std::string address;  // host:port
  std::string model;    // the upstream's model name
  std::string version;  // upstream version; empty lets the upstream choose
  std::chrono::milliseconds deadline{1000};
  int connections = 2;
};

class OipGrpcBackend final : public Backend {
 public:
  explicit OipGrpcBackend(OipGrpcOptions options);

  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             InferCompletion* done, const std::string& via) override;
  grpc::Status Probe(std::chrono::milliseconds deadline, const std::string& via) override;
  BackendDescription Description() const override;

 private:
  inference::GRPCInferenceService::Stub* NextStub();
  grpc::Status FetchMetadata(std::chrono::milliseconds deadline);

  const OipGrpcOptions m_options;
  std::vector<std::shared_ptr<grpc::Channel>> m_channels;
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> m_stubs;
  std::atomic<unsigned> m_next{0};
  mutable absl::Mutex m_mutex;
  std::optional<inference::ModelMetadataResponse> m_metadata ABSL_GUARDED_BY(m_mutex);
};

}  // namespace greylane
