#include "support/agent_test_support.h"

#include <QTemporaryDir>
#include <QtGlobal>

#include <cstring>
#include <filesystem>
#include <future>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <sqlite3.h>

#include "agent/audit/audit_log.h"
#include "common/client_token.h"

namespace greylane::test {

std::string ModelsDir() {
  return GREYLANE_MODELS_SOURCE_DIR;
}

const std::vector<DigitsRow>& Holdout() {
  static const std::vector<DigitsRow> rows = [] {
    std::string error;
    auto loaded = LoadDigitsCsv(ModelsDir() + "/digits-holdout.csv", &error);
    if (loaded.empty()) std::abort();
    return loaded;
  }();
  return rows;
}

inference::ModelInferRequest DigitsRequest(const std::vector<const DigitsRow*>& rows, bool raw) {
  inference::ModelInferRequest request;
  request.set_model_name("digits");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(static_cast<int64_t>(rows.size()));
  input->add_shape(64);
  std::vector<float> values;
  for (const DigitsRow* row : rows)
    values.insert(values.end(), row->pixels.begin(), row->pixels.end());
  if (raw) {
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  } else {
    input->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
  }
  return request;
}

inference::ModelInferRequest DigitsRequest(const DigitsRow& row, bool raw) {
  return DigitsRequest(std::vector<const DigitsRow*>{&row}, raw);
}

std::vector<float> Probabilities(const inference::ModelInferResponse& response) {
  if (response.raw_output_contents_size() > 0) {
    const std::string& raw = response.raw_output_contents(0);
    std::vector<float> values(raw.size() / sizeof(float));
    std::memcpy(values.data(), raw.data(), values.size() * sizeof(float));
    return values;
  }
  if (response.outputs_size() == 0) return {};
  const auto& typed = response.outputs(0).contents().fp32_contents();
  return {typed.begin(), typed.end()};
}

int ArgMax(const float* p, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (p[i] > p[best]) best = i;
  }
  return best;
}

AgentConfig DemoTestConfig(uint32_t candidate_basis_points) {
  AgentConfig config = DemoConfig(ModelsDir());
  config.agent_id = "test-agent";
  config.control_listen = "127.0.0.1:0";
  config.data_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  config.initial_candidate_basis_points = candidate_basis_points;
  config.drain_timeout = std::chrono::milliseconds(2000);
  // Suites that break a version on purpose must not see it rolled back
  // under them; the analysis suites arm it themselves.
  config.analysis.armed = false;
  return config;
}

std::unique_ptr<CanaryAgent> StartAgent(const AgentConfig& given, std::string* error) {
  // Without a state dir a demo agent makes (and keeps) one in /tmp; a test
  // run's are made under one directory removed when the process ends.
  static QTemporaryDir root;
  static int started = 0;
  AgentConfig config = given;
  if (config.state_dir.empty() && root.isValid())
    config.state_dir = root.filePath("agent-" + QString::number(++started)).toStdString();
  auto agent = CanaryAgent::Create(config, error);
  if (!agent || !agent->Start(error)) return nullptr;
  return agent;
}

Clients Connect(const CanaryAgent& agent) {
  Clients clients;
  clients.data = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(agent.DataAddress(), grpc::InsecureChannelCredentials()));
  clients.control = v1::Agent::NewStub(
      grpc::CreateChannel(agent.ControlAddress(), grpc::InsecureChannelCredentials()));
  return clients;
}

void SetDeadline(grpc::ClientContext& context, int seconds) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

std::string DemoToken(const CanaryAgent& agent, const std::string& role) {
  const auto token = ReadTokenFile(agent.DemoTokensFile(), role);
  if (!token.ok() || token->role != role) {
    qFatal("no %s demo token: %s", role.c_str(), std::string(token.status().message()).c_str());
  }
  return token->token;
}

void Prepare(grpc::ClientContext& context, const std::string& token, int seconds) {
  SetDeadline(context, seconds);
  context.AddMetadata("authorization", "Bearer " + token);
}

grpc::Status Infer(inference::GRPCInferenceService::Stub& stub,
                   const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response, const std::string& user,
                   const std::string& pin_header, std::string* slot_trailer) {
  grpc::ClientContext context;
  SetDeadline(context);
  if (!user.empty()) context.AddMetadata("x-user-id", user);
  if (!pin_header.empty()) context.AddMetadata("x-greylane-version", pin_header);
  const grpc::Status status = stub.ModelInfer(&context, request, response);
  if (slot_trailer) {
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto it = trailers.find("x-greylane-slot");
    *slot_trailer = it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }
  return status;
}

v1::AgentState State(v1::Agent::Stub& stub, const std::string& token) {
  grpc::ClientContext c;
  Prepare(c, token);
  v1::AgentState state;
  if (!stub.GetState(&c, {}, &state).ok()) return {};
  return state;
}

std::vector<v1::AuditEntry> AuditRows(v1::Agent::Stub& stub, const std::string& token) {
  grpc::ClientContext c;
  Prepare(c, token);
  v1::ListAuditRequest r;
  r.set_limit(1000);
  v1::ListAuditResponse response;
  if (!stub.ListAudit(&c, r, &response).ok()) return {};
  return {response.entries().begin(), response.entries().end()};
}

grpc::Status Drill(v1::Agent::Stub& stub, const std::string& admin_token, v1::Slot slot,
                   uint32_t added_latency_ms, double error_rate, uint32_t seconds,
                   v1::AgentState* out) {
  grpc::ClientContext c;
  Prepare(c, admin_token);
  v1::InjectFaultRequest r;
  r.set_slot(slot);
  r.set_added_latency_ms(added_latency_ms);
  r.set_error_rate(error_rate);
  r.set_duration_seconds(seconds);
  r.set_reason("game day");
  v1::AgentState state;
  return stub.InjectFault(&c, r, out ? out : &state);
}

BackgroundLoad::BackgroundLoad(const std::string& target, double seconds, double rps,
                               double outcomes) {
  m_thread = std::thread([this, target, seconds, rps, outcomes] {
    LoadOptions options;
    options.target = target;
    options.rps = rps;
    options.outcomes = outcomes;
    options.duration_s = seconds;
    options.users = 5000;
    options.stop = &m_stop;
    m_report = RunLoad(options, {}, &m_error);
  });
}

void BackgroundLoad::Stop() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
}

grpc::Status RawUnary(const std::string& address, const std::string& method,
                      const std::string& request_bytes, const std::string& token,
                      const std::map<std::string, std::string>& metadata) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  if (token.empty()) {
    SetDeadline(context);
  } else {
    Prepare(context, token);
  }
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

std::string VarintField(int number, uint64_t value) {
  std::string out(1, static_cast<char>(number << 3));
  do {
    const auto low = static_cast<unsigned char>(value & 0x7f);
    value >>= 7;
    out += static_cast<char>(low | (value ? 0x80 : 0));
  } while (value);
  return out;
}

std::string BytesField(int number, const std::string& bytes) {
  std::string out = VarintField(number, bytes.size());
  out[0] = static_cast<char>((number << 3) | 2);
  return out + bytes;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

AuditRecord AppendAuditRow(const std::string& db, AuditRecord row) {
  const AuditRecord prev = LastAuditRow(db);
  row.sequence = prev.sequence + 1;
  row.time_unix_ms = prev.time_unix_ms + 1;
  row.before = prev.after;
  if (row.after == AuditState{}) row.after = prev.after;
  if (row.role.empty()) row.role = "operator";
  row.prev_hash = prev.hash;
  row.hash = ComputeRowHash(row);
  sqlite3* handle = nullptr;
  if (sqlite3_open(db.c_str(), &handle) != SQLITE_OK) qFatal("cannot open %s", db.c_str());
  sqlite3_stmt* s = nullptr;
  // Rows as an older agent wrote them: no step column value.
  sqlite3_prepare_v2(handle,
                     "INSERT INTO audit (sequence, time_unix_ms, actor, role, peer, action, "
                     "outcome, reason, before_basis_points, before_revision, before_baseline, "
                     "before_candidate, before_phase, after_basis_points, after_revision, "
                     "after_baseline, after_candidate, after_phase, evidence, prev_hash, hash) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     -1, &s, nullptr);
  int i = 1;
  auto text = [&](const std::string& v) {
    sqlite3_bind_text(s, i++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  };
  sqlite3_bind_int64(s, i++, static_cast<int64_t>(row.sequence));
  sqlite3_bind_int64(s, i++, row.time_unix_ms);
  for (const std::string* t :
       {&row.actor, &row.role, &row.peer, &row.action, &row.outcome, &row.reason}) {
    text(*t);
  }
  for (const AuditState* st : {&row.before, &row.after}) {
    sqlite3_bind_int64(s, i++, st->candidate_basis_points);
    sqlite3_bind_int64(s, i++, static_cast<int64_t>(st->revision));
    text(st->baseline_version);
    text(st->candidate_version);
    text(st->phase);
  }
  text(row.evidence);
  text(row.prev_hash);
  text(row.hash);
  if (sqlite3_step(s) != SQLITE_DONE) qFatal("insert failed: %s", sqlite3_errmsg(handle));
  sqlite3_finalize(s);
  sqlite3_close(handle);
  return row;
}

AuditRecord LastAuditRow(const std::string& db) {
  auto log = AuditLog::Open(db, AuditLog::Mode::kReadOnly);
  if (!log.ok()) qFatal("cannot read %s", db.c_str());
  return *(*log)->Last();
}

}  // namespace greylane::test
