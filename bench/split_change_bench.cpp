// greylane-bench-split: does a split change apply to the very next request?
// Flips the split between 0 and 10000 bp many times; after each SetSplit
// returns, sends one request for a sticky user and checks which version
// served it. Also times SetSplit and that first request.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <CLI/CLI.hpp>

#include "agent/load/digits_dataset.h"
#include "common/client_token.h"
#include "common/credentials.h"
#include "greylane/v1/agent.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"

namespace {
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}
}  // namespace

int main(int argc, char** argv) {
  std::string control = "127.0.0.1:7070", data = "127.0.0.1:8001", token_file;
  int flips = 1000;
  CLI::App app("greylane-bench-split: does the very next request follow a split change?",
               "greylane-bench-split");
  app.add_option("--control", control, "the agent's control API");
  app.add_option("--data", data, "the agent's data plane");
  app.add_option("--flips", flips, "split changes")->check(CLI::Range(1, 1000000));
  app.add_option("--token-file", token_file, "an operator token, or the demo file")->required();
  CLI11_PARSE(app, argc, argv);
  const auto token = greylane::ReadTokenFile(token_file, "operator");
  if (!token.ok()) {
    std::fprintf(stderr, "greylane-bench-split: %s (--token-file)\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  const std::string bearer = greylane::BearerHeader(token->token);
  auto agent = greylane::v1::Agent::NewStub(
      grpc::CreateChannel(control, grpc::InsecureChannelCredentials()));
  auto infer = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(data, grpc::InsecureChannelCredentials()));

  std::string error;
  const auto rows = greylane::LoadDigitsCsv(greylane::DefaultDigitsCsv(), &error);
  if (rows.empty()) {
    std::fprintf(stderr, "greylane-bench-split: %s\n", error.c_str());
    return 2;
  }
  inference::ModelInferRequest request;
  request.set_model_name("digits");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(64);
  input->mutable_contents()->mutable_fp32_contents()->Add(rows[0].pixels.begin(),
                                                          rows[0].pixels.end());

  greylane::v1::AgentState state;
  {
    grpc::ClientContext context;
    context.AddMetadata(greylane::kAuthorizationHeader, bearer);
    if (!agent->GetState(&context, {}, &state).ok()) {
      std::fprintf(stderr, "greylane-bench-split: cannot reach %s\n", control.c_str());
      return 1;
    }
  }
  const std::string baseline = state.versions(0).version();
  std::vector<double> set_split_us, first_request_us;
  int wrong = 0;
  for (int i = 0; i < flips; ++i) {
    const uint32_t bp = i % 2 ? 10000 : 0;
    greylane::v1::SetSplitRequest set;
    set.set_candidate_basis_points(bp);
    set.set_expected_revision(state.split().revision());
    set.set_reason("split-change benchmark");
    grpc::ClientContext set_context;
    set_context.AddMetadata(greylane::kAuthorizationHeader, bearer);
    const auto t0 = Clock::now();
    const grpc::Status status = agent->SetSplit(&set_context, set, &state);
    const auto t1 = Clock::now();
    if (!status.ok()) {
      std::fprintf(stderr, "SetSplit: %s\n", status.error_message().c_str());
      return 1;
    }
    grpc::ClientContext infer_context;
    infer_context.AddMetadata("x-user-id", "user-" + std::to_string(i));
    inference::ModelInferResponse response;
    const grpc::Status served = infer->ModelInfer(&infer_context, request, &response);
    const auto t2 = Clock::now();
    const bool on_baseline = response.model_version() == baseline;
    if (!served.ok() || on_baseline != (bp == 0)) ++wrong;
    set_split_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    first_request_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  std::printf("split flips: %d; first request after SetSplit on the new split: %d of %d (%s)\n",
              flips, flips - wrong, flips, wrong == 0 ? "always" : "NOT ALWAYS");
  std::printf("SetSplit RPC on loopback: p50 %.0f us  p99 %.0f us\n", Percentile(set_split_us, 0.5),
              Percentile(set_split_us, 0.99));
  std::printf(
      "SetSplit returned -> first request answered by the new version: p50 %.0f us  p99 "
      "%.0f us\n",
      Percentile(first_request_us, 0.5), Percentile(first_request_us, 0.99));
  // Put the demo split back.
  greylane::v1::SetSplitRequest restore;
  restore.set_candidate_basis_points(500);
  restore.set_expected_revision(state.split().revision());
  restore.set_reason("split-change benchmark done");
  grpc::ClientContext context;
  context.AddMetadata(greylane::kAuthorizationHeader, bearer);
  agent->SetSplit(&context, restore, &state);
  return wrong == 0 ? 0 : 1;
}
