#include "agent/server/control_service.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "agent/audit/audit_proto.h"
#include "agent/metrics/frame_queue.h"

namespace greylane {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, grpc::Status status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

// A stream that fails before it starts (unauthenticated...).
template <typename T>
class RefusedStream final : public grpc::ServerWriteReactor<T> {
 public:
  explicit RefusedStream(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// One write at a time, finish exactly once and never while a write is
// outstanding: the discipline every server stream here follows. Derived
// classes say what to write next and how to detach from their source.
template <typename T>
class SerialStream : public grpc::ServerWriteReactor<T> {
 public:
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(m_mutex);
    m_writing = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return;
    }
    if (m_closing) {
      FinishLocked(m_close_status);
      return;
    }
    PumpLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(m_mutex);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    Detach();
    delete this;
  }

 protected:
  // The next message, kept alive by the derived class until the next call;
  // null when there is nothing to write now.
  virtual const T* NextLocked() = 0;
  virtual void Detach() = 0;

  void PumpLocked() {
    if (m_writing || m_finished || m_closing) return;
    const T* next = NextLocked();
    if (!next) return;
    m_writing = true;
    this->StartWrite(next);
  }
  void FinishLocked(grpc::Status status) {
    if (m_finished) return;
    if (m_writing) {
      m_closing = true;
      m_close_status = std::move(status);
      return;
    }
    m_finished = true;
    this->Finish(std::move(status));
  }
  void CloseForShutdown() {
    std::lock_guard lock(m_mutex);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down"));
  }
  bool FinishedLocked() const { return m_finished; }

  std::mutex m_mutex;

 private:
  bool m_writing = false;
  bool m_closing = false;
  bool m_finished = false;
  grpc::Status m_close_status;
};

// Streams frames to one subscriber. A subscriber that reads too slowly loses
// its oldest frames, never the agent's time, and learns how many from
// `dropped_before`.
class MetricsWriter final : public SerialStream<v1::MetricsFrame>, public FrameSink {
 public:
  MetricsWriter(MetricsHub& hub, uint32_t backfill) : m_hub(hub) {
    m_hub.Subscribe(this, backfill);
  }

  void OnBackfill(std::vector<FramePtr> history) override {
    std::lock_guard lock(m_mutex);
    m_queue.SetCapacity(history.size() + kSubscriberLagFrames);
    for (FramePtr& frame : history) m_queue.Push(std::move(frame), true);
    PumpLocked();
  }
  void OnFrame(const FramePtr& frame) override {
    std::lock_guard lock(m_mutex);
    if (FinishedLocked()) return;
    m_queue.Push(frame);
    PumpLocked();
  }
  void OnClosed() override { CloseForShutdown(); }

 private:
  const v1::MetricsFrame* NextLocked() override {
    if (m_queue.Empty()) return nullptr;
    m_in_write = m_queue.Pop();
    return m_in_write.get();
  }
  void Detach() override { m_hub.Unsubscribe(this); }

  MetricsHub& m_hub;
  FrameQueue m_queue;
  FramePtr m_in_write;
};

// A stream fed by the release controller.
template <typename T>
class ReleaseStream : public SerialStream<T>, public ReleaseWatcher {
 public:
  explicit ReleaseStream(ReleaseController& controller) : m_controller(controller) {}
  void OnClosed() override { this->CloseForShutdown(); }

 protected:
  void Detach() override { m_controller.Unwatch(this); }
  ReleaseController& m_controller;
  T m_next;
};

// The state now, then every change; only the newest state is kept for a
// slow reader (states replace each other).
class StateWriter final : public ReleaseStream<v1::AgentState> {
 public:
  explicit StateWriter(ReleaseController& controller) : ReleaseStream(controller) {
    m_controller.Watch(this);
  }
  void OnState(const v1::AgentState& state) override {
    std::lock_guard lock(m_mutex);
    m_pending = state;
    m_has_pending = true;
    PumpLocked();
  }
  void OnAuditRow(uint64_t) override {}

 private:
  const v1::AgentState* NextLocked() override {
    if (!m_has_pending) return nullptr;
    m_next = std::move(m_pending);
    m_has_pending = false;
    return &m_next;
  }
  v1::AgentState m_pending;
  bool m_has_pending = false;
};

// Every row after `after`, history then live, none dropped: rows are read
// from the database in pages as the reader takes them, so a slow reader
// costs no memory.
class AuditWriter final : public ReleaseStream<v1::AuditEntry> {
 public:
  AuditWriter(ReleaseController& controller, uint64_t after)
      : ReleaseStream(controller), m_sent(after) {
    m_controller.Watch(this);
    std::lock_guard lock(m_mutex);
    m_known = std::max(m_known, m_controller.Audit().LastSequence());
    PumpLocked();
  }
  void OnState(const v1::AgentState&) override {}
  void OnAuditRow(uint64_t sequence) override {
    std::lock_guard lock(m_mutex);
    m_known = std::max(m_known, sequence);
    PumpLocked();
  }

 private:
  const v1::AuditEntry* NextLocked() override {
    if (m_page.empty() && m_sent < m_known) {
      std::vector<AuditRecord> rows = m_controller.Audit().List(m_sent, 100);
      m_page.assign(rows.rbegin(), rows.rend());  // pop from the back
    }
    if (m_page.empty()) return nullptr;
    ToProto(m_page.back(), &m_next);
    m_sent = m_page.back().sequence;
    m_page.pop_back();
    return &m_next;
  }
  uint64_t m_sent;
  uint64_t m_known = 0;
  std::vector<AuditRecord> m_page;
};

v1::Role ToProto(Role role) {
  switch (role) {
    case Role::kViewer:
      return v1::VIEWER;
    case Role::kOperator:
      return v1::OPERATOR;
    case Role::kAdmin:
      return v1::ADMIN;
  }
  return v1::ROLE_UNSPECIFIED;
}

std::string CertificateSubject(const grpc::CallbackServerContext* ctx) {
  const auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  for (const char* property : {GRPC_X509_SUBJECT_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    const auto values = auth->FindPropertyValues(property);
    if (!values.empty()) return std::string(values.front().data(), values.front().size());
  }
  return {};
}

}  // namespace

std::string BearerToken(const std::string& authorization) {
  static const std::string kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  return authorization.substr(kScheme.size());
}

ControlService::ControlService(ReleaseController& controller, MetricsHub& hub, TokenStore tokens)
    : m_controller(controller), m_hub(hub), m_tokens(std::move(tokens)) {}

ControlService::~ControlService() {
  JoinWorkers();
}

void ControlService::JoinWorkers() {
  std::vector<Worker> workers;
  {
    std::lock_guard lock(m_workers_mutex);
    workers.swap(m_workers);
  }
  for (Worker& w : workers) w.thread.join();
}

grpc::Status ControlService::Authenticate(grpc::CallbackServerContext* ctx, Caller* caller) const {
  const auto& md = ctx->client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "no credentials: send the header `authorization: Bearer <token>`"};
  }
  const std::string token = BearerToken(std::string(it->second.data(), it->second.size()));
  const auto principal = m_tokens.Authenticate(token);
  if (!principal) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "the token is not known to this agent (check the token, or the agent's tokens file)"};
  }
  caller->identity = principal->identity;
  caller->role = principal->role;
  caller->peer = ctx->peer();
  const std::string subject = CertificateSubject(ctx);
  if (!subject.empty()) caller->identity += " [" + subject + "]";
  return grpc::Status::OK;
}

grpc::Status ControlService::Admit(grpc::CallbackServerContext* ctx, Role needed,
                                   const std::string& action, const std::string& reason,
                                   Caller* caller) {
  if (grpc::Status status = Authenticate(ctx, caller); !status.ok()) return status;
  if (caller->role < needed) return m_controller.Deny(*caller, action, reason, needed);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* ControlService::WhoAmI(grpc::CallbackServerContext* ctx,
                                                 const v1::WhoAmIRequest*, v1::Identity* response) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) return FinishNow(ctx, s);
  response->set_identity(caller.identity);
  response->set_role(ToProto(caller.role));
  response->set_peer(caller.peer);
  response->set_certificate_subject(CertificateSubject(ctx));
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlService::GetState(grpc::CallbackServerContext* ctx,
                                                   const v1::GetStateRequest*,
                                                   v1::AgentState* response) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) return FinishNow(ctx, s);
  *response = m_controller.State();
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::AgentState>* ControlService::WatchState(
    grpc::CallbackServerContext* ctx, const v1::WatchStateRequest*) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) {
    return new RefusedStream<v1::AgentState>(s);
  }
  return new StateWriter(m_controller);
}

grpc::ServerUnaryReactor* ControlService::SetSplit(grpc::CallbackServerContext* ctx,
                                                   const v1::SetSplitRequest* request,
                                                   v1::AgentState* response) {
  Caller caller;
  grpc::Status s = Admit(ctx, Role::kOperator, "set_split", request->reason(), &caller);
  if (s.ok()) {
    s = m_controller.SetSplit(caller, request->candidate_basis_points(),
                              request->expected_revision(), request->reason(), response);
  }
  return FinishNow(ctx, s);
}

grpc::ServerUnaryReactor* ControlService::Rollback(grpc::CallbackServerContext* ctx,
                                                   const v1::RollbackRequest* request,
                                                   v1::AgentState* response) {
  Caller caller;
  grpc::Status s = Admit(ctx, Role::kOperator, "rollback", request->reason(), &caller);
  if (s.ok()) s = m_controller.Rollback(caller, request->reason(), response);
  return FinishNow(ctx, s);
}

grpc::ServerUnaryReactor* ControlService::Promote(grpc::CallbackServerContext* ctx,
                                                  const v1::PromoteRequest* request,
                                                  v1::AgentState* response) {
  Caller caller;
  grpc::Status s = Admit(ctx, Role::kOperator, "promote", request->reason(), &caller);
  if (s.ok()) {
    s = m_controller.Promote(caller, request->expected_revision(), request->reason(), response);
  }
  return FinishNow(ctx, s);
}

grpc::ServerUnaryReactor* ControlService::LoadCandidate(grpc::CallbackServerContext* ctx,
                                                        const v1::LoadCandidateRequest* request,
                                                        v1::AgentState* response) {
  Caller caller;
  grpc::Status s = Admit(ctx, Role::kAdmin, "load_candidate", request->reason(), &caller);
  if (!s.ok()) return FinishNow(ctx, s);
  // Building and probing the new version can take up to the probe timeout:
  // that happens on a worker thread, never on a gRPC callback thread.
  auto* reactor = ctx->DefaultReactor();
  std::lock_guard lock(m_workers_mutex);
  // An exited thread keeps its stack until joined: reap the finished ones.
  std::erase_if(m_workers, [](Worker& w) {
    if (!w.done->load()) return false;
    w.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([this, reactor, request, response, caller, done] {
    const grpc::Status status =
        m_controller.LoadCandidate(caller, SlotFromSpec(request->spec()),
                                   request->expected_revision(), request->reason(), response);
    done->store(true);
    reactor->Finish(status);
  });
  m_workers.push_back({std::move(thread), std::move(done)});
  return reactor;
}

grpc::ServerWriteReactor<v1::MetricsFrame>* ControlService::WatchMetrics(
    grpc::CallbackServerContext* ctx, const v1::WatchMetricsRequest* request) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) {
    return new RefusedStream<v1::MetricsFrame>(s);
  }
  const auto backfill =
      static_cast<uint32_t>(std::min<size_t>(request->backfill_seconds(), m_hub.RingCapacity()));
  return new MetricsWriter(m_hub, backfill);
}

grpc::ServerUnaryReactor* ControlService::ListAudit(grpc::CallbackServerContext* ctx,
                                                    const v1::ListAuditRequest* request,
                                                    v1::ListAuditResponse* response) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) return FinishNow(ctx, s);
  if (request->limit() > 1000) {
    return FinishNow(ctx, {grpc::StatusCode::INVALID_ARGUMENT,
                           "limit is at most 1000 rows a call; page with after_sequence"});
  }
  const size_t limit = request->limit() ? request->limit() : 100;
  for (const AuditRecord& row : m_controller.Audit().List(request->after_sequence(), limit)) {
    greylane::ToProto(row, response->add_entries());
  }
  response->set_last_sequence(m_controller.Audit().LastSequence());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::AuditEntry>* ControlService::WatchAudit(
    grpc::CallbackServerContext* ctx, const v1::WatchAuditRequest* request) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) {
    return new RefusedStream<v1::AuditEntry>(s);
  }
  return new AuditWriter(m_controller, request->after_sequence());
}

grpc::ServerUnaryReactor* ControlService::VerifyAudit(grpc::CallbackServerContext* ctx,
                                                      const v1::VerifyAuditRequest*,
                                                      v1::VerifyAuditResponse* response) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) return FinishNow(ctx, s);
  const ChainVerdict verdict = m_controller.Audit().Verify();
  response->set_ok(verdict.ok);
  response->set_rows(verdict.rows);
  response->set_verified_through(verdict.verified_through);
  response->set_broken_at(verdict.broken_at);
  response->set_detail(verdict.ok
                           ? "chain verified through #" + std::to_string(verdict.verified_through)
                           : verdict.why);
  response->set_head_hash(verdict.head_hash);
  return FinishNow(ctx, grpc::Status::OK);
}

}  // namespace greylane
