#pragma once
// The HTTP data plane: the OpenAI API (/v1/...) routed to the two versions
// exactly as the gRPC plane routes ModelInfer (the same split, sticky keys,
// pins, breakers, rate limits and drills), server-sent-event streams relayed
// event by event and measured as they pass (time to first token, time
// between tokens, tokens, how each stream ended); the health routes of the
// Open Inference Protocol's REST form; and GET /metrics for Prometheus.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "agent/http/http_server.h"
#include "agent/server/canary_pair.h"
#include "agent/server/inference_service.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct HttpDataPlaneOptions {
  // A stream waiting this long for its next event gets a ": ping" comment,
  // so proxies and clients with idle timeouts do not cut it.
  std::chrono::milliseconds ping_interval{10000};
  // The header that keeps a conversation on one version when neither the
  // sticky header nor the OpenAI "user" field is set.
  std::string session_header = "x-session-id";
};

inline constexpr char kVersionHeader[] = "x-greylane-version";
inline constexpr char kSlotHeader[] = "x-greylane-slot";

class HttpDataPlane final : public HttpHandler {
 public:
  // `latest_frame` gives the last sealed metrics frame (its verdicts go to
  // /metrics); it may return null.
  HttpDataPlane(CanaryPair& pair, InferenceService& inference, HttpDataPlaneOptions options,
                std::function<std::shared_ptr<const v1::MetricsFrame>()> latest_frame);
  ~HttpDataPlane() override;

  void Handle(std::shared_ptr<HttpExchange> exchange) override;

  class Relay;

 private:
  void ServeOpenAi(const std::shared_ptr<HttpExchange>& exchange);
  void ServeOip(const std::shared_ptr<HttpExchange>& exchange);

  CanaryPair& m_pair;
  InferenceService& m_inference;
  const HttpDataPlaneOptions m_options;
  std::function<std::shared_ptr<const v1::MetricsFrame>()> m_latest_frame;
};

// The Prometheus text exposition of the agent's counters (see /metrics).
std::string PrometheusText(CanaryPair& pair, const InferenceIdentity& identity,
                           const v1::MetricsFrame* latest);

}  // namespace greylane
