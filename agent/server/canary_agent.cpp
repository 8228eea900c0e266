#include "agent/server/canary_agent.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "agent/backends/builtin_backend.h"
#include "agent/backends/oip_grpc_backend.h"

namespace greylane {
namespace {

int64_t UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string NodeName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-node";
  return name;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

std::shared_ptr<grpc::ServerCredentials> Credentials(const TlsFiles& tls, const char* plane,
                                                     std::string* error) {
  if (!tls.Enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!ReadFile(tls.key, &pair.private_key) || !ReadFile(tls.cert, &pair.cert_chain)) {
    *error = std::string("cannot read the ") + plane + " plane's TLS key '" + tls.key +
             "' or certificate '" + tls.cert + "'";
    return nullptr;
  }
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

std::string WithPort(const std::string& listen, int port) {
  return listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
}

}  // namespace

std::unique_ptr<Backend> MakeBackend(const SlotConfig& slot, std::string* error) {
  if (slot.backend == "builtin") {
    std::unique_ptr<BuiltinBackend> backend = BuiltinBackend::Open(slot.model_file, error);
    if (!backend) return nullptr;
    return backend;
  }
  if (slot.backend == "oip-grpc") return std::make_unique<OipGrpcBackend>(slot.upstream);
  *error = "unknown backend kind '" + slot.backend + "'";
  return nullptr;
}

CanaryAgent::CanaryAgent(AgentConfig config) : m_config(std::move(config)) {}

std::unique_ptr<CanaryAgent> CanaryAgent::Create(const AgentConfig& config, std::string* error) {
  std::unique_ptr<CanaryAgent> agent(new CanaryAgent(config));
  AgentConfig& c = agent->m_config;
  if (c.agent_id.empty()) c.agent_id = NodeName();
  if (std::string problem = ValidateConfig(c); !problem.empty()) {
    *error = problem;
    return nullptr;
  }
  std::unique_ptr<Backend> baseline = MakeBackend(c.baseline, error);
  if (!baseline) {
    *error = "baseline " + c.baseline.version + ": " + *error;
    return nullptr;
  }
  std::unique_ptr<Backend> candidate = MakeBackend(c.candidate, error);
  if (!candidate) {
    *error = "candidate " + c.candidate.version + ": " + *error;
    return nullptr;
  }
  if (!c.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(c.state_dir, ec);
    if (ec) {
      *error = "cannot create state dir '" + c.state_dir + "': " + ec.message();
      return nullptr;
    }
  }
  agent->m_pair =
      std::make_unique<CanaryPair>(SlotVersion{c.baseline.version, std::move(baseline)},
                                   SlotVersion{c.candidate.version, std::move(candidate)},
                                   SplitValue{c.initial_candidate_basis_points, 1});
  agent->m_hub = std::make_unique<MetricsHub>(c.agent_id, c.ring_frames);
  AgentIdentity identity{c.agent_id,    NodeName(),
                         c.model_name,  c.sticky_header,
                         kAgentVersion, UnixMillis(std::chrono::system_clock::now())};
  agent->m_control = std::make_unique<ControlService>(*agent->m_pair, *agent->m_hub, identity);
  agent->m_inference = std::make_unique<InferenceService>(
      *agent->m_pair, InferenceIdentity{c.model_name, c.sticky_header, kAgentVersion});
  return agent;
}

CanaryAgent::~CanaryAgent() {
  Shutdown();
}

void CanaryAgent::ProbeOnce() {
  for (const SlotId slot : {SlotId::kBaseline, SlotId::kCandidate}) {
    const grpc::Status status = m_pair->Version(slot).backend->Probe(m_config.probe_timeout);
    m_pair->SetHealth(slot, {status.ok() ? v1::HEALTHY : v1::UNHEALTHY, status.error_message(),
                             UnixMillis(std::chrono::system_clock::now())});
  }
  if (m_data_server) {
    m_data_server->GetHealthCheckService()->SetServingStatus(m_pair->Ready());
  }
}

bool CanaryAgent::Start(std::string* error) {
  ProbeOnce();
  grpc::EnableDefaultHealthCheckService(true);

  auto build = [&](const std::string& listen, const TlsFiles& tls, const char* plane,
                   grpc::Service* service, std::string* bound) -> std::unique_ptr<grpc::Server> {
    auto credentials = Credentials(tls, plane, error);
    if (!credentials) return nullptr;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(listen, credentials, &port);
    builder.RegisterService(service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
      *error = std::string("cannot listen on ") + listen + " for the " + plane +
               " plane (address in use, or not an address of this host)";
      return nullptr;
    }
    *bound = WithPort(listen, port);
    return server;
  };
  m_control_server = build(m_config.control_listen, m_config.control_tls, "control",
                           m_control.get(), &m_control_address);
  if (!m_control_server) return false;
  m_data_server =
      build(m_config.data_listen, m_config.data_tls, "data", m_inference.get(), &m_data_address);
  if (!m_data_server) {
    m_control_server->Shutdown();
    m_control_server.reset();
    return false;
  }
  m_data_server->GetHealthCheckService()->SetServingStatus(m_pair->Ready());
  m_ticker = std::thread([this] { TickerLoop(); });
  m_prober = std::thread([this] { ProberLoop(); });
  return true;
}

bool CanaryAgent::Sleep(std::chrono::system_clock::time_point until) {
  std::unique_lock lock(m_stop_mutex);
  return !m_stop_cv.wait_until(lock, until, [this] { return m_stopping; });
}

void CanaryAgent::TickerLoop() {
  using namespace std::chrono;
  // Windows end on whole wall-clock seconds so frames of different agents line up.
  auto next = ceil<seconds>(system_clock::now());
  while (Sleep(next)) {
    const SplitValue split = m_pair->Split().Load();
    const WindowSource sources[] = {
        {v1::BASELINE, m_pair->Version(SlotId::kBaseline).version,
         &m_pair->Recorder(SlotId::kBaseline)},
        {v1::CANDIDATE, m_pair->Version(SlotId::kCandidate).version,
         &m_pair->Recorder(SlotId::kCandidate)},
    };
    m_hub->Seal(UnixMillis(next), split.revision, split.candidate_basis_points, sources);
    next += seconds(1);
    // After a stall (suspend, debugger) skip ahead rather than burst.
    if (next < system_clock::now()) next = ceil<seconds>(system_clock::now());
  }
}

void CanaryAgent::ProberLoop() {
  while (Sleep(std::chrono::system_clock::now() + m_config.probe_interval)) ProbeOnce();
}

void CanaryAgent::Shutdown() {
  {
    std::lock_guard lock(m_stop_mutex);
    if (m_shut_down) return;
    m_shut_down = true;
    m_stopping = true;
  }
  m_stop_cv.notify_all();
  if (m_data_server) {
    m_data_server->GetHealthCheckService()->SetServingStatus(false);
    m_data_server->Shutdown(std::chrono::system_clock::now() + m_config.drain_timeout);
  }
  if (m_hub) m_hub->CloseSinks();
  if (m_control_server) {
    m_control_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  if (m_ticker.joinable()) m_ticker.join();
  if (m_prober.joinable()) m_prober.join();
  if (m_data_server) m_data_server->Wait();
  if (m_control_server) m_control_server->Wait();
}

}  // namespace greylane
