#pragma once
// One running agent: builds the backends a config names, serves both planes,
// seals a metrics window every second and deep-probes each version.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "agent/audit/audit_log.h"
#include "agent/metrics/metrics_hub.h"
#include "agent/server/agent_config.h"
#include "agent/server/canary_pair.h"
#include "agent/server/control_service.h"
#include "agent/server/inference_service.h"
#include "agent/server/release_controller.h"

namespace greylane {

inline constexpr char kAgentVersion[] = "0.1.0";

class CanaryAgent {
 public:
  // Opens the state dir and restores the last committed release state, if
  // any; else starts from the config. Null with `error` set when something
  // cannot be used (bad model file, unreadable tokens, broken database...).
  static std::unique_ptr<CanaryAgent> Create(const AgentConfig& config, std::string* error);
  ~CanaryAgent();

  // Probes both versions once, records the start in the audit trail, then
  // listens on both planes.
  bool Start(std::string* error);
  // Stops accepting, lets in-flight requests finish (bounded by the drain
  // timeout), ends streams. Idempotent.
  void Shutdown();

  // Addresses with the ports actually bound (port 0 resolved).
  const std::string& ControlAddress() const { return m_control_address; }
  const std::string& DataAddress() const { return m_data_address; }

  CanaryPair& Pair() { return *m_pair; }
  MetricsHub& Hub() { return *m_hub; }
  ControlService& Control() { return *m_control; }
  ReleaseController& Release() { return *m_release; }
  const AgentConfig& Config() const { return m_config; }
  // True when the release state came from the state dir, not the config.
  bool Restored() const { return m_restored; }
  // demo-tokens file, when --demo minted tokens.
  const std::string& DemoTokensFile() const { return m_demo_tokens_file; }
  // Runs one round of deep probes now (the prober does this periodically).
  void ProbeOnce();

 private:
  explicit CanaryAgent(AgentConfig config);
  void TickerLoop();
  void ProberLoop();
  bool Sleep(std::chrono::system_clock::time_point until);  // false once stopping

  AgentConfig m_config;
  std::unique_ptr<AuditLog> m_audit;
  std::unique_ptr<CanaryPair> m_pair;
  std::unique_ptr<ReleaseController> m_release;
  std::unique_ptr<MetricsHub> m_hub;
  std::unique_ptr<ControlService> m_control;
  std::unique_ptr<InferenceService> m_inference;
  std::unique_ptr<grpc::Server> m_control_server;
  std::unique_ptr<grpc::Server> m_data_server;
  std::string m_control_address;
  std::string m_data_address;
  bool m_restored = false;
  std::string m_restore_detail;
  std::string m_demo_tokens_file;

  std::mutex m_stop_mutex;
  std::condition_variable m_stop_cv;
  bool m_stopping = false;
  bool m_shut_down = false;
  std::thread m_ticker;
  std::thread m_prober;
};

std::unique_ptr<Backend> MakeBackend(const SlotConfig& slot, std::string* error);

}  // namespace greylane
