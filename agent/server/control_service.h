#pragma once
// The control plane (greylane.v1.Agent): state, split changes, and the live
// metrics stream.
#include <cstdint>
#include <string>

#include "agent/metrics/metrics_hub.h"
#include "agent/server/canary_pair.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

struct AgentIdentity {
  std::string agent_id;
  std::string node_name;
  std::string model_name;
  std::string sticky_header;
  std::string agent_version;
  int64_t started_unix_ms = 0;
};

inline constexpr size_t kMaxReasonBytes = 1024;
// Live frames a subscriber may fall behind before the oldest are dropped.
inline constexpr size_t kSubscriberLagFrames = 32;

class ControlService final : public v1::Agent::CallbackService {
 public:
  ControlService(CanaryPair& pair, MetricsHub& hub, AgentIdentity identity);

  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx,
                                     const v1::GetStateRequest* request,
                                     v1::AgentState* response) override;
  grpc::ServerUnaryReactor* SetSplit(grpc::CallbackServerContext* ctx,
                                     const v1::SetSplitRequest* request,
                                     v1::AgentState* response) override;
  grpc::ServerWriteReactor<v1::MetricsFrame>* WatchMetrics(
      grpc::CallbackServerContext* ctx, const v1::WatchMetricsRequest* request) override;

  v1::AgentState State() const;

 private:
  CanaryPair& m_pair;
  MetricsHub& m_hub;
  const AgentIdentity m_identity;
};

}  // namespace greylane
