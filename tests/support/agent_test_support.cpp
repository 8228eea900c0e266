#include "support/agent_test_support.h"

#include "common/client_token.h"

#include <cstring>
#include <filesystem>

#include <QtGlobal>

#include <grpcpp/create_channel.h>

namespace greylane::test {

std::string ModelsDir() {
  return GREYLANE_MODELS_SOURCE_DIR;
}

const std::vector<DigitsRow>& Holdout() {
  static const std::vector<DigitsRow> rows = [] {
    std::string error;
    auto loaded = LoadDigitsCsv(ModelsDir() + "/digits-holdout.csv", &error);
    if (loaded.empty()) std::abort();
    return loaded;
  }();
  return rows;
}

inference::ModelInferRequest DigitsRequest(const std::vector<const DigitsRow*>& rows, bool raw) {
  inference::ModelInferRequest request;
  request.set_model_name("digits");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(static_cast<int64_t>(rows.size()));
  input->add_shape(64);
  std::vector<float> values;
  for (const DigitsRow* row : rows)
    values.insert(values.end(), row->pixels.begin(), row->pixels.end());
  if (raw) {
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  } else {
    input->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
  }
  return request;
}

inference::ModelInferRequest DigitsRequest(const DigitsRow& row, bool raw) {
  return DigitsRequest(std::vector<const DigitsRow*>{&row}, raw);
}

std::vector<float> Probabilities(const inference::ModelInferResponse& response) {
  if (response.raw_output_contents_size() > 0) {
    const std::string& raw = response.raw_output_contents(0);
    std::vector<float> values(raw.size() / sizeof(float));
    std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
    return values;
  }
  if (response.outputs_size() == 0) return {};
  const auto& typed = response.outputs(0).contents().fp32_contents();
  return {typed.begin(), typed.end()};
}

int ArgMax(const float* p, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (p[i] > p[best]) best = i;
  }
  return best;
}

AgentConfig DemoTestConfig(uint32_t candidate_basis_points) {
  AgentConfig config = DemoConfig(ModelsDir());
  config.agent_id = "test-agent";
  config.control_listen = "127.0.0.1:0";
  config.data_listen = "127.0.0.1:0";
  config.initial_candidate_basis_points = candidate_basis_points;
  config.drain_timeout = std::chrono::milliseconds(2000);
  return config;
}

std::unique_ptr<CanaryAgent> StartAgent(const AgentConfig& config, std::string* error) {
  auto agent = CanaryAgent::Create(config, error);
  if (!agent || !agent->Start(error)) return nullptr;
  return agent;
}

Clients Connect(const CanaryAgent& agent) {
  Clients clients;
  clients.data = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(agent.DataAddress(), grpc::InsecureChannelCredentials()));
  clients.control = v1::Agent::NewStub(
      grpc::CreateChannel(agent.ControlAddress(), grpc::InsecureChannelCredentials()));
  return clients;
}

void SetDeadline(grpc::ClientContext& context, int seconds) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

std::string DemoToken(const CanaryAgent& agent, const std::string& role) {
  const auto token = ReadTokenFile(agent.DemoTokensFile(), role);
  if (!token.ok() || token->role != role) {
    qFatal("no %s demo token: %s", role.c_str(), std::string(token.status().message()).c_str());
  }
  return token->token;
}

void Prepare(grpc::ClientContext& context, const std::string& token, int seconds) {
  SetDeadline(context, seconds);
  context.AddMetadata("authorization", "Bearer " + token);
}

grpc::Status Infer(inference::GRPCInferenceService::Stub& stub,
                   const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response, const std::string& user,
                   const std::string& pin_header, std::string* slot_trailer) {
  grpc::ClientContext context;
  SetDeadline(context);
  if (!user.empty()) context.AddMetadata("x-user-id", user);
  if (!pin_header.empty()) context.AddMetadata("x-greylane-version", pin_header);
  const grpc::Status status = stub.ModelInfer(&context, request, response);
  if (slot_trailer) {
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto it = trailers.find("x-greylane-slot");
    *slot_trailer = it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }
  return status;
}

}  // namespace greylane::test
