#pragma once
// The data plane: the Open Inference Protocol over gRPC. Each ModelInfer is
// routed to a slot, served by that slot's backend and recorded in that
// slot's counters; the answer names the version that served it.
#include <string>

#include "agent/server/canary_pair.h"
#include "inference/grpc_service.grpc.pb.h"

namespace greylane {

struct InferenceIdentity {
  std::string model_name;
  std::string sticky_header;  // lower-case, e.g. "x-user-id"
  std::string server_version;
};

inline constexpr char kPinHeader[] = "x-greylane-version";
inline constexpr char kSlotTrailer[] = "x-greylane-slot";

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(CanaryPair& pair, InferenceIdentity identity);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

  CanaryPair& Pair() { return m_pair; }
  const InferenceIdentity& Identity() const { return m_identity; }

 private:
  // The slot named by a model version or "baseline"/"candidate"; false if none.
  bool ResolvePin(std::string_view pin, const SplitValue& split, SlotId* slot) const;
  std::string ServedVersionsText() const;
  friend class InferCall;

  CanaryPair& m_pair;
  const InferenceIdentity m_identity;
};

}  // namespace greylane
