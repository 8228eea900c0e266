#pragma once
// The control plane (greylane.v1.Agent): authenticates every call, checks
// the caller's role, and hands mutations to the ReleaseController.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/auth/token_store.h"
#include "agent/metrics/metrics_hub.h"
#include "agent/server/release_controller.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

// Live frames a subscriber may fall behind before the oldest are dropped.
inline constexpr size_t kSubscriberLagFrames = 32;

class ControlService final : public v1::Agent::CallbackService {
 public:
  ControlService(ReleaseController& controller, MetricsHub& hub, TokenStore tokens);
  ~ControlService() override;

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const v1::WhoAmIRequest*,
                                   v1::Identity* response) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx,
                                     const v1::GetStateRequest* request,
                                     v1::AgentState* response) override;
  grpc::ServerWriteReactor<v1::AgentState>* WatchState(grpc::CallbackServerContext* ctx,
                                                       const v1::WatchStateRequest*) override;
  grpc::ServerUnaryReactor* SetSplit(grpc::CallbackServerContext* ctx,
                                     const v1::SetSplitRequest* request,
                                     v1::AgentState* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* ctx,
                                     const v1::RollbackRequest* request,
                                     v1::AgentState* response) override;
  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* ctx,
                                    const v1::PromoteRequest* request,
                                    v1::AgentState* response) override;
  grpc::ServerUnaryReactor* LoadCandidate(grpc::CallbackServerContext* ctx,
                                          const v1::LoadCandidateRequest* request,
                                          v1::AgentState* response) override;
  grpc::ServerWriteReactor<v1::MetricsFrame>* WatchMetrics(
      grpc::CallbackServerContext* ctx, const v1::WatchMetricsRequest* request) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;
  grpc::ServerWriteReactor<v1::AuditEntry>* WatchAudit(
      grpc::CallbackServerContext* ctx, const v1::WatchAuditRequest* request) override;
  grpc::ServerUnaryReactor* VerifyAudit(grpc::CallbackServerContext* ctx,
                                        const v1::VerifyAuditRequest*,
                                        v1::VerifyAuditResponse* response) override;

  // Waits for background work (LoadCandidate probes) to finish.
  void JoinWorkers();

 private:
  // The caller, or a non-OK status (UNAUTHENTICATED) to answer with.
  grpc::Status Authenticate(grpc::CallbackServerContext* ctx, Caller* caller) const;
  // Authenticates and checks the role; a mutation refused for its role is audited.
  grpc::Status Admit(grpc::CallbackServerContext* ctx, Role needed, const std::string& action,
                     const std::string& reason, Caller* caller);

  ReleaseController& m_controller;
  MetricsHub& m_hub;
  const TokenStore m_tokens;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex m_workers_mutex;
  std::vector<Worker> m_workers;  // finished ones are joined when the next starts
};

// "Bearer <token>" -> token; empty when the header is missing or malformed.
std::string BearerToken(const std::string& authorization);

}  // namespace greylane
