#include "agent/server/canary_agent.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "agent/auth/token_store.h"
#include "common/files.h"
#include "common/text.h"
#include "common/unix_time.h"

namespace greylane {
namespace {

HttpLimits HttpLimitsOf(const AgentConfig& c) {
  HttpLimits limits;
  limits.request_timeout = c.http_request_timeout;
  limits.idle_timeout = c.http_idle_timeout;
  limits.write_timeout = c.http_write_timeout;
  return limits;
}

std::string NodeName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-node";
  return ClampText(name, 128);
}

std::shared_ptr<grpc::ServerCredentials> Credentials(const TlsFiles& tls,
                                                     const std::string& client_ca,
                                                     const char* plane, std::string* error) {
  if (!tls.Enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  grpc::SslServerCredentialsOptions options(
      client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  struct Wanted {
    const std::string& path;
    std::string* field;
    std::string what;
  };
  for (const Wanted& w :
       {Wanted{tls.key, &pair.private_key, std::string("the ") + plane + " plane's TLS key"},
        Wanted{tls.cert, &pair.cert_chain,
               std::string("the ") + plane + " plane's TLS certificate"},
        Wanted{client_ca, &options.pem_root_certs,
               std::string("the ") + plane + " plane's client CA"}}) {
    if (w.path.empty()) continue;
    absl::StatusOr<std::string> text = ReadRegularFile(w.path, kMaxPemBytes, w.what);
    if (!text.ok()) {
      *error = std::string(text.status().message());
      return nullptr;
    }
    *w.field = std::move(*text);
  }
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

std::string WithPort(const std::string& listen, int port) {
  return listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
}

}  // namespace

CanaryAgent::CanaryAgent(AgentConfig config) : m_config(std::move(config)) {}

std::unique_ptr<CanaryAgent> CanaryAgent::Create(const AgentConfig& config, std::string* error) {
  // A temporary state dir made here goes again if the agent is not made;
  // declared first, so it acts after the agent's files are closed.
  struct TemporaryDir {
    std::string path;
    ~TemporaryDir() {
      std::error_code ignored;
      if (!path.empty()) std::filesystem::remove_all(path, ignored);
    }
  } unmade;
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
    agent->m_temporary_state_dir = true;
    unmade.path = dir;
  }
  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec) {
    *error = "cannot create state dir '" + c.state_dir + "': " + ec.message();
    return nullptr;
  }

  // One agent per state dir, before anything in it is read or written.
  absl::StatusOr<std::unique_ptr<StateDirLock>> lock = StateDirLock::Acquire(c.state_dir);
  if (!lock.ok()) {
    *error = std::string(lock.status().message());
    return nullptr;
  }
  agent->m_lock = std::move(*lock);

  // Tokens: the agent keeps only their hashes.
  TokenStore tokens;
  if (c.demo_tokens && c.tokens_file.empty()) {
    agent->m_demo_tokens_file = (std::filesystem::path(c.state_dir) / "demo-tokens").string();
    auto minted = LoadOrCreateDemoTokens(agent->m_demo_tokens_file, error);
    if (!minted) return nullptr;
    tokens = StoreFor(*minted);
  } else {
    absl::StatusOr<TokenStore> loaded =
        TokenStore::LoadFile(c.tokens_file, &agent->m_tokens_warning);
    if (!loaded.ok()) {
      *error = std::string(loaded.status().message());
      return nullptr;
    }
    if (loaded->Size() == 0) {
      *error = c.tokens_file + " lists no tokens: nobody could call the control API";
      return nullptr;
    }
    tokens = std::move(*loaded);
  }

  absl::StatusOr<std::unique_ptr<AuditLog>> audit =
      AuditLog::Open((std::filesystem::path(c.state_dir) / "audit.db").string(),
                     AuditLog::Mode::kReadWrite, {.accept_lost_journal = c.recover_state});
  if (!audit.ok()) {
    *error = std::string(audit.status().message());
    return nullptr;
  }
  agent->m_audit = std::move(*audit);

  // The release state: the stored one when the trail agrees with it.
  absl::StatusOr<RestoredRelease> restored = RestoreRelease(*agent->m_audit, c);
  if (!restored.ok()) {
    *error = std::string(restored.status().message());
    return nullptr;
  }
  agent->m_restored = std::move(*restored);
  if (!agent->m_audit->JournalNote().empty()) {
    agent->m_restored.detail += "; with --recover-state: " + agent->m_audit->JournalNote();
  }
  const ReleaseState& release = agent->m_restored.state;

  std::array<SlotVersion, 2> versions;
  for (size_t i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeBackend(release.slot_specs[i]);
    if (!backend.ok()) {
      *error = "version " + release.slot_specs[i].version + ": " +
               std::string(backend.status().message());
      return nullptr;
    }
    versions[i] = {release.slot_specs[i].version, std::move(*backend), release.slot_specs[i], {}};
    if (const VersionSpec& spec = release.slot_specs[i]; !spec.command.empty()) {
      versions[i].process = std::make_shared<SupervisedProcess>(
          spec.version, spec.command, spec.health_url, spec.ready_timeout);
    }
  }
  agent->m_pair =
      std::make_unique<CanaryPair>(std::move(versions[0]), std::move(versions[1]), release.split);
  agent->m_hub = std::make_unique<MetricsHub>(c.agent_id, c.ring_frames);
  absl::StatusOr<std::unique_ptr<HistoryStore>> history =
      HistoryStore::Open((std::filesystem::path(c.state_dir) / "history.db").string(),
                         HistoryOptions{std::chrono::hours(24 * c.history_retention_days),
                                        static_cast<uint64_t>(c.history_max_mb) << 20});
  // History serves reviews, not safety: an agent whose disk cannot hold it
  // still starts (and says so), as it does on a full disk.
  if (history.ok()) {
    agent->m_history = std::move(*history);
  } else {
    agent->m_history_problem = std::string(history.status().message());
    std::fprintf(stderr, "greylane-agent: running without history: %s\n",
                 agent->m_history_problem.c_str());
  }
  agent->m_steps = std::make_unique<StepLedger>(UnixMillis(std::chrono::system_clock::now()));
  agent->m_analysis = std::make_unique<CanaryAnalysis>(release.policy);
  AgentIdentity identity{c.agent_id,    NodeName(),
                         c.model_name,  c.sticky_header,
                         kAgentVersion, UnixMillis(std::chrono::system_clock::now())};
  agent->m_release = std::make_unique<ReleaseController>(
      *agent->m_pair, *agent->m_audit, identity, release,
      ReleaseLimits{c.probe_timeout, c.models_root, c.health_row_gap}, agent->m_steps.get());
  agent->m_control =
      std::make_unique<ControlService>(*agent->m_release, *agent->m_hub, agent->m_history.get(),
                                       agent->m_history_problem, std::move(tokens));
  agent->m_outcome_ledger = std::make_unique<OutcomeLedger>();
  agent->m_inference = std::make_unique<InferenceService>(
      *agent->m_pair, InferenceIdentity{c.agent_id, c.model_name, c.sticky_header, kAgentVersion},
      *agent->m_outcome_ledger);
  agent->m_outcomes = std::make_unique<OutcomeService>(*agent->m_pair, *agent->m_outcome_ledger);
  if (!c.request_log.path.empty()) {
    absl::StatusOr<std::unique_ptr<RequestLog>> log =
        RequestLog::Open({c.request_log.path, c.request_log.sample,
                          static_cast<uint64_t>(c.request_log.max_mb) << 20,
                          static_cast<int>(c.request_log.keep), c.state_dir});
    if (!log.ok()) {
      *error = std::string(log.status().message()) + " (the request log)";
      return nullptr;
    }
    agent->m_request_log = std::move(*log);
    agent->m_inference->SetRequestLog(agent->m_request_log.get());
  }
  unmade.path.clear();  // made: main removes it when the agent stops
  return agent;
}

CanaryAgent::~CanaryAgent() {
  Shutdown();
}

void CanaryAgent::ProbeOnce() {
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    const SlotVersion* version = &m_pair->VersionAt(slot);
    const grpc::Status status =
        version->backend->Probe(m_config.probe_timeout, ForwardingName(m_config.agent_id));
    m_release->RecordHealth(slot, version,
                            {status.ok() ? v1::HEALTHY : v1::UNHEALTHY, status.error_message(),
                             UnixMillis(std::chrono::system_clock::now())});
  }
  if (m_data_server) {
    m_data_server->GetHealthCheckService()->SetServingStatus(m_pair->Ready());
  }
}

bool CanaryAgent::Start(std::string* error) {
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    if (const auto& process = m_pair->VersionAt(slot).process) process->Start();
  }
  // The start row comes first in the trail; the first probe's health row
  // (when a version starts unhealthy) follows it.
  m_release->RecordStart(m_restored);
  ProbeOnce();
  grpc::EnableDefaultHealthCheckService(true);

  auto build = [&](const std::string& listen, const TlsFiles& tls, const char* plane,
                   std::initializer_list<grpc::Service*> services,
                   std::string* bound) -> std::unique_ptr<grpc::Server> {
    const bool control = std::string(plane) == "control";
    auto credentials =
        Credentials(tls, control ? m_config.client_ca : m_config.data_client_ca, plane, error);
    if (!credentials) return nullptr;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(listen, credentials, &port);
    for (grpc::Service* service : services) builder.RegisterService(service);
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
                           {m_control.get()}, &m_control_address);
  if (!m_control_server) return false;
  m_data_server = build(m_config.data_listen, m_config.data_tls, "data",
                        {m_inference.get(), m_outcomes.get()}, &m_data_address);
  if (!m_data_server) {
    m_control_server->Shutdown();
    m_control_server.reset();
    return false;
  }
  m_data_server->GetHealthCheckService()->SetServingStatus(m_pair->Ready());
  if (!m_config.http_listen.empty()) {
    m_http_plane = std::make_unique<HttpDataPlane>(
        *m_pair, *m_inference, HttpDataPlaneOptions{},
        [hub = m_hub.get()]() -> std::shared_ptr<const v1::MetricsFrame> {
          std::vector<FramePtr> last = hub->Recent(1);
          return last.empty() ? nullptr : last.front();
        });
    std::optional<HttpTlsPem> pem;
    if (m_config.http_tls.Enabled()) {
      absl::StatusOr<std::string> cert =
          ReadRegularFile(m_config.http_tls.cert, kMaxPemBytes, "the HTTP plane's TLS certificate");
      absl::StatusOr<std::string> key =
          cert.ok()
              ? ReadRegularFile(m_config.http_tls.key, kMaxPemBytes, "the HTTP plane's TLS key")
              : cert.status();
      if (!key.ok()) {
        *error = std::string(key.status().message());
        m_data_server->Shutdown();
        m_control_server->Shutdown();
        m_data_server.reset();
        m_control_server.reset();
        return false;
      }
      pem = HttpTlsPem{std::move(*cert), std::move(*key)};
    }
    absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
        m_config.http_listen, HttpLimitsOf(m_config), *m_http_plane, pem ? &*pem : nullptr);
    if (!http.ok() && !m_config.http_listen_given && !m_config.http_tls.Enabled()) {
      m_http_warning = std::string(http.status().message()) +
                       ": the HTTP data plane (OpenAI API, /metrics) is off; give --http-listen "
                       "ADDR (port 0 picks a free one)";
    } else if (!http.ok()) {
      *error = std::string(http.status().message()) + " (the HTTP data plane, --http-listen)";
      m_data_server->Shutdown();
      m_control_server->Shutdown();
      m_data_server.reset();
      m_control_server.reset();
      return false;
    }
    if (http.ok()) {
      m_http_server = std::move(*http);
      m_http_address = m_http_server->Address();
    }
  }
  m_lock->Describe("control " + m_control_address + ", data " + m_data_address +
                   (m_http_address.empty() ? "" : ", http " + m_http_address));
  m_ticker = std::thread([this] { TickerLoop(); });
  m_prober = std::thread([this] { ProberLoop(); });
  m_housekeeper = std::thread([this] { HousekeeperLoop(); });
  return true;
}

absl::Status CanaryAgent::WriteReadyFile(const std::string& path) const {
  // The file is written beside its place and renamed over it, so it must
  // never replace something else: a device (--ready-file /dev/full once
  // became a regular file) or the agent's own state.
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status existing = fs::symlink_status(path, ec);
  if (fs::exists(existing) && !fs::is_regular_file(existing)) {
    return absl::FailedPreconditionError("the ready file " + Quote(path, 300) +
                                         " exists and is not a regular file; give the path of a "
                                         "new or regular file");
  }
  const fs::path target = fs::weakly_canonical(path, ec);
  const fs::path state = fs::weakly_canonical(m_config.state_dir, ec);
  for (const char* own : {"audit.db", "audit.db-wal", "audit.db-shm", "audit.db-pending",
                          "agent.lock", "demo-tokens"}) {
    if (target == state / own) {
      return absl::FailedPreconditionError("the ready file " + Quote(path, 300) +
                                           " would replace the agent's own " + own);
    }
  }
  if (fs::exists(existing)) {
    // Only a ready file is replaced: a config or model file given by
    // mistake (the config once became `control=...`) is not.
    char head[8] = {};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    const ssize_t n = fd < 0 ? -1 : ::read(fd, head, sizeof(head));
    if (fd >= 0) ::close(fd);
    if (n != 0 &&
        (n != static_cast<ssize_t>(sizeof(head)) || std::memcmp(head, "control=", 8) != 0)) {
      return absl::FailedPreconditionError(
          "the ready file " + Quote(path, 300) +
          " exists and is not a ready file (it does not start with `control=`); give a new path, "
          "or remove it if it is an old one");
    }
  }
  if (!m_config.tokens_file.empty() && target == fs::weakly_canonical(m_config.tokens_file, ec)) {
    return absl::FailedPreconditionError("the ready file " + Quote(path, 300) +
                                         " would replace the tokens file");
  }
  const std::string tmp = path + ".tmp";
  std::string text = "control=" + m_control_address + "\n" + "data=" + m_data_address + "\n";
  if (!m_http_address.empty()) text += "http=" + m_http_address + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  struct stat info {};
  if (fd < 0 || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::close(fd) != 0) {
    const int err = errno;
    if (fd >= 0 && S_ISREG(info.st_mode)) std::remove(tmp.c_str());
    return absl::FailedPreconditionError("cannot write the ready file " + Quote(tmp, 300) + ": " +
                                         (fd >= 0 && !S_ISREG(info.st_mode)
                                              ? std::string("not a regular file")
                                              : std::string(std::strerror(err))));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::FailedPreconditionError("cannot write the ready file " + Quote(path, 300) + ": " +
                                         std::strerror(err));
  }
  return absl::OkStatus();
}

bool CanaryAgent::Sleep(std::chrono::system_clock::time_point until) {
  absl::MutexLock lock(&m_stop_mutex);
  // absl::FromChrono saturates a far-off time rather than wrapping it.
  m_stop_mutex.AwaitWithDeadline(absl::Condition(this, &CanaryAgent::Stopping),
                                 absl::FromChrono(until));
  return !m_stopping;
}

void CanaryAgent::TickerLoop() {
  using namespace std::chrono;
  // Windows end on whole wall-clock seconds so frames of different agents line up.
  auto next = ceil<seconds>(system_clock::now());
  while (Sleep(next)) {
    const SplitValue split = m_pair->Split().Load();
    // Sources stay in slot order (the hub keeps per-source totals); each
    // is labelled with the role it plays now.
    WindowSource sources[CanaryPair::kSlots];
    for (size_t i = 0; i < CanaryPair::kSlots; ++i) {
      sources[i] = {ToProto(CanaryPair::RoleOf(i, split)), m_pair->VersionAt(i).version,
                    &m_pair->RecorderAt(i)};
    }
    const FramePtr frame =
        m_hub->Seal(UnixMillis(next), split.revision, split.candidate_basis_points, sources,
                    [&](v1::MetricsFrame* f) {
                      Analyse(f, split);
                      // Before watchers see the frame: a change made on
                      // seeing it must find its second in the step it ends.
                      m_steps->Add(*f);
                    });
    if (m_history) m_history->Add(*frame);
    next += seconds(1);
    // After a stall (suspend, debugger) skip ahead rather than burst.
    if (next < system_clock::now()) next = ceil<seconds>(system_clock::now());
  }
}

void CanaryAgent::Analyse(v1::MetricsFrame* frame, const SplitValue& split) {
  const AnalysisPolicy policy = m_release->Policy();
  if (!(policy == m_analysis->Policy())) m_analysis->SetPolicy(policy);
  // Without canary traffic there is nothing to judge, and the next canary
  // (after a rollback, say) starts with an empty window, not the old evidence.
  if (split.candidate_basis_points == 0) m_analysis->Reset();
  AnalysisVerdict verdict = m_analysis->Add(*frame);
  if (split.candidate_basis_points == 0) {
    for (CheckResult& c : verdict.checks)
      c.detail = "not judged: the candidate has no traffic (split 0 %)";
  }
  bool rolled_back = false;
  if (verdict.rollback && split.candidate_basis_points > 0) {
    std::string failed;
    for (const CheckResult& c : verdict.checks) {
      if (c.verdict == CheckVerdict::kFail) failed += (failed.empty() ? "" : ", ") + c.check;
    }
    const std::string reason = "automatic rollback: candidate '" + verdict.candidate_version +
                               "' failed " + failed + " against the baseline";
    rolled_back = m_release->AutoRollback(verdict.candidate_version, reason, verdict.evidence);
    if (rolled_back) {
      std::fprintf(stderr, "greylane-agent: %s\n", reason.c_str());
      m_analysis->Reset();
    }
  }
  verdict.rollback = rolled_back;
  for (const CheckResult& w : verdict.new_warnings) {
    const std::string what = w.verdict == CheckVerdict::kFail
                                 ? "fails " + w.check + " (not armed: no rollback)"
                                 : "warns on " + w.check;
    m_release->RecordWarning("analysis: candidate '" + verdict.candidate_version + "' " + what +
                                 " (repeats are merged for 5 minutes)",
                             w.detail);
  }
  VerdictToProto(verdict, policy.armed, frame->mutable_analysis());
  m_release->PublishVerdict(frame->analysis());
  m_release->TickRollout(frame->analysis());
}

void CanaryAgent::ProberLoop() {
  while (Sleep(std::chrono::system_clock::now() + m_config.probe_interval)) ProbeOnce();
}

void CanaryAgent::HousekeeperLoop() {
  // Pending audit rows are retried and refusal summaries written each second.
  while (Sleep(std::chrono::system_clock::now() + std::chrono::seconds(1))) m_release->Housekeep();
}

void CanaryAgent::Shutdown() {
  {
    absl::MutexLock lock(&m_stop_mutex);
    if (m_shut_down) return;
    m_shut_down = true;
    m_stopping = true;
  }
  if (m_data_server) {
    m_data_server->GetHealthCheckService()->SetServingStatus(false);
    m_data_server->Shutdown(std::chrono::system_clock::now() + m_config.drain_timeout);
  }
  if (m_http_server) {
    if (m_inference) m_inference->FlushDelays();
    m_http_server->Shutdown(m_config.drain_timeout);
  }
  if (m_hub) m_hub->CloseSinks();
  if (m_release) m_release->CloseWatchers();
  if (m_control_server) {
    m_control_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  if (m_ticker.joinable()) m_ticker.join();
  if (m_prober.joinable()) m_prober.join();
  if (m_housekeeper.joinable()) m_housekeeper.join();
  // Queued slow calls finish (their calls are cancelled) before the server waits on them.
  if (m_control) m_control->JoinWorkers();
  if (m_inference) m_inference->FlushDelays();
  if (m_data_server) m_data_server->Wait();
  if (m_control_server) m_control_server->Wait();
  // The model servers it runs go after the last request they could serve.
  for (SlotIndex slot = 0; m_pair && slot < CanaryPair::kSlots; ++slot) {
    if (const auto& process = m_pair->VersionAt(slot).process) process->Stop();
  }
  if (m_release) m_release->Housekeep(/*final=*/true);
}

}  // namespace greylane
