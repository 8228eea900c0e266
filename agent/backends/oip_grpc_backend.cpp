#include "agent/backends/oip_grpc_backend.h"

#include <optional>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

namespace greylane {
namespace {
struct UpstreamCall {
  grpc::ClientContext context;
  // Only when the upstream's model name or version differ from the request's.
  std::optional<inference::ModelInferRequest> rewritten;
};

size_t DatatypeSize(const std::string& datatype) {
  if (datatype == "BOOL" || datatype == "INT8" || datatype == "UINT8") return 1;
  if (datatype == "INT16" || datatype == "UINT16" || datatype == "FP16" || datatype == "BF16") {
    return 2;
  }
  if (datatype == "INT32" || datatype == "UINT32" || datatype == "FP32") return 4;
  if (datatype == "INT64" || datatype == "UINT64" || datatype == "FP64") return 8;
  return 0;  // BYTES and unknown types cannot be zero-filled
}
constexpr int kReconnectBackoffMs = 250;
}  // namespace

OipGrpcBackend::OipGrpcBackend(OipGrpcOptions options) : m_options(std::move(options)) {
  const int connections = std::max(1, m_options.connections);
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    // A private subchannel pool gives each channel its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("greylane.connection", i);
    // An upstream that restarts must be used again within a second: gRPC's
    // default reconnect backoff grows to minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMs);
    auto channel =
        grpc::CreateCustomChannel(m_options.address, grpc::InsecureChannelCredentials(), args);
    m_stubs.push_back(inference::GRPCInferenceService::NewStub(channel));
    m_channels.push_back(std::move(channel));
  }
}

inference::GRPCInferenceService::Stub* OipGrpcBackend::NextStub() {
  return m_stubs[m_next.fetch_add(1, std::memory_order_relaxed) % m_stubs.size()].get();
}

void OipGrpcBackend::Infer(const inference::ModelInferRequest& request,
                           inference::ModelInferResponse* response, InferCompletion* done,
                           const std::string& via) {
  auto* call = new UpstreamCall;
  call->context.AddMetadata(kForwardedViaHeader, via);
  const inference::ModelInferRequest* upstream_request = &request;
  if (request.model_name() != m_options.model || request.model_version() != m_options.version) {
    call->rewritten.emplace(request);
    call->rewritten->set_model_name(m_options.model);
    call->rewritten->set_model_version(m_options.version);
    upstream_request = &*call->rewritten;
  }
  call->context.set_deadline(std::chrono::system_clock::now() + m_options.deadline);
  NextStub()->async()->ModelInfer(
      &call->context, upstream_request, response,
      [call, done, address = &m_options.address](grpc::Status status) {
        delete call;
        if (status.ok()) {
          done->OnInferDone({});
          return;
        }
        // The upstream judged the tensor bad: the caller's mistake, not the version's.
        const bool client_error = status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
        done->OnInferDone({grpc::Status(status.error_code(),
                                        "upstream " + *address + ": " + status.error_message()),
                           client_error});
      });
}

grpc::Status OipGrpcBackend::FetchMetadata(std::chrono::milliseconds deadline) {
  inference::ModelMetadataRequest request;
  request.set_name(m_options.model);
  request.set_version(m_options.version);
  inference::ModelMetadataResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::Status status = NextStub()->ModelMetadata(&context, request, &response);
  if (!status.ok()) {
    return {status.error_code(),
            "upstream " + m_options.address + " ModelMetadata: " + status.error_message()};
  }
  absl::MutexLock lock(&m_mutex);
  m_metadata = std::move(response);
  return grpc::Status::OK;
}

grpc::Status OipGrpcBackend::Probe(std::chrono::milliseconds deadline, const std::string& via) {
  // Re-read the metadata on every probe: the upstream may have been redeployed.
  if (grpc::Status status = FetchMetadata(deadline); !status.ok()) return status;
  inference::ModelInferRequest request;
  request.set_model_name(m_options.model);
  request.set_model_version(m_options.version);
  {
    absl::MutexLock lock(&m_mutex);
    for (const auto& spec : m_metadata->inputs()) {
      const size_t element = DatatypeSize(spec.datatype());
      if (element == 0) {
        return {grpc::StatusCode::OK, ""};  // cannot synthesise BYTES; metadata answered
      }
      auto* input = request.add_inputs();
      input->set_name(spec.name());
      input->set_datatype(spec.datatype());
      // Variable dimensions become 1; a shape too large to be a sensible
      // probe (or nonsense from a broken upstream) is refused, not allocated.
      constexpr size_t kMaxProbeBytes = 16u << 20;
      size_t bytes = element;
      for (const int64_t dim : spec.shape()) {
        const int64_t d = dim < 0 ? 1 : dim;
        input->add_shape(d);
        if (d > 0 && bytes > kMaxProbeBytes / static_cast<size_t>(d)) {
          return {grpc::StatusCode::FAILED_PRECONDITION,
                  "upstream " + m_options.address + " input '" + spec.name() +
                      "' is too large for a probe (over 16 MiB)"};
        }
        bytes *= static_cast<size_t>(d);
      }
      request.add_raw_input_contents(std::string(bytes, '\0'));
    }
  }
  inference::ModelInferResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  // Sent as from the probing agent: an upstream that leads back to it
  // fails the probe, and so its LoadCandidate.
  context.AddMetadata(kForwardedViaHeader, via);
  grpc::Status status = NextStub()->ModelInfer(&context, request, &response);
  if (!status.ok()) {
    return {status.error_code(),
            "upstream " + m_options.address + " ModelInfer: " + status.error_message()};
  }
  return grpc::Status::OK;
}

BackendDescription OipGrpcBackend::Description() const {
  BackendDescription d;
  d.kind = "oip-grpc";
  d.target = m_options.address;
  absl::MutexLock lock(&m_mutex);
  if (m_metadata) {
    d.platform = m_metadata->platform();
    for (const auto& t : m_metadata->inputs()) {
      d.inputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
    }
    for (const auto& t : m_metadata->outputs()) {
      d.outputs.push_back({t.name(), t.datatype(), {t.shape().begin(), t.shape().end()}});
    }
  }
  return d;
}

}  // namespace greylane
