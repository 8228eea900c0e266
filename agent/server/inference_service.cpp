#include "agent/server/inference_service.h"

#include <chrono>

namespace greylane {
namespace {

std::string_view MetadataValue(const grpc::CallbackServerContext* ctx, std::string_view key) {
  const auto& md = ctx->client_metadata();
  const auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return {it->second.data(), it->second.size()};
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, grpc::Status status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

}  // namespace

// One ModelInfer from arrival to answer; deletes itself once answered.
// It finishes through the context's default reactor: a synchronous backend
// then answers inline on the handler's thread, which a custom reactor
// finished before being returned to gRPC cannot (measured: about 15 % of
// throughput lost to the extra thread hand-off).
class InferCall final : public InferCompletion {
 public:
  InferCall(InferenceService& service, grpc::CallbackServerContext* ctx,
            const inference::ModelInferRequest* request, inference::ModelInferResponse* response)
      : m_service(service),
        m_ctx(ctx),
        m_reactor(ctx->DefaultReactor()),
        m_request(request),
        m_response(response) {}

  grpc::ServerUnaryReactor* Reactor() const { return m_reactor; }

  void Start() {
    CanaryPair& pair = m_service.m_pair;
    const SplitValue split = pair.Split().Load();
    const std::string_view key = MetadataValue(m_ctx, m_service.m_identity.sticky_header);
    RouteDecision route = Router::Route(key, split.candidate_basis_points);

    std::string problem;
    std::string_view pin = m_request->model_version();
    if (pin.empty()) pin = MetadataValue(m_ctx, kPinHeader);
    if (!pin.empty()) {
      SlotId pinned;
      if (m_service.ResolvePin(pin, split, &pinned)) {
        route = Router::Pinned(pinned);
      } else {
        problem = "version '" + std::string(pin) + "' is not served here; " +
                  m_service.ServedVersionsText();
      }
    }
    if (problem.empty() && m_request->model_name() != m_service.m_identity.model_name) {
      problem = "unknown model '" + m_request->model_name() + "'; this agent serves '" +
                m_service.m_identity.model_name + "'";
    }

    m_slot = route.slot;
    // Role, slot and version all come from the one split read above.
    m_physical = CanaryPair::Physical(m_slot, split);
    m_version = &pair.VersionAt(m_physical);
    pair.RecorderAt(m_physical).BeginRequest();
    if (!problem.empty()) {
      OnInferDone({grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, problem), true});
      return;
    }
    m_version->backend->Infer(*m_request, m_response, this);
  }

  void OnInferDone(const InferOutcome& outcome) override {
    VersionRecorder& recorder = m_service.m_pair.RecorderAt(m_physical);
    const auto elapsed = std::chrono::steady_clock::now() - m_start;
    if (outcome.status.ok()) {
      recorder.RecordOk(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
      m_response->set_model_name(m_service.m_identity.model_name);
      m_response->set_model_version(m_version->version);
      m_response->set_id(m_request->id());
    } else if (outcome.client_error) {
      recorder.RecordClientError();
    } else {
      recorder.RecordServerError();
    }
    recorder.EndRequest();
    m_ctx->AddTrailingMetadata(kSlotTrailer, SlotName(m_slot));
    m_reactor->Finish(outcome.status);
    delete this;
  }

 private:
  InferenceService& m_service;
  grpc::CallbackServerContext* m_ctx;
  grpc::ServerUnaryReactor* m_reactor;
  const inference::ModelInferRequest* m_request;
  inference::ModelInferResponse* m_response;
  const std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
  SlotId m_slot = SlotId::kBaseline;
  size_t m_physical = 0;
  const SlotVersion* m_version = nullptr;
};

InferenceService::InferenceService(CanaryPair& pair, InferenceIdentity identity)
    : m_pair(pair), m_identity(std::move(identity)) {}

bool InferenceService::ResolvePin(std::string_view pin, const SplitValue& split,
                                  SlotId* slot) const {
  for (const SlotId s : {SlotId::kBaseline, SlotId::kCandidate}) {
    if (pin == SlotName(s) || pin == m_pair.VersionAt(CanaryPair::Physical(s, split)).version) {
      *slot = s;
      return true;
    }
  }
  return false;
}

std::string InferenceService::ServedVersionsText() const {
  return "versions: " + m_pair.Version(SlotId::kBaseline).version + " (baseline), " +
         m_pair.Version(SlotId::kCandidate).version + " (candidate)";
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(m_pair.Ready());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  if (request->name() != m_identity.model_name) {
    return FinishNow(ctx, {grpc::StatusCode::NOT_FOUND, "unknown model '" + request->name() +
                                                            "'; this agent serves '" +
                                                            m_identity.model_name + "'"});
  }
  if (request->version().empty()) {
    response->set_ready(m_pair.Ready());
    return FinishNow(ctx, grpc::Status::OK);
  }
  SlotId slot;
  if (!ResolvePin(request->version(), m_pair.Split().Load(), &slot)) {
    return FinishNow(
        ctx, {grpc::StatusCode::NOT_FOUND,
              "version '" + request->version() + "' is not served here; " + ServedVersionsText()});
  }
  response->set_ready(m_pair.Health(slot).health == v1::HEALTHY);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("greylane-agent");
  response->set_version(m_identity.server_version);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  if (request->name() != m_identity.model_name) {
    return FinishNow(ctx, {grpc::StatusCode::NOT_FOUND, "unknown model '" + request->name() +
                                                            "'; this agent serves '" +
                                                            m_identity.model_name + "'"});
  }
  SlotId slot = SlotId::kBaseline;
  if (!request->version().empty() &&
      !ResolvePin(request->version(), m_pair.Split().Load(), &slot)) {
    return FinishNow(
        ctx, {grpc::StatusCode::NOT_FOUND,
              "version '" + request->version() + "' is not served here; " + ServedVersionsText()});
  }
  const BackendDescription d = m_pair.Version(slot).backend->Description();
  response->set_name(m_identity.model_name);
  if (request->version().empty()) {
    response->add_versions(m_pair.Version(SlotId::kBaseline).version);
    response->add_versions(m_pair.Version(SlotId::kCandidate).version);
  } else {
    response->add_versions(m_pair.Version(slot).version);
  }
  response->set_platform(d.platform);
  for (const TensorSpec& t : d.inputs) {
    auto* m = response->add_inputs();
    m->set_name(t.name);
    m->set_datatype(t.datatype);
    for (const int64_t dim : t.shape) m->add_shape(dim);
  }
  for (const TensorSpec& t : d.outputs) {
    auto* m = response->add_outputs();
    m->set_name(t.name);
    m->set_datatype(t.datatype);
    for (const int64_t dim : t.shape) m->add_shape(dim);
  }
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  auto* call = new InferCall(*this, ctx, request, response);
  grpc::ServerUnaryReactor* reactor = call->Reactor();
  call->Start();  // may answer, and delete the call, before returning
  return reactor;
}

}  // namespace greylane
