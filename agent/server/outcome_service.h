#pragma once
// RecordOutcome on the data plane: the caller's ground truth for a request
// the agent answered, counted for the version that answered it (per second,
// in that version's MetricsFrame window: `outcomes`, `incorrect`), which
// the analysis turns into each version's accuracy.
#include "agent/server/canary_pair.h"
#include "agent/server/outcome_ledger.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

inline constexpr size_t kMaxRequestIdBytes = 256;

class OutcomeService final
    : public v1::Outcomes::WithRawCallbackMethod_RecordOutcome<v1::Outcomes::Service> {
 public:
  OutcomeService(CanaryPair& pair, OutcomeLedger& ledger) : m_pair(pair), m_ledger(ledger) {}
  grpc::ServerUnaryReactor* RecordOutcome(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  // The answer to one request; public for tests.
  grpc::Status Record(const v1::RecordOutcomeRequest& request, v1::RecordOutcomeResponse* out);

 private:
  CanaryPair& m_pair;
  OutcomeLedger& m_ledger;
};

}  // namespace greylane
