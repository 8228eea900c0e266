#include "agent/server/inference_service.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "agent/backends/tensor_codec.h"
#include "agent/server/outcome_service.h"
#include "agent/server/raw_unary.h"
#include "agent/server/slot_admission.h"
#include "common/text.h"

namespace greylane {
namespace {

std::string_view MetadataValue(const grpc::CallbackServerContext* ctx, std::string_view key) {
  const auto& md = ctx->client_metadata();
  const auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return {it->second.data(), it->second.size()};
}

// Rows of one answer counted as predictions (a 1024-row batch counts all).
constexpr int64_t kMaxCountedRows = 4096;

// gRPC refuses metadata values outside printable ASCII.
bool PrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// A small unary call: parse, answer, serialize, finish.
template <typename Request, typename Response, typename Handle>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw,
                                 grpc::ByteBuffer* out, Handle handle) {
  Request request;
  grpc::Status status = ParseRequest(*raw, &request);
  Response response;
  if (status.ok()) status = handle(request, &response);
  if (status.ok()) status = SerializeResponse(response, out);
  return FinishNow(ctx, status);
}

}  // namespace

void InferCall::Start(std::string problem) {
  CanaryPair& pair = m_service.m_pair;
  const SplitValue split = pair.Split().Load();
  RouteDecision route =
      Router::Route(Header(m_service.m_identity.sticky_header), split.candidate_basis_points);
  std::string_view pin = m_request.model_version();
  if (pin.empty()) pin = Header(kPinHeader);
  if (problem.empty() && !pin.empty()) {
    ReleaseRole pinned;
    if (m_service.ResolvePin(pin, split, &pinned)) {
      route = Router::Pinned(pinned);
    } else {
      problem = "version " + Quote(pin) + " is not served here; " + m_service.ServedVersionsText();
    }
  }
  if (problem.empty() && m_request.model_name() != m_service.m_identity.model_name) {
    problem = m_service.UnknownModel(m_request.model_name());
  }
  grpc::StatusCode problem_code = grpc::StatusCode::INVALID_ARGUMENT;
  if (problem.empty()) {
    problem = m_service.ForwardingProblem(Header(kForwardedViaHeader), &m_via);
    if (!problem.empty()) problem_code = grpc::StatusCode::FAILED_PRECONDITION;
  }

  m_role = route.role;
  if (problem.empty()) {
    const SlotAdmission admission =
        AdmitRequest(pair, split, route.role, route.basis == RouteBasis::kPinned);
    m_role = admission.role;
    m_trial = admission.trial;
    if (!admission.admitted) {
      // Named in the answer and the log: whose breaker or limit refused it.
      m_version = &pair.VersionAt(CanaryPair::SlotOf(m_role, split));
      m_retry_after_s = admission.retry_after_s;
      return Answer(grpc::Status(admission.refusal_code, admission.refusal), Ending::kRefused);
    }
  }
  // Role, slot and version all come from the one split read above.
  m_slot = CanaryPair::SlotOf(m_role, split);
  m_version = &pair.VersionAt(m_slot);
  pair.RecorderAt(m_slot).BeginRequest();
  if (!problem.empty()) {
    OnInferDone({grpc::Status(problem_code, problem), true});
    return;
  }
  const FaultDecision fault = pair.DrillAt(m_slot).Decide();
  m_wrong_answer = fault.wrong_answer;
  if (fault.fail) {
    OnInferDone({grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "injected fault: a drill fails this share of " + m_version->version +
                                  "'s requests (InjectFault)"),
                 false});
    return;
  }
  if (fault.delay_ms > 0) {
    m_service.m_delays.Schedule(
        std::chrono::steady_clock::now() + std::chrono::milliseconds(fault.delay_ms),
        [this] { m_version->backend->Infer(m_request, &m_response, this, m_via); });
    return;
  }
  m_version->backend->Infer(m_request, &m_response, this, m_via);
}

void InferCall::OnInferDone(const InferOutcome& outcome) {
  VersionRecorder& recorder = m_service.m_pair.RecorderAt(m_slot);
  const auto elapsed = std::chrono::steady_clock::now() - m_start;
  const grpc::Status& status = outcome.status;
  if (status.ok()) {
    recorder.RecordOk(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
    m_response.set_model_name(m_service.m_identity.model_name);
    m_response.set_model_version(m_version->version);
    m_response.set_id(RequestId());
    Remember(recorder);
  } else if (outcome.client_error) {
    recorder.RecordClientError();
  } else {
    recorder.RecordServerError();
  }
  const ServedAs how = status.ok()            ? ServedAs::kOk
                       : outcome.client_error ? ServedAs::kClientError
                                              : ServedAs::kServerError;
  SettleBreaker(m_service.m_pair, m_slot, m_version, m_trial, how, status.error_message());
  recorder.EndRequest();
  Answer(status, how == ServedAs::kOk            ? Ending::kAnswered
                 : how == ServedAs::kClientError ? Ending::kClientError
                                                 : Ending::kServerError);
}

const std::string& InferCall::RequestId() {
  if (m_id.empty()) m_id = m_request.id().empty() ? m_service.NextRequestId() : m_request.id();
  return m_id;
}

// Counts the answer's predicted classes (after a wrong-answer drill moved
// them) and keeps the request for RecordOutcome.
void InferCall::Remember(VersionRecorder& recorder) {
  const ClassScores scores = FindClassScores(m_response);
  int predicted = -1;
  for (int64_t row = 0; row < std::min(scores.rows, kMaxCountedRows); ++row) {
    if (m_wrong_answer) MoveTopClass(&m_response, scores, row);
    const int top = TopClass(m_response, scores, row);
    recorder.RecordPrediction(top);
    if (scores.rows == 1) predicted = top;
  }
  if (m_id.size() > kMaxRequestIdBytes) return;  // RecordOutcome could not name it
  m_service.m_outcomes.Remember(m_id,
                                {m_version, m_slot, predicted, static_cast<int>(scores.classes)});
}

void InferCall::Log(int status, Ending ending, std::string_view error) {
  RequestLog* log = m_service.m_request_log;
  if (!log || !log->Wanted(ending == Ending::kAnswered)) return;
  std::string inputs;
  for (int i = 0; i < m_request.inputs_size(); ++i) {
    inputs += m_request.inputs(i).SerializeAsString();
    if (i < m_request.raw_input_contents_size()) inputs += m_request.raw_input_contents(i);
  }
  RequestLogEntry e;
  e.protocol = Protocol();
  e.route = Route();
  e.request_id = RequestId();
  if (m_version) e.version = m_version->version;
  e.slot = ReleaseRoleName(m_role);
  e.user_key = Header(m_service.m_identity.sticky_header);
  e.input_hash = InputHash(inputs);
  e.status = status;
  e.outcome = ending == Ending::kAnswered      ? "ok"
              : ending == Ending::kClientError ? "client_error"
              : ending == Ending::kRefused     ? "refused"
                                               : "server_error";
  e.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m_start).count();
  e.error = error;
  log->Write(e);
}

namespace {

// ModelInfer over gRPC. It finishes through the context's default reactor:
// a synchronous backend then answers inline on the handler's thread, which
// a custom reactor finished before being returned to gRPC cannot
// (measured: about 15 % of throughput lost to the extra thread hand-off).
class GrpcInferCall final : public InferCall {
 public:
  GrpcInferCall(InferenceService& service, grpc::CallbackServerContext* ctx,
                grpc::ByteBuffer* raw_response)
      : InferCall(service),
        m_ctx(ctx),
        m_reactor(ctx->DefaultReactor()),
        m_raw_response(raw_response) {}

  grpc::ServerUnaryReactor* Reactor() const { return m_reactor; }

  void Begin(const grpc::ByteBuffer& raw_request) {
    const grpc::Status parsed = ParseRequest(raw_request, &m_request);
    Start(parsed.ok() ? std::string() : parsed.error_message());
  }

 private:
  std::string_view Header(std::string_view key) const override { return MetadataValue(m_ctx, key); }

  // An answer carries its id in its body; a refusal has no body, so its id
  // goes in a trailer (kept off answers: a trailer costs about 2 % of
  // throughput, measured).
  std::string_view Protocol() const override { return "oip-grpc"; }
  std::string_view Route() const override { return "ModelInfer"; }

  void Answer(const grpc::Status& outcome, Ending ending) override {
    Log(outcome.error_code(), ending, outcome.error_message());
    grpc::Status status = outcome;
    if (status.ok()) status = SerializeResponse(m_response, m_raw_response);
    m_ctx->AddTrailingMetadata(kSlotTrailer, ReleaseRoleName(Role()));
    if (!status.ok()) {
      const std::string& id = RequestId();
      if (id.size() <= kMaxRequestIdBytes && PrintableAscii(id))
        m_ctx->AddTrailingMetadata(kRequestIdTrailer, id);
    }
    m_reactor->Finish(Bounded(status));
    delete this;
  }

  grpc::CallbackServerContext* m_ctx;
  grpc::ServerUnaryReactor* m_reactor;
  grpc::ByteBuffer* m_raw_response;
};

}  // namespace

namespace {
std::string RandomHex8() {
  std::random_device random;
  char text[16];
  std::snprintf(text, sizeof(text), "%08x", static_cast<unsigned>(random()));
  return text;
}
}  // namespace

InferenceService::InferenceService(CanaryPair& pair, InferenceIdentity identity,
                                   OutcomeLedger& outcomes)
    : m_pair(pair),
      m_identity(std::move(identity)),
      m_via_name(ForwardingName(m_identity.agent_id)),
      m_outcomes(outcomes),
      m_id_prefix("gl-" + RandomHex8() + "-") {}

std::string InferenceService::NextRequestId() {
  char digits[24];
  const uint64_t n = m_next_id.fetch_add(1, std::memory_order_relaxed);
  const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
  std::string id = m_id_prefix;
  id.append(digits, static_cast<size_t>(end - digits));
  return id;
}

std::string InferenceService::ForwardingProblem(std::string_view via, std::string* out) const {
  size_t hops = 0;
  for (size_t at = 0; !via.empty() && at <= via.size();) {
    const size_t comma = std::min(via.find(',', at), via.size());
    if (via.substr(at, comma - at) == m_via_name) {
      return "forwarding loop: this request already passed agent " + Quote(m_via_name) + " (path " +
             Quote(via, 300) + "); an upstream address points back at a greylane agent on its path";
    }
    ++hops;
    at = comma + 1;
  }
  if (hops >= kMaxForwardHops) {
    return "forwarding loop: this request passed " + std::to_string(hops) +
           " greylane agents (path " + Quote(via, 300) + "), the most allowed is " +
           std::to_string(kMaxForwardHops - 1);
  }
  *out = via.empty() ? m_via_name : std::string(via) + "," + m_via_name;
  return {};
}

bool InferenceService::ResolvePin(std::string_view pin, const SplitValue& split,
                                  ReleaseRole* role) const {
  for (const ReleaseRole r : {ReleaseRole::kBaseline, ReleaseRole::kCandidate}) {
    if (pin == ReleaseRoleName(r) ||
        pin == m_pair.VersionAt(CanaryPair::SlotOf(r, split)).version) {
      *role = r;
      return true;
    }
  }
  return false;
}

std::string InferenceService::ServedVersionsText() const {
  return "versions: " + m_pair.Version(ReleaseRole::kBaseline).version + " (baseline), " +
         m_pair.Version(ReleaseRole::kCandidate).version + " (candidate)";
}

std::string InferenceService::UnknownModel(const std::string& name) const {
  return "unknown model " + Quote(name) + "; this agent serves " + Quote(m_identity.model_name);
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return Answer<inference::ServerLiveRequest, inference::ServerLiveResponse>(
      ctx, request, response,
      [](const inference::ServerLiveRequest&, inference::ServerLiveResponse* out) {
        out->set_live(true);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const Raw* request, Raw* response) {
  return Answer<inference::ServerReadyRequest, inference::ServerReadyResponse>(
      ctx, request, response,
      [this](const inference::ServerReadyRequest&, inference::ServerReadyResponse* out) {
        out->set_ready(m_pair.Ready());
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return Answer<inference::ModelReadyRequest, inference::ModelReadyResponse>(
      ctx, request, response,
      [this](const inference::ModelReadyRequest& r, inference::ModelReadyResponse* out) {
        if (r.name() != m_identity.model_name) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, UnknownModel(r.name()));
        }
        if (r.version().empty()) {
          out->set_ready(m_pair.Ready());
          return grpc::Status::OK;
        }
        ReleaseRole role;
        if (!ResolvePin(r.version(), m_pair.Split().Load(), &role)) {
          return grpc::Status(
              grpc::StatusCode::NOT_FOUND,
              "version " + Quote(r.version()) + " is not served here; " + ServedVersionsText());
        }
        out->set_ready(m_pair.Health(role).health == v1::HEALTHY);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(grpc::CallbackServerContext* ctx,
                                                           const Raw* request, Raw* response) {
  return Answer<inference::ServerMetadataRequest, inference::ServerMetadataResponse>(
      ctx, request, response,
      [this](const inference::ServerMetadataRequest&, inference::ServerMetadataResponse* out) {
        out->set_name("greylane-agent");
        out->set_version(m_identity.server_version);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(grpc::CallbackServerContext* ctx,
                                                          const Raw* request, Raw* response) {
  return Answer<inference::ModelMetadataRequest, inference::ModelMetadataResponse>(
      ctx, request, response,
      [this](const inference::ModelMetadataRequest& r, inference::ModelMetadataResponse* out) {
        if (r.name() != m_identity.model_name) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, UnknownModel(r.name()));
        }
        ReleaseRole role = ReleaseRole::kBaseline;
        if (!r.version().empty() && !ResolvePin(r.version(), m_pair.Split().Load(), &role)) {
          return grpc::Status(
              grpc::StatusCode::NOT_FOUND,
              "version " + Quote(r.version()) + " is not served here; " + ServedVersionsText());
        }
        const BackendDescription d = m_pair.Version(role).backend->Description();
        out->set_name(m_identity.model_name);
        if (r.version().empty()) {
          out->add_versions(m_pair.Version(ReleaseRole::kBaseline).version);
          out->add_versions(m_pair.Version(ReleaseRole::kCandidate).version);
        } else {
          out->add_versions(m_pair.Version(role).version);
        }
        out->set_platform(ClampText(d.platform, 256));
        for (const auto& [specs, tensors] : {std::pair{&d.inputs, out->mutable_inputs()},
                                             std::pair{&d.outputs, out->mutable_outputs()}}) {
          for (const TensorSpec& t : *specs) {
            auto* m = tensors->Add();
            m->set_name(ClampText(t.name, 256));
            m->set_datatype(ClampText(t.datatype, 32));
            for (const int64_t dim : t.shape) m->add_shape(dim);
          }
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  auto* call = new GrpcInferCall(*this, ctx, response);
  grpc::ServerUnaryReactor* reactor = call->Reactor();
  call->Begin(*request);  // may answer, and delete the call, before returning
  return reactor;
}

}  // namespace greylane
