// greylane-agent: wires the server library to the command line and signals.
#include <csignal>
#include <cstdio>
#include <fstream>

#include "agent/server/agent_config.h"
#include "agent/server/audit_command.h"
#include "agent/server/canary_agent.h"
#include "agent/server/process_tuning.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "audit") {
    return greylane::RunAuditCommand({argv + 2, argv + argc});
  }
  std::string error;
  const auto cl = greylane::ParseCommandLine({argv + 1, argv + argc}, &error);
  if (!cl) {
    std::fprintf(stderr, "greylane-agent: %s\n", error.c_str());
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

  greylane::BlockStopSignals();

  auto agent = greylane::CanaryAgent::Create(cl->config, &error);
  if (!agent || !agent->Start(&error)) {
    std::fprintf(stderr, "greylane-agent: %s\n", error.c_str());
    return 1;
  }
  const auto& c = agent->Config();
  std::printf("greylane-agent %s: agent '%s', model '%s'\n", greylane::kAgentVersion,
              c.agent_id.c_str(), c.model_name.c_str());
  std::printf("  baseline  %s (%s %s)\n", c.baseline.version.c_str(), c.baseline.backend.c_str(),
              c.baseline.backend == "builtin" ? c.baseline.model_file.c_str()
                                              : c.baseline.upstream.address.c_str());
  std::printf("  candidate %s (%s %s) at %.2f %%\n", c.candidate.version.c_str(),
              c.candidate.backend.c_str(),
              c.candidate.backend == "builtin" ? c.candidate.model_file.c_str()
                                               : c.candidate.upstream.address.c_str(),
              c.initial_candidate_basis_points / 100.0);
  std::printf("  control plane (greylane.v1.Agent)             %s%s\n",
              agent->ControlAddress().c_str(), c.control_tls.Enabled() ? " TLS" : "");
  std::printf("  data plane (inference.GRPCInferenceService)   %s%s\n",
              agent->DataAddress().c_str(), c.data_tls.Enabled() ? " TLS" : "");
  std::printf("  state dir %s%s\n", c.state_dir.c_str(),
              agent->Restored() ? " (release state restored from the audit trail)" : "");
  if (!agent->DemoTokensFile().empty()) {
    std::printf("  demo tokens (role identity token) in %s\n", agent->DemoTokensFile().c_str());
  }
  std::fflush(stdout);
  if (!cl->ready_file.empty()) {
    const std::string tmp = cl->ready_file + ".tmp";
    std::ofstream(tmp) << "control=" << agent->ControlAddress() << "\n"
                       << "data=" << agent->DataAddress() << "\n";
    std::rename(tmp.c_str(), cl->ready_file.c_str());
  }

  const int signal = greylane::WaitForStopSignal();
  std::printf("greylane-agent: %s received, draining in-flight requests\n",
              signal == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  agent->Shutdown();
  std::printf("greylane-agent: stopped\n");
  return 0;
}
