#include "agent/server/canary_agent.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "agent/auth/token_store.h"
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

std::shared_ptr<grpc::ServerCredentials> Credentials(const TlsFiles& tls,
                                                     const std::string& client_ca,
                                                     const char* plane, std::string* error) {
  if (!tls.Enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!ReadFile(tls.key, &pair.private_key) || !ReadFile(tls.cert, &pair.cert_chain)) {
    *error = std::string("cannot read the ") + plane + " plane's TLS key '" + tls.key +
             "' or certificate '" + tls.cert + "'";
    return nullptr;
  }
  grpc::SslServerCredentialsOptions options(
      client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!client_ca.empty() && !ReadFile(client_ca, &options.pem_root_certs)) {
    *error = "cannot read the client CA '" + client_ca + "'";
    return nullptr;
  }
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
  if (c.state_dir.empty()) {
    if (!c.demo_tokens) {
      *error = "--state-dir is required: the audit trail and release state live there";
      return nullptr;
    }
    std::string dir = (std::filesystem::temp_directory_path() / "greylane-agent.XXXXXX").string();
    if (!::mkdtemp(dir.data())) {
      *error = "cannot create a temporary state dir";
      return nullptr;
    }
    c.state_dir = dir;
  }
  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec) {
    *error = "cannot create state dir '" + c.state_dir + "': " + ec.message();
    return nullptr;
  }

  // Tokens: the agent keeps only their hashes.
  TokenStore tokens;
  if (c.demo_tokens && c.tokens_file.empty()) {
    agent->m_demo_tokens_file = (std::filesystem::path(c.state_dir) / "demo-tokens").string();
    auto minted = LoadOrCreateDemoTokens(agent->m_demo_tokens_file, error);
    if (!minted) return nullptr;
    tokens = StoreFor(*minted);
  } else {
    auto loaded = TokenStore::LoadFile(c.tokens_file, error);
    if (!loaded) return nullptr;
    if (loaded->Size() == 0) {
      *error = c.tokens_file + " lists no tokens: nobody could call the control API";
      return nullptr;
    }
    tokens = std::move(*loaded);
  }

  agent->m_audit = AuditLog::Open((std::filesystem::path(c.state_dir) / "audit.db").string(),
                                  AuditLog::Mode::kReadWrite, error);
  if (!agent->m_audit) return nullptr;

  // The release state: the last committed one wins over the config.
  ReleaseState release;
  uint64_t stored_at = 0;
  if (auto blob = agent->m_audit->LoadState(&stored_at)) {
    auto decoded = DecodeReleaseState(*blob, error);
    if (!decoded) {
      *error = "state dir " + c.state_dir + ": " + *error;
      return nullptr;
    }
    release = std::move(*decoded);
    agent->m_restored = true;
    agent->m_restore_detail =
        "restored split " + std::to_string(release.split.candidate_basis_points) +
        " bp, revision " + std::to_string(release.split.revision) + ", phase " +
        PhaseName(release.phase) + " from audit row #" + std::to_string(stored_at);
  } else {
    release.split = {c.initial_candidate_basis_points, 1, false};
    release.phase = c.initial_candidate_basis_points == 0 ? v1::STEADY : v1::CANARY;
    release.slot_specs = {c.baseline, c.candidate};
  }

  std::array<SlotVersion, 2> versions;
  for (size_t i = 0; i < 2; ++i) {
    std::unique_ptr<Backend> backend = MakeBackend(release.slot_specs[i], error);
    if (!backend) {
      *error = "version " + release.slot_specs[i].version + ": " + *error;
      return nullptr;
    }
    versions[i] = {release.slot_specs[i].version, std::move(backend), release.slot_specs[i]};
  }
  agent->m_pair =
      std::make_unique<CanaryPair>(std::move(versions[0]), std::move(versions[1]), release.split);
  agent->m_hub = std::make_unique<MetricsHub>(c.agent_id, c.ring_frames);
  AgentIdentity identity{c.agent_id,    NodeName(),
                         c.model_name,  c.sticky_header,
                         kAgentVersion, UnixMillis(std::chrono::system_clock::now())};
  agent->m_release = std::make_unique<ReleaseController>(*agent->m_pair, *agent->m_audit, identity,
                                                         std::move(release), c.probe_timeout);
  agent->m_control =
      std::make_unique<ControlService>(*agent->m_release, *agent->m_hub, std::move(tokens));
  agent->m_inference = std::make_unique<InferenceService>(
      *agent->m_pair, InferenceIdentity{c.model_name, c.sticky_header, kAgentVersion});
  return agent;
}

CanaryAgent::~CanaryAgent() {
  Shutdown();
}

void CanaryAgent::ProbeOnce() {
  for (size_t physical = 0; physical < CanaryPair::kPhysicalSlots; ++physical) {
    const SlotVersion* version = &m_pair->VersionAt(physical);
    const grpc::Status status = version->backend->Probe(m_config.probe_timeout);
    m_pair->SetHealthAt(physical, version,
                        {status.ok() ? v1::HEALTHY : v1::UNHEALTHY, status.error_message(),
                         UnixMillis(std::chrono::system_clock::now())});
  }
  if (m_data_server) {
    m_data_server->GetHealthCheckService()->SetServingStatus(m_pair->Ready());
  }
}

bool CanaryAgent::Start(std::string* error) {
  ProbeOnce();
  const std::string how = m_restored ? m_restore_detail
                                     : std::string("first start: ") +
                                           (m_config.demo_tokens ? "--demo" : "from the config");
  if (!m_release->RecordStart(m_restored, how, error)) return false;
  grpc::EnableDefaultHealthCheckService(true);

  auto build = [&](const std::string& listen, const TlsFiles& tls, const char* plane,
                   grpc::Service* service, std::string* bound) -> std::unique_ptr<grpc::Server> {
    const bool control = std::string(plane) == "control";
    auto credentials =
        Credentials(tls, control ? m_config.client_ca : m_config.data_client_ca, plane, error);
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
    // Sources stay in physical order (the hub keeps per-source totals); each
    // is labelled with the role it plays now.
    WindowSource sources[CanaryPair::kPhysicalSlots];
    for (size_t i = 0; i < CanaryPair::kPhysicalSlots; ++i) {
      sources[i] = {ToProto(CanaryPair::RoleOf(i, split)), m_pair->VersionAt(i).version,
                    &m_pair->RecorderAt(i)};
    }
    m_hub->Seal(UnixMillis(next), split.revision, split.candidate_basis_points, sources);
    next += seconds(1);
    // After a stall (suspend, debugger) skip ahead rather than burst.
    if (next < system_clock::now()) next = ceil<seconds>(system_clock::now());
  }
}

void CanaryAgent::ProberLoop() {
  while (Sleep(std::chrono::system_clock::now() + m_config.probe_interval)) {
    ProbeOnce();
    m_audit->Checkpoint();
  }
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
  if (m_release) m_release->CloseWatchers();
  if (m_control_server) {
    m_control_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  if (m_ticker.joinable()) m_ticker.join();
  if (m_prober.joinable()) m_prober.join();
  if (m_data_server) m_data_server->Wait();
  if (m_control_server) m_control_server->Wait();
  if (m_control) m_control->JoinWorkers();
}

}  // namespace greylane
