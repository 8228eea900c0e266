#pragma once
// Serves a model computed in-process (MlpModel), synchronously on the
// calling thread: the work is a few microseconds, well within what a gRPC
// callback thread may do.
#include <memory>

#include "agent/backends/backend.h"
#include "agent/backends/mlp_model.h"
#include "agent/backends/tensor_codec.h"

namespace greylane {

class BuiltinBackend final : public Backend {
 public:
  static constexpr const char* kInputName = "input";
  static constexpr const char* kOutputName = "probabilities";

  // Reads and checks the model file.
  static absl::StatusOr<std::unique_ptr<BuiltinBackend>> Open(const std::string& model_file);

  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             InferCompletion* done, const std::string& via) override;
  grpc::Status Probe(std::chrono::milliseconds deadline, const std::string& via) override;
  BackendDescription Description() const override;

  // The same work as Infer, returning the outcome directly.
  InferOutcome Compute(const inference::ModelInferRequest& request,
                       inference::ModelInferResponse* response) const;
  const MlpModel& Model() const { return m_model; }

 private:
  BuiltinBackend(MlpModel model, std::string file);
  MlpModel m_model;
  std::string m_file;
  Fp32InputSpec m_input;
};

}  // namespace greylane
