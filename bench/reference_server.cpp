// greylane-bench-reference: the yardstick for the agent's overhead. A bare
// gRPC callback server answering OIP ModelInfer with the same built-in model
// (same decoding, same compute), but no routing, metrics or health probes.
#include <cstdio>
#include <fstream>
#include <string>

#include <grpcpp/server_builder.h>
#include <CLI/CLI.hpp>

#include "agent/backends/builtin_backend.h"
#include "agent/server/process_tuning.h"
#include "inference/grpc_service.grpc.pb.h"

namespace {
class ReferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit ReferenceService(const greylane::BuiltinBackend& backend) : m_backend(backend) {}

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    auto* reactor = ctx->DefaultReactor();
    const greylane::InferOutcome outcome = m_backend.Compute(*request, response);
    if (outcome.status.ok()) {
      response->set_model_name(request->model_name());
      response->set_model_version(m_backend.Model().Version());
    }
    reactor->Finish(outcome.status);
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest*,
                                          inference::ModelMetadataResponse* response) override {
    response->set_name(m_backend.Model().ModelName());
    response->add_versions(m_backend.Model().Version());
    auto* input = response->add_inputs();
    input->set_name("input");
    input->set_datatype("FP32");
    input->add_shape(-1);
    input->add_shape(m_backend.Model().InputWidth());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const greylane::BuiltinBackend& m_backend;
};
}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", model, ready_file;
  CLI::App app("greylane-bench-reference: the bare OIP server the agent is measured against",
               "greylane-bench-reference");
  app.add_option("--model", model, "a built-in model file (.glm)")->required();
  app.add_option("--listen", listen, "address (default 127.0.0.1:0)");
  app.add_option("--ready-file", ready_file, "written with port=N once listening");
  CLI11_PARSE(app, argc, argv);
  auto backend = greylane::BuiltinBackend::Open(model);
  if (!backend.ok()) {
    std::fprintf(stderr, "greylane-bench-reference: %s\n",
                 std::string(backend.status().message()).c_str());
    return 2;
  }
  // Same process settings as the agent, so the comparison is like for like.
  greylane::ApplyServerProcessTuning();
  greylane::BlockStopSignals();

  ReferenceService service(**backend);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "greylane-bench-reference: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  const std::string address = listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
  std::printf("greylane-bench-reference serving %s on %s\n", model.c_str(), address.c_str());
  std::fflush(stdout);
  if (!ready_file.empty()) std::ofstream(ready_file) << "data=" << address << "\n";
  greylane::WaitForStopSignal();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
