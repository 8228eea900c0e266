#pragma once
// The protections every data-plane request passes, whatever its protocol
// (gRPC ModelInfer, the HTTP routes): the candidate's circuit breaker and
// both roles' rate limits. They may move a request meant for the candidate
// to the baseline, or refuse it; the breaker then learns how it went.
#include <cstdint>
#include <string>

#include <grpcpp/support/status.h>

#include "agent/server/canary_pair.h"

namespace greylane {

struct SlotAdmission {
  bool admitted = false;
  ReleaseRole role = ReleaseRole::kBaseline;  // who serves it (maybe moved)
  bool trial = false;                         // the half-open breaker's trial request
  grpc::StatusCode refusal_code = grpc::StatusCode::OK;
  std::string refusal;    // why not, for a person
  int retry_after_s = 1;  // for a refusal's Retry-After: an open breaker's wait, else 1
};

// `routed` is what the router chose; `pinned` when the caller named it.
SlotAdmission AdmitRequest(CanaryPair& pair, const SplitValue& split, ReleaseRole routed,
                           bool pinned);

enum class ServedAs { kOk, kClientError, kServerError };

// Tells the slot's breaker how the request went, unless the version that
// served it was replaced meanwhile (its new breaker knows nothing of it).
void SettleBreaker(CanaryPair& pair, SlotIndex slot, const SlotVersion* served, bool trial,
                   ServedAs how, const std::string& error);

// Nanoseconds on the steady clock, the breakers' and limits' time.
int64_t SteadyNanos();

}  // namespace greylane
