#include "agent/load/metrics_watch.h"

#include <cstdio>
#include <ctime>

#include <grpcpp/create_channel.h>

#include "common/audit_vocabulary.h"
#include "common/text.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

std::string FormatState(const v1::AgentState& state) {
  std::string text = "agent '" + TerminalSafe(state.agent_id()) + "' on " +
                     TerminalSafe(state.node_name()) + ", model '" +
                     TerminalSafe(state.model_name()) + "', phase " + PhaseName(state.phase());
  for (const auto& v : state.versions()) {
    text += "\n  " + std::string(v.slot() == v1::BASELINE ? "baseline " : "candidate") + " " +
            TerminalSafe(v.version()) + " (" + TerminalSafe(v.backend_kind()) + " " +
            TerminalSafe(v.backend_target()) + ") " + v1::Health_Name(v.health());
    if (v.health() == v1::UNHEALTHY && !v.health_detail().empty()) {
      text += ": " + TerminalSafe(v.health_detail());
    }
  }
  text += "\n  split: candidate " + FormatBasisPoints(state.split().candidate_basis_points()) +
          " (revision " + std::to_string(state.split().revision()) + ")";
  return text;
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
    n += std::snprintf(
        line + n, sizeof(line) - static_cast<size_t>(n),
        " | %s %s %5llu req  %llu 5xx %llu 4xx  p50 %.3f p99 %.3f ms",
        v.slot() == v1::BASELINE ? "base" : "cand", TerminalSafe(v.version()).substr(0, 40).c_str(),
        static_cast<unsigned long long>(v.requests()),
        static_cast<unsigned long long>(v.server_errors()),
        static_cast<unsigned long long>(v.client_errors()), v.latency_p50_ms(), v.latency_p99_ms());
  }
  std::string text = line;
  if (frame.dropped_before()) text += "  (" + std::to_string(frame.dropped_before()) + " dropped)";
  if (frame.backfill()) text += "  (history)";
  return text;
}

int RunWatch(const WatchOptions& options) {
  const auto credentials = ChannelCredentialsFor(options.tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "greylane-watch: %s\n",
                 TerminalSafe(std::string(credentials.status().message())).c_str());
    return 2;
  }
  auto channel = grpc::CreateChannel(options.control, *credentials);
  auto stub = v1::Agent::NewStub(channel);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.AddMetadata(kAuthorizationHeader, BearerHeader(options.token));
    v1::AgentState state;
    const grpc::Status status = stub->GetState(&context, {}, &state);
    if (!status.ok()) {
      std::fprintf(stderr, "greylane-watch: cannot reach %s: %s\n",
                   TerminalSafe(options.control).c_str(),
                   TerminalSafe(status.error_message()).c_str());
      return 1;
    }
    std::printf("%s\n", FormatState(state).c_str());
  }
  grpc::ClientContext context;
  context.AddMetadata(kAuthorizationHeader, BearerHeader(options.token));
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
    std::fprintf(stderr, "greylane-watch: stream ended: %s\n",
                 TerminalSafe(status.error_message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace greylane
