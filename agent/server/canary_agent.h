#pragma once
// One running agent: builds the backends a config names, serves both planes,
// seals a metrics window every second and deep-probes each version.
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "absl/synchronization/mutex.h"
#include "agent/analysis/canary_analysis.h"
#include "agent/audit/audit_log.h"
#include "agent/http/http_server.h"
#include "agent/metrics/history_store.h"
#include "agent/metrics/metrics_hub.h"
#include "agent/metrics/step_ledger.h"
#include "agent/server/agent_config.h"
#include "agent/server/canary_pair.h"
#include "agent/server/control_service.h"
#include "agent/server/http_data_plane.h"
#include "agent/server/inference_service.h"
#include "agent/server/outcome_service.h"
#include "agent/server/release_controller.h"
#include "agent/server/request_log.h"
#include "agent/server/state_dir_lock.h"

namespace greylane {

inline constexpr char kAgentVersion[] = "0.1.0";

class CanaryAgent {
 public:
  // Locks the state dir and restores the last committed release state, if
  // any (checked against the audit trail); else starts from the config.
  // Null with `error` set when something cannot be used (bad model file,
  // unreadable tokens, a state dir in use or inconsistent...).
  static std::unique_ptr<CanaryAgent> Create(const AgentConfig& config, std::string* error);
  ~CanaryAgent();

  // Probes both versions once, records the start in the audit trail, then
  // listens on both planes.
  bool Start(std::string* error);
  // Stops accepting, lets in-flight requests finish (bounded by the drain
  // timeout), ends streams. Idempotent.
  void Shutdown();

  // Writes "control=ADDR\ndata=ADDR\n[http=ADDR\n]" to `path` (atomically, by rename).
  absl::Status WriteReadyFile(const std::string& path) const;

  // Addresses with the ports actually bound (port 0 resolved).
  const std::string& ControlAddress() const { return m_control_address; }
  const std::string& DataAddress() const { return m_data_address; }
  const std::string& HttpAddress() const { return m_http_address; }  // empty: no HTTP plane
  // Why the default HTTP plane is off (its port was in use), else empty.
  const std::string& HttpWarning() const { return m_http_warning; }
  // SIGHUP: the request log starts a new file at its path (after logrotate).
  void ReopenRequestLog() {
    if (m_request_log) m_request_log->Reopen();
  }

  CanaryPair& Pair() { return *m_pair; }
  MetricsHub& Hub() { return *m_hub; }
  HistoryStore* History() { return m_history.get(); }  // null when it could not be opened
  ControlService& Control() { return *m_control; }
  ReleaseController& Release() { return *m_release; }
  const AgentConfig& Config() const { return m_config; }
  // True when the release state came from the state dir, not the config.
  bool Restored() const { return m_restored.how != RestoredRelease::How::kFirstStart; }
  // A demo without --state-dir runs in a folder of its own under the temp
  // folder, for whoever wires the agent to remove once it is gone.
  bool TemporaryStateDir() const { return m_temporary_state_dir; }
  // demo-tokens file, when --demo minted tokens.
  const std::string& DemoTokensFile() const { return m_demo_tokens_file; }
  // A warning about the tokens file (world-readable), empty when none.
  const std::string& TokensWarning() const { return m_tokens_warning; }
  // Runs one round of deep probes now (the prober does this periodically).
  void ProbeOnce();

 private:
  explicit CanaryAgent(AgentConfig config);
  void TickerLoop();
  // Judges the second just sealed, writes the verdict into its frame, and
  // acts on it: an armed failure rolls back, a new warning is recorded.
  void Analyse(v1::MetricsFrame* frame, const SplitValue& split);
  void ProberLoop();
  void HousekeeperLoop();
  // Waits until `until` or until the agent stops; false once stopping.
  bool Sleep(std::chrono::system_clock::time_point until);
  bool Stopping() const ABSL_SHARED_LOCKS_REQUIRED(m_stop_mutex) { return m_stopping; }

  AgentConfig m_config;
  std::unique_ptr<StateDirLock> m_lock;
  // Before the planes that write to it, so it outlives them.
  std::unique_ptr<RequestLog> m_request_log;
  std::unique_ptr<AuditLog> m_audit;
  std::unique_ptr<CanaryPair> m_pair;
  std::unique_ptr<ReleaseController> m_release;
  std::unique_ptr<MetricsHub> m_hub;
  std::unique_ptr<HistoryStore> m_history;
  std::unique_ptr<StepLedger> m_steps;
  std::unique_ptr<CanaryAnalysis> m_analysis;  // the ticker's alone
  std::string m_history_problem;
  std::unique_ptr<ControlService> m_control;
  std::unique_ptr<OutcomeLedger> m_outcome_ledger;
  std::unique_ptr<InferenceService> m_inference;
  std::unique_ptr<OutcomeService> m_outcomes;
  std::unique_ptr<grpc::Server> m_control_server;
  std::unique_ptr<grpc::Server> m_data_server;
  std::unique_ptr<HttpDataPlane> m_http_plane;
  std::unique_ptr<HttpServer> m_http_server;
  std::string m_http_address;
  std::string m_http_warning;
  bool m_temporary_state_dir = false;
  std::string m_control_address;
  std::string m_data_address;
  RestoredRelease m_restored;
  std::string m_demo_tokens_file;
  std::string m_tokens_warning;

  absl::Mutex m_stop_mutex;
  bool m_stopping ABSL_GUARDED_BY(m_stop_mutex) = false;
  bool m_shut_down ABSL_GUARDED_BY(m_stop_mutex) = false;
  std::thread m_ticker;
  std::thread m_prober;
  std::thread m_housekeeper;
};

}  // namespace greylane
