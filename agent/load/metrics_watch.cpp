#include "agent/load/metrics_watch.h"

#include <cstdio>
#include <ctime>

#include <grpcpp/create_channel.h>

#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

std::string FormatState(const v1::AgentState& state) {
  std::string text = "agent '" + state.agent_id() + "' on " + state.node_name() + ", model '" +
                     state.model_name() + "', phase " + v1::Phase_Name(state.phase());
  for (const auto& v : state.versions()) {
    text += "\n  " + std::string(v.slot() == v1::BASELINE ? "baseline " : "candidate") + " " +
            v.version() + " (" + v.backend_kind() + " " + v.backend_target() + ") " +
            v1::Health_Name(v.health());
  }
  char split[96];
  std::snprintf(split, sizeof(split), "\n  split: candidate %.2f %% (revision %llu)",
                state.split().candidate_basis_points() / 100.0,
                static_cast<unsigned long long>(state.split().revision()));
  return text + split;
}

std::string FormatFrame(const v1::MetricsFrame& frame) {
  const std::time_t t = frame.window_end_unix_ms() / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char line[512];
  int n = std::snprintf(line, sizeof(line), "%02d:%02d:%02d split %6.2f %% r%llu", tm.tm_hour,
                        tm.tm_min, tm.tm_sec, frame.candidate_basis_points() / 100.0,
                        static_cast<unsigned long long>(frame.split_revision()));
  for (const auto& v : frame.versions()) {
    if (n < 0 || static_cast<size_t>(n) >= sizeof(line)) break;
    n += std::snprintf(line + n, sizeof(line) - static_cast<size_t>(n),
                       " | %s %s %5llu req  %llu 5xx %llu 4xx  p50 %.3f p99 %.3f ms",
                       v.slot() == v1::BASELINE ? "base" : "cand", v.version().c_str(),
                       static_cast<unsigned long long>(v.requests()),
                       static_cast<unsigned long long>(v.server_errors()),
                       static_cast<unsigned long long>(v.client_errors()), v.latency_p50_ms(),
                       v.latency_p99_ms());
  }
  std::string text = line;
  if (frame.dropped_before()) text += "  (" + std::to_string(frame.dropped_before()) + " dropped)";
  if (frame.backfill()) text += "  (history)";
  return text;
}

int RunWatch(const WatchOptions& options) {
  auto channel = grpc::CreateChannel(options.control, grpc::InsecureChannelCredentials());
  auto stub = v1::Agent::NewStub(channel);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.AddMetadata("authorization", "Bearer " + options.token);
    v1::AgentState state;
    const grpc::Status status = stub->GetState(&context, {}, &state);
    if (!status.ok()) {
      std::fprintf(stderr, "greylane-watch: cannot reach %s: %s\n", options.control.c_str(),
                   status.error_message().c_str());
      return 1;
    }
    std::printf("%s\n", FormatState(state).c_str());
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options.token);
  v1::WatchMetricsRequest request;
  request.set_backfill_seconds(options.backfill_seconds);
  auto reader = stub->WatchMetrics(&context, request);
  v1::MetricsFrame frame;
  uint64_t seen = 0;
  while (reader->Read(&frame)) {
    std::printf("%s\n", FormatFrame(frame).c_str());
    std::fflush(stdout);
    if (options.frames && ++seen >= options.frames) {
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    std::fprintf(stderr, "greylane-watch: stream ended: %s\n", status.error_message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace greylane
