#pragma once
// Shared by the agent's test suites: requests built from the digits data,
// in-process agents on free loopback ports, and small client shortcuts.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "agent/load/digits_dataset.h"
#include "agent/load/load_generator.h"
#include "agent/server/canary_agent.h"
#include "greylane/v1/agent.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"

namespace greylane::test {

std::string ModelsDir();
const std::vector<DigitsRow>& Holdout();

inference::ModelInferRequest DigitsRequest(const std::vector<const DigitsRow*>& rows,
                                           bool raw = true);
inference::ModelInferRequest DigitsRequest(const DigitsRow& row, bool raw = true);
// Probabilities of every row, whichever way the response carried them.
std::vector<float> Probabilities(const inference::ModelInferResponse& response);
int ArgMax(const float* p, int n = 10);

// The demo pair on 127.0.0.1:0 with the given candidate share.
AgentConfig DemoTestConfig(uint32_t candidate_basis_points);
std::unique_ptr<CanaryAgent> StartAgent(const AgentConfig& config, std::string* error);

struct Clients {
  std::unique_ptr<inference::GRPCInferenceService::Stub> data;
  std::unique_ptr<v1::Agent::Stub> control;
};
Clients Connect(const CanaryAgent& agent);

// One ModelInfer with a sticky user (empty: none) and optional pin header.
grpc::Status Infer(inference::GRPCInferenceService::Stub& stub,
                   const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response, const std::string& user = {},
                   const std::string& pin_header = {}, std::string* slot_trailer = nullptr);

void SetDeadline(grpc::ClientContext& context, int seconds = 10);
// The demo token of a role ("viewer", "operator", "admin") minted by the agent.
std::string DemoToken(const CanaryAgent& agent, const std::string& role);
// Deadline plus `authorization: Bearer <token>`.
void Prepare(grpc::ClientContext& context, const std::string& token, int seconds = 10);
// GetState and ListAudit (the first 1000 rows); empty on failure.
v1::AgentState State(v1::Agent::Stub& stub, const std::string& token);
std::vector<v1::AuditEntry> AuditRows(v1::Agent::Stub& stub, const std::string& token);
// InjectFault on `slot` (duration 0 stops its drill).
grpc::Status Drill(v1::Agent::Stub& stub, const std::string& admin_token, v1::Slot slot,
                   uint32_t added_latency_ms, double error_rate, uint32_t seconds,
                   v1::AgentState* out = nullptr);

// greylane-load's generator against one agent, on a thread, until
// destroyed or stopped (5000 users); `outcomes` of the answers have their
// labels reported (RecordOutcome).
class BackgroundLoad {
 public:
  BackgroundLoad(const std::string& target, double seconds, double rps = 200, double outcomes = 0);
  ~BackgroundLoad() { Stop(); }
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;
  void Stop();
  // After Stop().
  const LoadReport& Report() const { return m_report; }
  const std::string& Error() const { return m_error; }

 private:
  std::atomic<bool> m_stop{false};
  LoadReport m_report;
  std::string m_error;
  std::thread m_thread;
};

// One unary call with the request given as raw bytes (for requests no
// generated stub can send: damaged messages, invalid UTF-8 in strings).
grpc::Status RawUnary(const std::string& address, const std::string& method,
                      const std::string& request_bytes, const std::string& token = {},
                      const std::map<std::string, std::string>& metadata = {});

// Protobuf wire bytes, hand-made: a varint field and a length-delimited one.
std::string VarintField(int number, uint64_t value);
std::string BytesField(int number, const std::string& bytes);

// The bytes of every file under `dir`.
uint64_t DirectoryBytes(const std::string& dir);

// Writes a row straight into an audit database, as an older agent (or an
// attacker with the file) would have. The row follows `db`'s last row: the
// next sequence, linked and hashed, the state unchanged unless the caller
// set `after`. Returns the row as stored.
AuditRecord AppendAuditRow(const std::string& db, AuditRecord row);
// The trail's last row, read from the database file.
AuditRecord LastAuditRow(const std::string& db);

}  // namespace greylane::test
