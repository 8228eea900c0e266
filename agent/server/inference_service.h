#pragma once
// The data plane: the Open Inference Protocol over gRPC (and, through
// InferCall, its REST form on the HTTP plane). Each ModelInfer is routed to a role, served by that
// role's backend and recorded in its slot's counters (with the class it predicted, when its answer
// has a score per class); the answer names the version that served it and carries a request id (the
// caller's, else one given here) for RecordOutcome. Requests arrive as bytes and are parsed here
// (raw_unary.h), so one that does not parse is answered INVALID_ARGUMENT and counted as a client
// error.
#include <atomic>
#include <chrono>
#include <string>

#include "agent/server/canary_pair.h"
#include "agent/server/fault_drill.h"
#include "agent/server/outcome_ledger.h"
#include "agent/server/request_log.h"
#include "inference/grpc_service.grpc.pb.h"

namespace greylane {

struct InferenceIdentity {
  std::string agent_id;  // named on the forwarding path (kForwardedViaHeader)
  std::string model_name;
  std::string sticky_header;  // lower-case, e.g. "x-user-id"
  std::string server_version;
};

inline constexpr char kPinHeader[] = "x-greylane-version";
inline constexpr char kSlotTrailer[] = "x-greylane-slot";
inline constexpr char kRequestIdTrailer[] = "x-greylane-request-id";

using InferenceServiceBase = inference::GRPCInferenceService::WithRawCallbackMethod_ServerLive<
    inference::GRPCInferenceService::WithRawCallbackMethod_ServerReady<
        inference::GRPCInferenceService::WithRawCallbackMethod_ModelReady<
            inference::GRPCInferenceService::WithRawCallbackMethod_ServerMetadata<
                inference::GRPCInferenceService::WithRawCallbackMethod_ModelMetadata<
                    inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
                        inference::GRPCInferenceService::Service>>>>>>;

class InferenceService;

// One ModelInfer from arrival to answer, whatever carried it (gRPC, or the
// REST form over HTTP): routing, admission, drills, the backend, counting
// and the outcome ledger. Deletes itself in Answer.
class InferCall : public InferCompletion {
 public:
  // `problem`: why the request could not be read. It is still routed by its
  // headers, so it is counted (as a client error) where it would have gone.
  void Start(std::string problem);
  void OnInferDone(const InferOutcome& outcome) final;

 protected:
  enum class Ending { kAnswered, kClientError, kServerError, kRefused };

  explicit InferCall(InferenceService& service) : m_service(service) {}
  virtual ~InferCall() = default;
  // A request header or metadata value (lower-case key), empty when absent.
  virtual std::string_view Header(std::string_view key) const = 0;
  // Sends the answer (m_response when `status` is OK) and deletes this.
  virtual void Answer(const grpc::Status& status, Ending ending) = 0;
  // For the request log: "oip-grpc" or "oip-rest", and the route.
  virtual std::string_view Protocol() const = 0;
  virtual std::string_view Route() const = 0;
  // One request-log line (when the log wants it); `status` is the code
  // the caller saw (gRPC or HTTP).
  void Log(int status, Ending ending, std::string_view error);

  // The caller's id, else one given here (so every answer has one).
  const std::string& RequestId();
  ReleaseRole Role() const { return m_role; }
  // Null when the request was refused before a version was chosen.
  const SlotVersion* Version() const { return m_version; }
  // A refused request's Retry-After: how long an open breaker waits, else 1.
  int RetryAfterSeconds() const { return m_retry_after_s; }

  InferenceService& m_service;
  inference::ModelInferRequest m_request;
  inference::ModelInferResponse m_response;

 private:
  void Remember(VersionRecorder& recorder);

  std::string m_via;  // the forwarding path, this agent included
  const std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
  ReleaseRole m_role = ReleaseRole::kBaseline;
  SlotIndex m_slot = 0;
  const SlotVersion* m_version = nullptr;
  int m_retry_after_s = 1;
  bool m_trial = false;         // the half-open breaker's trial request
  bool m_wrong_answer = false;  // a drill moves this answer's top class
  std::string m_id;             // RequestId()
};

class InferenceService final : public InferenceServiceBase {
 public:
  InferenceService(CanaryPair& pair, InferenceIdentity identity, OutcomeLedger& outcomes);
  // Empty when a request that came `via` these agents may go on, with the
  // path to send upstream in `out`; else why not (a loop).
  std::string ForwardingProblem(std::string_view via, std::string* out) const;

  using Raw = grpc::ByteBuffer;
  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const Raw* request,
                                       Raw* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const Raw* request,
                                        Raw* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const Raw* request,
                                       Raw* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx, const Raw* request,
                                           Raw* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx, const Raw* request,
                                          Raw* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const Raw* request,
                                       Raw* response) override;

  CanaryPair& Pair() { return m_pair; }
  // Answers every request a drill is delaying, now (before shutdown waits).
  void FlushDelays() { m_delays.Flush(); }
  const InferenceIdentity& Identity() const { return m_identity; }
  // The role named by a model version or "baseline"/"candidate"; false if none.
  bool ResolvePin(std::string_view pin, const SplitValue& split, ReleaseRole* role) const;
  // "gl-<8 hex for this process>-<n>": unique across restarts in practice.
  std::string NextRequestId();
  std::string ServedVersionsText() const;
  std::string UnknownModel(const std::string& name) const;
  DelayQueue& Delays() { return m_delays; }
  // Null when no request log is kept. Set before serving.
  RequestLog* Log() const { return m_request_log; }
  void SetRequestLog(RequestLog* log) { m_request_log = log; }

 private:
  friend class InferCall;

  CanaryPair& m_pair;
  const InferenceIdentity m_identity;
  const std::string m_via_name;  // ForwardingName(agent_id)
  DelayQueue m_delays;           // requests a fault drill slows
  OutcomeLedger& m_outcomes;
  const std::string m_id_prefix;
  std::atomic<uint64_t> m_next_id{1};
  RequestLog* m_request_log = nullptr;
};

}  // namespace greylane
