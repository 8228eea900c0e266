// greylane-agent: wires the server library to the command line and signals.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include "agent/backends/network_threads.h"
#include "agent/server/agent_config.h"
#include "agent/server/audit_command.h"
#include "agent/server/canary_agent.h"
#include "agent/server/model_server.h"
#include "agent/server/process_tuning.h"
#include "common/audit_vocabulary.h"
#include "common/text.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "audit") {
    return greylane::RunAuditCommand({argv + 2, argv + argc});
  }
  if (argc > 1 && std::string(argv[1]) == "serve-model") {
    return greylane::RunServeModel({argv + 2, argv + argc});
  }
  std::string error;
  const auto cl = greylane::ParseCommandLine({argv + 1, argv + argc}, &error);
  if (!cl) {
    std::fprintf(stderr, "greylane-agent: %s\n", greylane::TerminalSafe(error, true).c_str());
    return 2;
  }
  if (cl->help) {
    std::fputs(greylane::UsageText().c_str(), stdout);
    return 0;
  }
  if (cl->version) {
    std::printf("greylane-agent %s\n", greylane::kAgentVersion);
    return 0;
  }

  greylane::ApplyServerProcessTuning();
  if (!greylane::ConfigureNetworkThreads(
          {static_cast<unsigned>(cl->config.network_threads), cl->config.pin_network_threads},
          &error)) {
    std::fprintf(stderr, "greylane-agent: %s\n", error.c_str());
    return 2;
  }

  greylane::BlockStopSignals();

  auto agent = greylane::CanaryAgent::Create(cl->config, &error);
  // A demo's throw-away state goes with it, once nothing has it open.
  const std::string temporary =
      agent && agent->TemporaryStateDir() ? agent->Config().state_dir : std::string();
  auto remove_temporary = [&] {
    agent.reset();
    if (temporary.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(temporary, ignored);
  };
  if (!agent || !agent->Start(&error)) {
    std::fprintf(stderr, "greylane-agent: %s\n", greylane::TerminalSafe(error, true).c_str());
    remove_temporary();
    return 1;
  }
  if (!agent->HttpWarning().empty()) {
    std::fprintf(stderr, "greylane-agent: warning: %s\n", agent->HttpWarning().c_str());
  }
  if (!agent->TokensWarning().empty()) {
    std::fprintf(stderr, "greylane-agent: warning: %s\n", agent->TokensWarning().c_str());
  }
  const auto& c = agent->Config();
  // With the request log on stdout, stdout holds JSON lines only.
  FILE* const out = c.request_log.path == "-" ? stderr : stdout;
  // What is in force: the restored state, which may differ from the config.
  const greylane::v1::AgentState state = agent->Release().State();
  std::fprintf(out, "greylane-agent %s: agent '%s', model '%s'\n", greylane::kAgentVersion,
               greylane::TerminalSafe(c.agent_id).c_str(),
               greylane::TerminalSafe(c.model_name).c_str());
  for (const auto& v : state.versions()) {
    std::fprintf(out, "  %-9s %s (%s %s)\n",
                 v.slot() == greylane::v1::BASELINE ? "baseline" : "candidate", v.version().c_str(),
                 v.backend_kind().c_str(), greylane::TerminalSafe(v.backend_target()).c_str());
  }
  std::fprintf(out, "  split: candidate %s, revision %llu, phase %s\n",
               greylane::FormatBasisPoints(state.split().candidate_basis_points()).c_str(),
               static_cast<unsigned long long>(state.split().revision()),
               greylane::PhaseName(state.phase()));
  if (state.audit_rows_pending()) {
    std::fprintf(out, "  AUDIT ROWS PENDING: %u (%s)\n", state.audit_rows_pending(),
                 greylane::TerminalSafe(state.audit_pending_detail()).c_str());
  }
  std::fprintf(out, "  control plane (greylane.v1.Agent)             %s%s\n",
               agent->ControlAddress().c_str(), c.control_tls.Enabled() ? " TLS" : "");
  std::fprintf(out, "  data plane (inference.GRPCInferenceService)   %s%s\n",
               agent->DataAddress().c_str(), c.data_tls.Enabled() ? " TLS" : "");
  if (!agent->HttpAddress().empty()) {
    std::fprintf(out, "  HTTP data plane (OpenAI API, OIP REST, /metrics) %s%s\n",
                 agent->HttpAddress().c_str(), c.http_tls.Enabled() ? " TLS" : "");
  }
  std::fprintf(out, "  %s\n", greylane::DescribeNetworkThreads().c_str());
  if (!c.request_log.path.empty()) {
    std::fprintf(out, "  request log %s (successes sampled at %g)\n",
                 greylane::TerminalSafe(c.request_log.path).c_str(), c.request_log.sample);
  }
  std::fprintf(out, "  state dir %s%s\n", greylane::TerminalSafe(c.state_dir).c_str(),
               agent->Restored()   ? " (release state restored from the audit trail)"
               : temporary.empty() ? ""
                                   : " (temporary: removed when the agent stops; --state-dir "
                                     "DIR keeps the trail)");
  if (!agent->DemoTokensFile().empty()) {
    std::fprintf(out, "  demo tokens (role identity token) in %s\n",
                 agent->DemoTokensFile().c_str());
  }
  std::fflush(out);
  if (!cl->ready_file.empty()) {
    // A supervisor waits on this file: one that cannot be written must not
    // leave it waiting on an agent that looks stuck.
    if (const absl::Status s = agent->WriteReadyFile(cl->ready_file); !s.ok()) {
      std::fprintf(stderr, "greylane-agent: %s; stopping\n", std::string(s.message()).c_str());
      agent->Shutdown();
      remove_temporary();
      return 1;
    }
  }

  const int signal = greylane::WaitForStopSignal([&] { agent->ReopenRequestLog(); });
  std::fprintf(out, "greylane-agent: %s received, draining in-flight requests\n",
               signal == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(out);
  agent->Shutdown();
  remove_temporary();
  std::fprintf(out, "greylane-agent: stopped\n");
  return 0;
}
