#include "app/agent_client.h"

#include <QElapsedTimer>
#include <QFile>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "common/credentials.h"

namespace greylane {
// Reads one server stream and hands each message to the client's thread.
template <typename Message>
class StreamReader final : public grpc::ClientReadReactor<Message>, public TrackedCall {
 public:
  using Deliver = void (*)(AgentClient*, Message&&);

  StreamReader(AgentClient* owner, uint64_t generation, QString what, Deliver deliver)
      : m_owner(owner), m_generation(generation), m_what(std::move(what)), m_deliver(deliver) {}

  grpc::ClientContext* Context() override { return &m_context; }
  void Begin() {
    this->StartRead(&m_message);
    this->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    Message message;
    message.Swap(&m_message);
    QMetaObject::invokeMethod(
        m_owner,
        [owner = m_owner, generation = m_generation, deliver = m_deliver,
         message = std::move(message)]() mutable {
          if (generation == owner->m_generation) deliver(owner, std::move(message));
        },
        Qt::QueuedConnection);
    this->StartRead(&m_message);
  }

  void OnDone(const grpc::Status& status) override {
    QMetaObject::invokeMethod(
        m_owner,
        [owner = m_owner, generation = m_generation, what = m_what, code = status.error_code(),
         message = QString::fromStdString(status.error_message())] {
          owner->OnStreamEnded(generation, what, code, message);
        },
        Qt::QueuedConnection);
    m_owner->Untrack(this);  // the owner destroys this object later, on its own thread
  }

 private:
  AgentClient* m_owner;
  const uint64_t m_generation;
  const QString m_what;
  const Deliver m_deliver;
  grpc::ClientContext m_context;
  Message m_message;
};

template <typename Request>
class UnaryCall final : public TrackedCall {
 public:
  grpc::ClientContext* Context() override { return &context; }
  grpc::ClientContext context;
  Request request;
  v1::AgentState response;
  QElapsedTimer timer;
};

AgentClient::AgentClient(AgentEndpoint endpoint, QObject* parent)
    : QObject(parent), m_endpoint(std::move(endpoint)) {
  qRegisterMetaType<greylane::v1::AgentState>();
  qRegisterMetaType<greylane::v1::MetricsFrame>();
  qRegisterMetaType<greylane::v1::AuditEntry>();
  qRegisterMetaType<greylane::v1::Identity>();
  qRegisterMetaType<greylane::v1::VerifyAuditResponse>();
  qRegisterMetaType<greylane::v1::QueryHistoryResponse>();
  m_stale_timer.setSingleShot(true);
  m_retry_timer.setSingleShot(true);
  connect(&m_stale_timer, &QTimer::timeout, this, [this] {
    if (m_link == Link::Live) SetLink(Link::Stale, tr("no metrics for 3 s"));
  });
  connect(&m_retry_timer, &QTimer::timeout, this, [this] { Connect(); });
}

AgentClient::~AgentClient() {
  m_stale_timer.stop();
  m_retry_timer.stop();
  m_generation = UINT64_MAX;  // nothing queued for this object is delivered now
  CancelAll();
  {
    absl::MutexLock lock(&m_calls_mutex);
    m_calls_mutex.Await(absl::Condition(this, &AgentClient::NoCallsLeft));
  }
  ReapFinished();
}

void AgentClient::Track(std::shared_ptr<TrackedCall> call) {
  absl::MutexLock lock(&m_calls_mutex);
  m_calls.push_back(std::move(call));
}

void AgentClient::Untrack(TrackedCall* call) {
  absl::MutexLock lock(&m_calls_mutex);
  for (auto it = m_calls.begin(); it != m_calls.end(); ++it) {
    if (it->get() == call) {
      // The first finished call asks this object's thread to reap. Posted
      // under the lock, so the destructor (waiting for it) cannot free this
      // object in between; a post it never runs is reaped by the destructor.
      if (m_finished.empty()) {
        QMetaObject::invokeMethod(this, &AgentClient::ReapFinished, Qt::QueuedConnection);
      }
      m_finished.push_back(std::move(*it));
      m_calls.erase(it);
      break;
    }
  }
}

void AgentClient::ReapFinished() {
  std::vector<std::shared_ptr<TrackedCall>> finished;
  {
    absl::MutexLock lock(&m_calls_mutex);
    finished.swap(m_finished);
  }
  // Destroyed here, outside the lock, on this object's thread.
}

void AgentClient::CancelAll() {
  // Cancel outside the lock: gRPC may finish a call inline, and that
  // finish untracks it. The snapshot keeps every call alive meanwhile.
  std::vector<std::shared_ptr<TrackedCall>> snapshot;
  {
    absl::MutexLock lock(&m_calls_mutex);
    snapshot = m_calls;
  }
  for (const auto& call : snapshot) call->Context()->TryCancel();
}

void AgentClient::Authorize(grpc::ClientContext* context) const {
  context->AddMetadata(kAuthorizationHeader, BearerHeader(m_endpoint.token.toStdString()));
}

void AgentClient::Start() {
  Connect();
}

void AgentClient::RetryNow() {
  m_retry_timer.stop();
  m_backoff_ms = 500;
  Connect();
}

void AgentClient::SetLink(Link link, const QString& detail) {
  if (link == m_link && link != Link::Disconnected) return;
  m_link = link;
  emit linkChanged(link, detail);
}

void AgentClient::Connect() {
  ++m_generation;
  CancelAll();  // the previous generation's calls end; their results are ignored
  // Calls hold their channel through their ClientContext; the few retired
  // stubs kept here are belt and braces, bounded for week-long sessions.
  if (m_stub) m_retired_stubs.push_back(std::move(m_stub));
  if (m_retired_stubs.size() > 4) m_retired_stubs.erase(m_retired_stubs.begin());
  ClientTlsFiles tls;
  tls.tls = m_endpoint.security != AgentEndpoint::Security::Plaintext;
  tls.ca = m_endpoint.ca_file.toStdString();
  tls.cert = m_endpoint.cert_file.toStdString();
  tls.key = m_endpoint.key_file.toStdString();
  // A file that cannot be read is a setup mistake: say which, and do not
  // retry until the user changes something. (Small local files: reading
  // them here does not touch the network.)
  const auto credentials = ChannelCredentialsFor(tls);
  if (!credentials.ok()) {
    SetLink(Link::Disconnected,
            QString::fromStdString(std::string(credentials.status().message())));
    return;
  }
  m_channel = grpc::CreateChannel(m_endpoint.address.toStdString(), *credentials);
  m_stub = v1::Agent::NewStub(m_channel);
  SetLink(Link::Connecting, tr("connecting to %1").arg(m_endpoint.address));

  const uint64_t generation = m_generation;
  auto state = std::make_shared<StreamReader<v1::AgentState>>(
      this, generation, tr("state stream"), [](AgentClient* self, v1::AgentState&& s) {
        self->m_state = std::move(s);
        if (self->m_link == Link::Connecting) self->SetLink(Link::Live, tr("connected"));
        emit self->stateChanged(self->m_state);
      });
  Authorize(state->Context());
  Track(state);
  m_stub->async()->WatchState(state->Context(), &kWatchState, state.get());
  state->Begin();

  auto metrics = std::make_shared<StreamReader<v1::MetricsFrame>>(
      this, generation, tr("metrics stream"), [](AgentClient* self, v1::MetricsFrame&& f) {
        self->m_stale_timer.start(kStaleAfterMs);
        if (self->m_link != Link::Live) {
          self->m_backoff_ms = 500;
          self->SetLink(Link::Live, tr("receiving metrics"));
        }
        emit self->frameReceived(f);
      });
  Authorize(metrics->Context());
  Track(metrics);
  m_metrics_request.set_backfill_seconds(900);
  m_stub->async()->WatchMetrics(metrics->Context(), &m_metrics_request, metrics.get());
  metrics->Begin();

  auto audit = std::make_shared<StreamReader<v1::AuditEntry>>(
      this, generation, tr("audit stream"), [](AgentClient* self, v1::AuditEntry&& e) {
        if (e.sequence() <= self->m_last_audit) return;  // already seen before a reconnect
        self->m_last_audit = e.sequence();
        emit self->auditReceived(e);
      });
  Authorize(audit->Context());
  Track(audit);
  m_audit_request.set_after_sequence(m_last_audit);
  m_stub->async()->WatchAudit(audit->Context(), &m_audit_request, audit.get());
  audit->Begin();

  auto who = std::make_shared<UnaryCall<v1::WhoAmIRequest>>();
  auto identity = std::make_shared<v1::Identity>();
  Authorize(who->Context());
  Track(who);
  m_stub->async()->WhoAmI(who->Context(), &who->request, identity.get(),
                          [this, generation, who = who.get(), identity](grpc::Status status) {
                            if (status.ok()) {
                              QMetaObject::invokeMethod(
                                  this,
                                  [this, generation, identity] {
                                    if (generation != m_generation) return;
                                    m_identity = *identity;
                                    emit identityChanged(m_identity);
                                  },
                                  Qt::QueuedConnection);
                            }
                            Untrack(who);
                          });
}

void AgentClient::OnStreamEnded(uint64_t generation, const QString& what, int code,
                                const QString& message) {
  if (generation != m_generation) return;  // an older connection's stream
  m_stale_timer.stop();
  const QString detail = code == grpc::StatusCode::UNAVAILABLE
                             ? tr("%1 ended: %2 (agent unreachable; retrying in %3 s)")
                                   .arg(what, message)
                                   .arg(m_backoff_ms / 1000.0, 0, 'f', 1)
                             : tr("%1 ended: %2").arg(what, message);
  ++m_generation;  // the other streams of this connection are ignored from now on
  CancelAll();
  SetLink(Link::Disconnected, detail);
  if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED) {
    return;  // retrying with the same token cannot help
  }
  ScheduleRetry();
}

void AgentClient::ScheduleRetry() {
  m_retry_timer.start(m_backoff_ms);
  m_backoff_ms = std::min(m_backoff_ms * 2, kMaxBackoffMs);
}

template <typename Request>
void AgentClient::Mutate(const QString& action, Request request) {
  if (!m_stub) {
    QMetaObject::invokeMethod(
        this,
        [this, action] {
          emit mutationFinished(action, grpc::StatusCode::UNAVAILABLE, tr("not connected"), m_state,
                                0);
        },
        Qt::QueuedConnection);
    return;
  }
  auto call = std::make_shared<UnaryCall<Request>>();
  call->request = std::move(request);
  Authorize(call->Context());
  call->context.set_deadline(std::chrono::system_clock::now() + m_change_deadline);
  call->timer.start();
  Track(call);
  auto done = [this, action, call = call.get()](grpc::Status status) {
    const double elapsed_ms = call->timer.nsecsElapsed() / 1e6;
    QMetaObject::invokeMethod(
        this,
        [this, action, code = status.error_code(),
         message = QString::fromStdString(status.error_message()), state = call->response,
         elapsed_ms] {
          if (code == grpc::StatusCode::OK) {
            m_state = state;
            emit stateChanged(m_state);
          }
          emit mutationFinished(action, code, message,
                                code == grpc::StatusCode::OK ? state : m_state, elapsed_ms);
        },
        Qt::QueuedConnection);
    Untrack(call);
  };
  if constexpr (std::is_same_v<Request, v1::SetSplitRequest>) {
    m_stub->async()->SetSplit(call->Context(), &call->request, &call->response, done);
  } else if constexpr (std::is_same_v<Request, v1::RollbackRequest>) {
    m_stub->async()->Rollback(call->Context(), &call->request, &call->response, done);
  } else if constexpr (std::is_same_v<Request, v1::StartRolloutRequest>) {
    m_stub->async()->StartRollout(call->Context(), &call->request, &call->response, done);
  } else if constexpr (std::is_same_v<Request, v1::InjectFaultRequest>) {
    m_stub->async()->InjectFault(call->Context(), &call->request, &call->response, done);
  } else if constexpr (std::is_same_v<Request, v1::RolloutControlRequest>) {
    auto* async = m_stub->async();
    if (action == ActionId(AuditAction::kPauseRollout)) {
      async->PauseRollout(call->Context(), &call->request, &call->response, done);
    } else if (action == ActionId(AuditAction::kResumeRollout)) {
      async->ResumeRollout(call->Context(), &call->request, &call->response, done);
    } else {
      async->AbortRollout(call->Context(), &call->request, &call->response, done);
    }
  } else {
    m_stub->async()->Promote(call->Context(), &call->request, &call->response, done);
  }
}

void AgentClient::AdoptState(const v1::AgentState& state) {
  m_state = state;
  emit stateChanged(m_state);
}

void AgentClient::VerifyAudit() {
  if (!m_stub) {
    QMetaObject::invokeMethod(
        this,
        [this] { emit verifyFinished(grpc::StatusCode::UNAVAILABLE, tr("not connected"), {}); },
        Qt::QueuedConnection);
    return;
  }
  auto call = std::make_shared<UnaryCall<v1::VerifyAuditRequest>>();
  auto verdict = std::make_shared<v1::VerifyAuditResponse>();
  Authorize(call->Context());
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  Track(call);
  m_stub->async()->VerifyAudit(call->Context(), &call->request, verdict.get(),
                               [this, call = call.get(), verdict](grpc::Status status) {
                                 QMetaObject::invokeMethod(
                                     this,
                                     [this, code = status.error_code(),
                                      message = QString::fromStdString(status.error_message()),
                                      verdict] { emit verifyFinished(code, message, *verdict); },
                                     Qt::QueuedConnection);
                                 Untrack(call);
                               });
}

uint64_t AgentClient::QueryHistory(int64_t from_unix_ms, int64_t to_unix_ms, bool with_sketches) {
  const uint64_t id = ++m_history_requests;
  if (!m_stub) {
    QMetaObject::invokeMethod(
        this,
        [this, id] {
          emit historyPage(id, grpc::StatusCode::UNAVAILABLE, tr("not connected"), {});
        },
        Qt::QueuedConnection);
    return id;
  }
  auto call = std::make_shared<UnaryCall<v1::QueryHistoryRequest>>();
  call->request.set_from_unix_ms(from_unix_ms);
  call->request.set_to_unix_ms(to_unix_ms);
  call->request.set_with_sketches(with_sketches);
  auto page = std::make_shared<v1::QueryHistoryResponse>();
  Authorize(call->Context());
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  Track(call);
  m_stub->async()->QueryHistory(call->Context(), &call->request, page.get(),
                                [this, call = call.get(), page, id](grpc::Status status) {
                                  QMetaObject::invokeMethod(
                                      this,
                                      [this, id, code = status.error_code(),
                                       message = QString::fromStdString(status.error_message()),
                                       page] { emit historyPage(id, code, message, *page); },
                                      Qt::QueuedConnection);
                                  Untrack(call);
                                });
  return id;
}

void AgentClient::RefreshState() {
  if (!m_stub) {
    QMetaObject::invokeMethod(
        this, [this] { emit stateRefreshed(grpc::StatusCode::UNAVAILABLE, tr("not connected")); },
        Qt::QueuedConnection);
    return;
  }
  auto call = std::make_shared<UnaryCall<v1::GetStateRequest>>();
  Authorize(call->Context());
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Track(call);
  m_stub->async()->GetState(
      call->Context(), &call->request, &call->response,
      [this, call = call.get()](grpc::Status status) {
        QMetaObject::invokeMethod(
            this,
            [this, code = status.error_code(),
             message = QString::fromStdString(status.error_message()), state = call->response] {
              if (code == grpc::StatusCode::OK) {
                m_state = state;
                emit stateChanged(m_state);
              }
              emit stateRefreshed(code, message);
            },
            Qt::QueuedConnection);
        Untrack(call);
      });
}

void AgentClient::SetSplit(uint32_t basis_points, uint64_t expected_revision,
                           const QString& reason) {
  v1::SetSplitRequest request;
  request.set_candidate_basis_points(basis_points);
  request.set_expected_revision(expected_revision);
  request.set_reason(reason.toStdString());
  Mutate(ActionId(AuditAction::kSetSplit), std::move(request));
}

void AgentClient::Rollback(const QString& reason) {
  v1::RollbackRequest request;
  request.set_reason(reason.toStdString());
  Mutate(ActionId(AuditAction::kRollback), std::move(request));
}

void AgentClient::Promote(uint64_t expected_revision, const QString& reason) {
  v1::PromoteRequest request;
  request.set_expected_revision(expected_revision);
  request.set_reason(reason.toStdString());
  Mutate(ActionId(AuditAction::kPromote), std::move(request));
}

void AgentClient::StartRollout(const v1::RolloutPlan& plan, uint64_t expected_revision,
                               const QString& reason) {
  v1::StartRolloutRequest request;
  *request.mutable_plan() = plan;
  request.set_expected_revision(expected_revision);
  request.set_reason(reason.toStdString());
  Mutate(ActionId(AuditAction::kStartRollout), std::move(request));
}

void AgentClient::ControlRollout(AuditAction action, const QString& reason) {
  v1::RolloutControlRequest request;
  request.set_reason(reason.toStdString());
  Mutate(ActionId(action), std::move(request));
}

void AgentClient::InjectFault(const v1::InjectFaultRequest& request) {
  Mutate(ActionId(AuditAction::kInjectFault), request);
}

}  // namespace greylane
