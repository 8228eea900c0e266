// greylane-bench-rollback: how fast the way back to safety is. Repeats
// SetSplit(5 %) then Rollback, timing each Rollback RPC from the client on
// loopback (the durable audit write included) and reading the agent's own
// figure for it: from the RPC's arrival to the split being in force.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <CLI/CLI.hpp>

#include "common/client_token.h"
#include "common/credentials.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace {
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}
}  // namespace

int main(int argc, char** argv) {
  std::string control = "127.0.0.1:7070", token_file, label = "idle";
  int count = 500;
  CLI::App app("greylane-bench-rollback: rollback and split round trips against a running agent",
               "greylane-bench-rollback");
  app.add_option("--control", control, "the agent's control API");
  app.add_option("--token-file", token_file, "an operator token, or the demo file")->required();
  app.add_option("--count", count, "round trips")->check(CLI::Range(1, 1000000));
  app.add_option("--label", label, "printed with the figures");
  CLI11_PARSE(app, argc, argv);
  const auto token = greylane::ReadTokenFile(token_file, "operator");
  if (!token.ok()) {
    std::fprintf(stderr, "greylane-bench-rollback: %s (--token-file)\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  auto stub = greylane::v1::Agent::NewStub(
      grpc::CreateChannel(control, grpc::InsecureChannelCredentials()));
  auto prepare = [&](grpc::ClientContext* c) {
    c->AddMetadata(greylane::kAuthorizationHeader, greylane::BearerHeader(token->token));
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  };
  greylane::v1::AgentState state;
  {
    grpc::ClientContext c;
    prepare(&c);
    if (!stub->GetState(&c, {}, &state).ok()) {
      std::fprintf(stderr, "greylane-bench-rollback: cannot reach %s\n", control.c_str());
      return 1;
    }
  }
  std::vector<double> rpc_us, apply_us;
  for (int i = 0; i < count; ++i) {
    greylane::v1::SetSplitRequest ramp;
    ramp.set_candidate_basis_points(500);
    ramp.set_expected_revision(state.split().revision());
    ramp.set_reason("rollback benchmark: canary");
    grpc::ClientContext c1;
    prepare(&c1);
    if (!stub->SetSplit(&c1, ramp, &state).ok()) return 1;
    greylane::v1::RollbackRequest rollback;
    rollback.set_reason("rollback benchmark");
    grpc::ClientContext c2;
    prepare(&c2);
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status status = stub->Rollback(&c2, rollback, &state);
    const auto t1 = std::chrono::steady_clock::now();
    if (!status.ok() || state.split().candidate_basis_points() != 0) {
      std::fprintf(stderr, "Rollback: %s\n", status.error_message().c_str());
      return 1;
    }
    rpc_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    apply_us.push_back(static_cast<double>(state.last_change().apply_micros()));
  }
  std::printf(
      "Rollback (%s, %d calls): RPC on loopback p50 %.0f us, p99 %.0f us, max %.0f us; "
      "arrival -> split in force inside the agent p50 %.0f us, p99 %.0f us, max %.0f us\n",
      label.c_str(), count, Percentile(rpc_us, 0.5), Percentile(rpc_us, 0.99),
      Percentile(rpc_us, 1.0), Percentile(apply_us, 0.5), Percentile(apply_us, 0.99),
      Percentile(apply_us, 1.0));
  return 0;
}
