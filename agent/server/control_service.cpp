#include "agent/server/control_service.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "agent/analysis/canary_analysis.h"
#include "agent/backends/version_spec.h"
#include "agent/metrics/frame_queue.h"
#include "agent/server/raw_unary.h"
#include "common/audit_proto.h"
#include "common/credentials.h"
#include "common/text.h"

namespace greylane {
namespace {

// A stream that fails before it starts (unauthenticated...).
template <typename T>
class RefusedStream final : public grpc::ServerWriteReactor<T> {
 public:
  explicit RefusedStream(grpc::Status status) { this->Finish(Bounded(status)); }
  void OnDone() override { delete this; }
};

// One write at a time, finish exactly once and never while a write is
// outstanding: the discipline every server stream here follows. Derived
// classes say what to write next and how to detach from their source.
template <typename T>
class SerialStream : public grpc::ServerWriteReactor<T> {
 public:
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&m_mutex);
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
    absl::MutexLock lock(&m_mutex);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    Detach();
    delete this;
  }

 protected:
  // The next message, kept alive by the derived class until the next call;
  // null when there is nothing to write now.
  virtual const T* NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) = 0;
  virtual void Detach() = 0;

  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) {
    if (m_writing || m_finished || m_closing) return;
    const T* next = NextLocked();
    if (!next) return;
    m_writing = true;
    this->StartWrite(next);
  }
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) {
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
    absl::MutexLock lock(&m_mutex);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down"));
  }
  bool FinishedLocked() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex) { return m_finished; }

  absl::Mutex m_mutex;

 private:
  bool m_writing ABSL_GUARDED_BY(m_mutex) = false;
  bool m_closing ABSL_GUARDED_BY(m_mutex) = false;
  bool m_finished ABSL_GUARDED_BY(m_mutex) = false;
  grpc::Status m_close_status ABSL_GUARDED_BY(m_mutex);
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
    absl::MutexLock lock(&m_mutex);
    m_queue.SetCapacity(history.size() + kSubscriberLagFrames);
    for (FramePtr& frame : history) m_queue.Push(std::move(frame), true);
    PumpLocked();
  }
  void OnFrame(const FramePtr& frame) override {
    absl::MutexLock lock(&m_mutex);
    if (FinishedLocked()) return;
    m_queue.Push(frame);
    PumpLocked();
  }
  void OnClosed() override { CloseForShutdown(); }

 private:
  const v1::MetricsFrame* NextLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) {
    if (m_queue.Empty()) return nullptr;
    m_in_write = m_queue.Pop();
    return m_in_write.get();
  }
  void Detach() override { m_hub.Unsubscribe(this); }

  MetricsHub& m_hub;
  FrameQueue m_queue ABSL_GUARDED_BY(m_mutex);
  FramePtr m_in_write ABSL_GUARDED_BY(m_mutex);
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
    absl::MutexLock lock(&m_mutex);
    m_pending = state;
    m_has_pending = true;
    PumpLocked();
  }
  void OnAuditRow(uint64_t) override {}

 private:
  const v1::AgentState* NextLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) {
    if (!m_has_pending) return nullptr;
    m_next = std::move(m_pending);
    m_has_pending = false;
    return &m_next;
  }
  v1::AgentState m_pending ABSL_GUARDED_BY(m_mutex);
  bool m_has_pending ABSL_GUARDED_BY(m_mutex) = false;
};

// Every row after `after`, history then live, none dropped: rows are read
// from the database in pages as the reader takes them, so a slow reader
// costs no memory.
class AuditWriter final : public ReleaseStream<v1::AuditEntry> {
 public:
  AuditWriter(ReleaseController& controller, uint64_t after)
      : ReleaseStream(controller), m_sent(after) {
    m_controller.Watch(this);
    absl::MutexLock lock(&m_mutex);
    m_known = std::max(m_known, m_controller.Audit().LastSequence());
    PumpLocked();
  }
  void OnState(const v1::AgentState&) override {}
  void OnAuditRow(uint64_t sequence) override {
    absl::MutexLock lock(&m_mutex);
    m_known = std::max(m_known, sequence);
    PumpLocked();
  }

 private:
  const v1::AuditEntry* NextLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_mutex) {
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
  uint64_t m_sent ABSL_GUARDED_BY(m_mutex);
  uint64_t m_known ABSL_GUARDED_BY(m_mutex) = 0;
  std::vector<AuditRecord> m_page ABSL_GUARDED_BY(m_mutex);
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

// The client certificate's subject, as valid bounded UTF-8 (it is stored
// in the trail and sent to consoles).
std::string CertificateSubject(const grpc::CallbackServerContext* ctx) {
  const auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  for (const char* property : {GRPC_X509_SUBJECT_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    const auto values = auth->FindPropertyValues(property);
    if (!values.empty()) {
      return ClampText(std::string(values.front().data(), values.front().size()), 200);
    }
  }
  return {};
}

}  // namespace

ControlService::ControlService(ReleaseController& controller, MetricsHub& hub,
                               HistoryStore* history, std::string history_problem,
                               TokenStore tokens)
    : m_controller(controller),
      m_hub(hub),
      m_history(history),
      m_history_problem(std::move(history_problem)),
      m_tokens(std::move(tokens)) {}

ControlService::~ControlService() {
  JoinWorkers();
}

void ControlService::JoinWorkers() {
  m_workers.Shutdown();
}

grpc::Status ControlService::Authenticate(grpc::CallbackServerContext* ctx, Caller* caller) const {
  const auto& md = ctx->client_metadata();
  const auto it = md.find(kAuthorizationHeader);
  if (it == md.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "no credentials: send the header `authorization: Bearer <token>`"};
  }
  const std::string token = BearerToken(std::string_view(it->second.data(), it->second.size()));
  const auto principal = m_tokens.Authenticate(token);
  if (!principal) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "the token is not known to this agent (check the token, or the agent's tokens file)"};
  }
  caller->identity = principal->identity;
  caller->role = principal->role;
  caller->peer = ClampText(ctx->peer(), kMaxPeerBytes);
  const std::string subject = CertificateSubject(ctx);
  if (!subject.empty()) caller->identity += " [" + subject + "]";
  return grpc::Status::OK;
}

grpc::Status ControlService::Admit(const Caller& caller, Role needed, AuditAction action,
                                   const std::string& reason) {
  if (caller.role < needed) return m_controller.Deny(caller, action, reason, needed);
  return grpc::Status::OK;
}

template <typename Request, typename Response, typename Handle>
grpc::ServerUnaryReactor* ControlService::Serve(grpc::CallbackServerContext* ctx,
                                                const Raw* raw_request, Raw* raw_response,
                                                Handle handle, bool slow) {
  Caller caller;
  if (grpc::Status s = Authenticate(ctx, &caller); !s.ok()) return FinishNow(ctx, s);
  auto request = std::make_shared<Request>();  // may outlive this frame on the pool
  if (grpc::Status s = ParseRequest(*raw_request, request.get()); !s.ok()) {
    return FinishNow(ctx, s);
  }
  auto* reactor = ctx->DefaultReactor();
  auto work = [caller, request, raw_response, reactor, handle] {
    Response response;
    grpc::Status status = handle(caller, *request, &response);
    if (status.ok()) status = SerializeResponse(response, raw_response);
    reactor->Finish(Bounded(status));
  };
  if (!slow) {
    work();
  } else if (!m_workers.Submit(work)) {
    reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "the agent is busy with slow requests (VerifyAudit, ListAudit, "
                     "LoadCandidate); try again in a moment"});
  }
  return reactor;
}

grpc::ServerUnaryReactor* ControlService::WhoAmI(grpc::CallbackServerContext* ctx,
                                                 const Raw* request, Raw* response) {
  const std::string subject = CertificateSubject(ctx);
  return Serve<v1::WhoAmIRequest, v1::Identity>(
      ctx, request, response,
      [subject](const Caller& caller, const v1::WhoAmIRequest&, v1::Identity* out) {
        out->set_identity(caller.identity);
        out->set_role(ToProto(caller.role));
        out->set_peer(caller.peer);
        out->set_certificate_subject(subject);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* ControlService::GetState(grpc::CallbackServerContext* ctx,
                                                   const Raw* request, Raw* response) {
  return Serve<v1::GetStateRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller&, const v1::GetStateRequest&, v1::AgentState* out) {
        *out = m_controller.State();
        return grpc::Status::OK;
      });
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
                                                   const Raw* request, Raw* response) {
  return Serve<v1::SetSplitRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::SetSplitRequest& r, v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kOperator, AuditAction::kSetSplit, r.reason());
        if (!s.ok()) return s;
        return m_controller.SetSplit(caller, r.candidate_basis_points(), r.expected_revision(),
                                     r.reason(), out);
      });
}

grpc::ServerUnaryReactor* ControlService::Rollback(grpc::CallbackServerContext* ctx,
                                                   const Raw* request, Raw* response) {
  return Serve<v1::RollbackRequestBytes, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::RollbackRequestBytes& r, v1::AgentState* out) {
        // The controller repairs the reason (and says so); a refused
        // attempt's row gets it escaped.
        grpc::Status s =
            Admit(caller, Role::kOperator, AuditAction::kRollback,
                  IsValidUtf8(r.reason()) ? r.reason() : TerminalSafe(r.reason(), true));
        if (!s.ok()) return s;
        return m_controller.Rollback(caller, r.reason(), out);
      });
}

grpc::ServerUnaryReactor* ControlService::Promote(grpc::CallbackServerContext* ctx,
                                                  const Raw* request, Raw* response) {
  return Serve<v1::PromoteRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::PromoteRequest& r, v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kOperator, AuditAction::kPromote, r.reason());
        if (!s.ok()) return s;
        return m_controller.Promote(caller, r.expected_revision(), r.reason(), out);
      });
}

grpc::ServerUnaryReactor* ControlService::LoadCandidate(grpc::CallbackServerContext* ctx,
                                                        const Raw* request, Raw* response) {
  // Building and probing the new version can take up to the probe timeout:
  // that happens on a worker, never on a gRPC callback thread.
  return Serve<v1::LoadCandidateRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::LoadCandidateRequest& r, v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kAdmin, AuditAction::kLoadCandidate, r.reason());
        if (!s.ok()) return s;
        return m_controller.LoadCandidate(caller, VersionSpecFromProto(r.spec()),
                                          r.expected_revision(), r.reason(), out);
      },
      /*slow=*/true);
}

grpc::ServerUnaryReactor* ControlService::GetPolicy(grpc::CallbackServerContext* ctx,
                                                    const Raw* request, Raw* response) {
  return Serve<v1::GetPolicyRequest, v1::AnalysisPolicy>(
      ctx, request, response,
      [this](const Caller&, const v1::GetPolicyRequest&, v1::AnalysisPolicy* out) {
        PolicyToProto(m_controller.Policy(), out);
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* ControlService::SetPolicy(grpc::CallbackServerContext* ctx,
                                                    const Raw* request, Raw* response) {
  return Serve<v1::SetPolicyRequest, v1::AnalysisPolicy>(
      ctx, request, response,
      [this](const Caller& caller, const v1::SetPolicyRequest& r, v1::AnalysisPolicy* out) {
        grpc::Status s = Admit(caller, Role::kAdmin, AuditAction::kSetPolicy, r.reason());
        if (!s.ok()) return s;
        if (!r.has_policy()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "SetPolicy needs a policy (GetPolicy gives the one in force)");
        }
        v1::AgentState state;
        s = m_controller.SetPolicy(caller, PolicyFromProto(r.policy()), r.reason(), &state);
        if (s.ok()) *out = state.policy();
        return s;
      });
}

grpc::ServerUnaryReactor* ControlService::InjectFault(grpc::CallbackServerContext* ctx,
                                                      const Raw* request, Raw* response) {
  return Serve<v1::InjectFaultRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::InjectFaultRequest& r, v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kAdmin, AuditAction::kInjectFault, r.reason());
        if (!s.ok()) return s;
        if (r.slot() != v1::BASELINE && r.slot() != v1::CANDIDATE) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "InjectFault needs a slot: BASELINE or CANDIDATE");
        }
        const ReleaseRole role =
            r.slot() == v1::CANDIDATE ? ReleaseRole::kCandidate : ReleaseRole::kBaseline;
        return m_controller.InjectFault(
            caller, role,
            {r.added_latency_ms(), r.latency_share(), r.error_rate(), r.wrong_answer_rate()},
            r.duration_seconds(), r.reason(), out);
      });
}

grpc::ServerUnaryReactor* ControlService::StartRollout(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return Serve<v1::StartRolloutRequest, v1::AgentState>(
      ctx, request, response,
      [this](const Caller& caller, const v1::StartRolloutRequest& r, v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kOperator, AuditAction::kStartRollout, r.reason());
        if (!s.ok()) return s;
        return m_controller.StartRollout(caller, r.plan(), r.expected_revision(), r.reason(), out);
      });
}

// Pause, resume and abort: the same request, each its own controller call.
grpc::ServerUnaryReactor* ControlService::ServeRolloutControl(
    grpc::CallbackServerContext* ctx, const Raw* request, Raw* response, AuditAction action,
    grpc::Status (ReleaseController::*call)(const Caller&, const std::string&, v1::AgentState*)) {
  return Serve<v1::RolloutControlRequest, v1::AgentState>(
      ctx, request, response,
      [this, action, call](const Caller& caller, const v1::RolloutControlRequest& r,
                           v1::AgentState* out) {
        grpc::Status s = Admit(caller, Role::kOperator, action, r.reason());
        if (!s.ok()) return s;
        return (m_controller.*call)(caller, r.reason(), out);
      });
}

grpc::ServerUnaryReactor* ControlService::PauseRollout(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return ServeRolloutControl(ctx, request, response, AuditAction::kPauseRollout,
                             &ReleaseController::PauseRollout);
}

grpc::ServerUnaryReactor* ControlService::ResumeRollout(grpc::CallbackServerContext* ctx,
                                                        const Raw* request, Raw* response) {
  return ServeRolloutControl(ctx, request, response, AuditAction::kResumeRollout,
                             &ReleaseController::ResumeRollout);
}

grpc::ServerUnaryReactor* ControlService::AbortRollout(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return ServeRolloutControl(ctx, request, response, AuditAction::kAbortRollout,
                             &ReleaseController::AbortRollout);
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
                                                    const Raw* request, Raw* response) {
  return Serve<v1::ListAuditRequest, v1::ListAuditResponse>(
      ctx, request, response,
      [this](const Caller&, const v1::ListAuditRequest& r, v1::ListAuditResponse* out) {
        if (r.limit() > 1000) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "limit is at most 1000 rows a call; page with after_sequence");
        }
        AuditLog& audit = m_controller.Audit();
        // Read the newest sequence first: every row listed is then at most it.
        out->set_last_sequence(audit.LastSequence());
        const size_t limit = r.limit() ? r.limit() : 100;
        for (const AuditRecord& row : audit.List(r.after_sequence(), limit, kAuditPageBytes)) {
          greylane::ToProto(row, out->add_entries());
        }
        return grpc::Status::OK;
      },
      /*slow=*/true);
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
                                                      const Raw* request, Raw* response) {
  return Serve<v1::VerifyAuditRequest, v1::VerifyAuditResponse>(
      ctx, request, response,
      [this](const Caller&, const v1::VerifyAuditRequest&, v1::VerifyAuditResponse* out) {
        const ChainVerdict verdict = m_controller.Audit().Verify();
        out->set_ok(verdict.ok);
        out->set_rows(verdict.rows);
        out->set_verified_through(verdict.verified_through);
        out->set_broken_at(verdict.broken_at);
        out->set_detail(verdict.ok
                            ? "chain verified through #" + std::to_string(verdict.verified_through)
                            : verdict.why);
        out->set_head_hash(verdict.head_hash);
        return grpc::Status::OK;
      },
      /*slow=*/true);
}

grpc::ServerUnaryReactor* ControlService::QueryHistory(grpc::CallbackServerContext* ctx,
                                                       const Raw* request, Raw* response) {
  return Serve<v1::QueryHistoryRequest, v1::QueryHistoryResponse>(
      ctx, request, response,
      [this](const Caller&, const v1::QueryHistoryRequest& r, v1::QueryHistoryResponse* out) {
        if (!m_history) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "this agent keeps no history: " + m_history_problem);
        }
        const int64_t to = r.to_unix_ms() > 0 ? r.to_unix_ms() : INT64_MAX;
        if (r.from_unix_ms() < 0 || r.from_unix_ms() >= to) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "from_unix_ms must be >= 0 and before to_unix_ms (0: now)");
        }
        HistoryPage page = m_history->Query(r.from_unix_ms(), to, r.with_sketches());
        for (v1::MetricsFrame& minute : page.minutes) *out->add_minutes() = std::move(minute);
        out->set_next_from_unix_ms(page.next_from_unix_ms);
        out->set_oldest_unix_ms(page.oldest_unix_ms);
        out->set_retention_days(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::hours>(m_history->Options().retention).count() /
            24));
        return grpc::Status::OK;
      },
      /*slow=*/true);
}

}  // namespace greylane
