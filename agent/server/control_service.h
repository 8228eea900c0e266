#pragma once
// The control plane (greylane.v1.Agent): authenticates every call, checks
// the caller's role, and hands mutations to the ReleaseController. Unary
// requests are parsed here from raw bytes (see raw_unary.h); slow calls
// (VerifyAudit, ListAudit, LoadCandidate) run on a small worker pool.
#include <memory>
#include <string>

#include "agent/auth/token_store.h"
#include "agent/metrics/history_store.h"
#include "agent/metrics/metrics_hub.h"
#include "agent/server/release_controller.h"
#include "agent/server/worker_pool.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

// Live frames a subscriber may fall behind before the oldest are dropped.
inline constexpr size_t kSubscriberLagFrames = 32;

using AgentServiceBase = v1::Agent::WithRawCallbackMethod_WhoAmI<
    v1::Agent::WithRawCallbackMethod_GetState<v1::Agent::WithCallbackMethod_WatchState<
        v1::Agent::WithRawCallbackMethod_SetSplit<v1::Agent::WithRawCallbackMethod_Rollback<
            v1::Agent::WithRawCallbackMethod_Promote<v1::Agent::WithRawCallbackMethod_LoadCandidate<
                v1::Agent::WithCallbackMethod_WatchMetrics<v1::Agent::WithRawCallbackMethod_ListAudit<
                    v1::Agent::WithCallbackMethod_WatchAudit<
                        v1::Agent::WithRawCallbackMethod_VerifyAudit<
                            v1::Agent::WithRawCallbackMethod_QueryHistory<
                                v1::Agent::WithRawCallbackMethod_GetPolicy<
                                    v1::Agent::WithRawCallbackMethod_SetPolicy<
                                        v1::Agent::WithRawCallbackMethod_InjectFault<
                                            v1::Agent::WithRawCallbackMethod_StartRollout<
                                                v1::Agent::WithRawCallbackMethod_PauseRollout<
                                                    v1::Agent::WithRawCallbackMethod_ResumeRollout<
                                                        v1::Agent::
                                                            WithRawCallbackMethod_AbortRollout<
                                                                v1::Agent::
                                                                    Service>>>>>>>>>>>>>>>>>>>;

class ControlService final : public AgentServiceBase {
 public:
  // `history` may be null (it could not be opened: `history_problem` says why).
  ControlService(ReleaseController& controller, MetricsHub& hub, HistoryStore* history,
                 std::string history_problem, TokenStore tokens);
  ~ControlService() override;

  using Raw = grpc::ByteBuffer;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const Raw* request,
                                   Raw* response) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx, const Raw* request,
                                     Raw* response) override;
  grpc::ServerWriteReactor<v1::AgentState>* WatchState(grpc::CallbackServerContext* ctx,
                                                       const v1::WatchStateRequest*) override;
  grpc::ServerUnaryReactor* SetSplit(grpc::CallbackServerContext* ctx, const Raw* request,
                                     Raw* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* ctx, const Raw* request,
                                     Raw* response) override;
  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* ctx, const Raw* request,
                                    Raw* response) override;
  grpc::ServerUnaryReactor* LoadCandidate(grpc::CallbackServerContext* ctx, const Raw* request,
                                          Raw* response) override;
  grpc::ServerWriteReactor<v1::MetricsFrame>* WatchMetrics(
      grpc::CallbackServerContext* ctx, const v1::WatchMetricsRequest* request) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx, const Raw* request,
                                      Raw* response) override;
  grpc::ServerWriteReactor<v1::AuditEntry>* WatchAudit(
      grpc::CallbackServerContext* ctx, const v1::WatchAuditRequest* request) override;
  grpc::ServerUnaryReactor* VerifyAudit(grpc::CallbackServerContext* ctx, const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* QueryHistory(grpc::CallbackServerContext* ctx, const Raw* request,
                                         Raw* response) override;
  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* ctx, const Raw* request,
                                      Raw* response) override;
  grpc::ServerUnaryReactor* SetPolicy(grpc::CallbackServerContext* ctx, const Raw* request,
                                      Raw* response) override;
  grpc::ServerUnaryReactor* InjectFault(grpc::CallbackServerContext* ctx, const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* StartRollout(grpc::CallbackServerContext* ctx, const Raw* request,
                                         Raw* response) override;
  grpc::ServerUnaryReactor* PauseRollout(grpc::CallbackServerContext* ctx, const Raw* request,
                                         Raw* response) override;
  grpc::ServerUnaryReactor* ResumeRollout(grpc::CallbackServerContext* ctx, const Raw* request,
                                          Raw* response) override;
  grpc::ServerUnaryReactor* AbortRollout(grpc::CallbackServerContext* ctx, const Raw* request,
                                         Raw* response) override;

  // Lets queued slow calls finish, then stops the workers.
  void JoinWorkers();

 private:
  // The caller, or a non-OK status (UNAUTHENTICATED) to answer with.
  grpc::Status Authenticate(grpc::CallbackServerContext* ctx, Caller* caller) const;
  grpc::ServerUnaryReactor* ServeRolloutControl(
      grpc::CallbackServerContext* ctx, const Raw* request, Raw* response, AuditAction action,
      grpc::Status (ReleaseController::*call)(const Caller&, const std::string&, v1::AgentState*));
  // Checks the caller's role; a mutation refused for its role is audited.
  grpc::Status Admit(const Caller& caller, Role needed, AuditAction action,
                     const std::string& reason);
  // Parses, admits and answers one unary call; `handle` fills the response.
  // With `slow`, `handle` runs on the worker pool.
  template <typename Request, typename Response, typename Handle>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, const Raw* request,
                                  Raw* response, Handle handle, bool slow = false);

  ReleaseController& m_controller;
  MetricsHub& m_hub;
  HistoryStore* const m_history;
  const std::string m_history_problem;
  const TokenStore m_tokens;
  WorkerPool m_workers{3, 32};
};

}  // namespace greylane
