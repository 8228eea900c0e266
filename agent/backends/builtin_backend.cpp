#include "agent/backends/builtin_backend.h"

namespace greylane {

absl::StatusOr<std::unique_ptr<BuiltinBackend>> BuiltinBackend::Open(
    const std::string& model_file) {
  absl::StatusOr<MlpModel> model = MlpModel::Load(model_file);
  if (!model.ok()) return model.status();
  if (model->Format() != "greylane-mlp 1") {
    return absl::InvalidArgumentError("model file " + model_file +
                                      " is a language model: give it backend 'builtin-lm'");
  }
  return std::unique_ptr<BuiltinBackend>(new BuiltinBackend(std::move(*model), model_file));
}

BuiltinBackend::BuiltinBackend(MlpModel model, std::string file)
    : m_model(std::move(model)), m_file(std::move(file)) {
  m_input = {kInputName, m_model.InputWidth(), 1024};
}

InferOutcome BuiltinBackend::Compute(const inference::ModelInferRequest& request,
                                     inference::ModelInferResponse* response) const {
  thread_local std::vector<float> scratch;
  Fp32Matrix input;
  std::string problem = DecodeFp32Input(request, m_input, &scratch, &input);
  if (problem.empty()) problem = CheckRequestedOutputs(request, kOutputName);
  if (!problem.empty()) {
    return {grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, problem), true};
  }
  float* out = AddFp32Output(response, kOutputName, input.rows, m_model.OutputWidth(), input.raw);
  m_model.Predict(input.data, input.rows, out);
  return {};
}

void BuiltinBackend::Infer(const inference::ModelInferRequest& request,
                           inference::ModelInferResponse* response, InferCompletion* done,
                           const std::string& /*via: nothing is forwarded*/) {
  done->OnInferDone(Compute(request, response));
}

grpc::Status BuiltinBackend::Probe(std::chrono::milliseconds, const std::string&) {
  inference::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name(kInputName);
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(m_model.InputWidth());
  input->mutable_contents()->mutable_fp32_contents()->Resize(m_model.InputWidth(), 0.0f);
  inference::ModelInferResponse response;
  const InferOutcome outcome = Compute(request, &response);
  if (!outcome.status.ok()) return outcome.status;
  float sum = 0.0f;
  for (const float p : response.outputs(0).contents().fp32_contents()) sum += p;
  if (!(sum > 0.99f && sum < 1.01f)) {
    return {grpc::StatusCode::INTERNAL, "probe output is not a probability distribution"};
  }
  return grpc::Status::OK;
}

BackendDescription BuiltinBackend::Description() const {
  BackendDescription d;
  d.kind = "builtin";
  d.target = m_file;
  d.platform = "greylane_builtin_mlp";
  d.inputs.push_back({kInputName, "FP32", {-1, m_model.InputWidth()}});
  d.outputs.push_back({kOutputName, "FP32", {-1, m_model.OutputWidth()}});
  return d;
}

}  // namespace greylane
