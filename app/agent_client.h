#pragma once
// The console's connection to one agent. gRPC runs on its own threads; every
// result reaches this QObject through a queued invocation, so its signals
// are always emitted on the thread it lives on (the GUI thread) and nothing
// here ever waits on the network there. Streams: WatchState, WatchMetrics
// (with backfill) and WatchAudit; mutations are asynchronous unary calls.
// The link goes connecting -> live -> stale (no frame for 3 s) ->
// disconnected (retrying with backoff up to 10 s, or at once on RetryNow).
#include <QObject>
#include <QString>
#include <QTimer>
#include <chrono>

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "common/audit_vocabulary.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {

// How the console names its calls in mutationFinished: the audit's own names.
inline QString ActionId(AuditAction action) {
  const std::string_view name = AuditActionName(action);
  return QString::fromUtf8(name.data(), static_cast<qsizetype>(name.size()));
}

// A call in flight, kept alive by the client's registry until gRPC is done
// with it, so the destructor can cancel it without racing its deletion.
class TrackedCall {
 public:
  virtual ~TrackedCall() = default;
  virtual grpc::ClientContext* Context() = 0;
};

struct AgentEndpoint {
  QString name;
  QString address;  // host:port
  QString token;
  enum class Security { Plaintext, Tls, MutualTls };
  Security security = Security::Plaintext;  // Tls as well whenever ca_file is set
  QString ca_file;                          // empty: the system's trusted roots
  QString cert_file;                        // mutual TLS
  QString key_file;
};

class AgentClient final : public QObject {
  Q_OBJECT

 public:
  enum class Link { Connecting, Live, Stale, Disconnected };
  Q_ENUM(Link)

  explicit AgentClient(AgentEndpoint endpoint, QObject* parent = nullptr);
  // Cancels every call and waits for gRPC to finish with them (bounded:
  // cancellation is local), so no callback outlives this object.
  ~AgentClient() override;

  void Start();
  void RetryNow();
  Link CurrentLink() const { return m_link; }
  const AgentEndpoint& Endpoint() const { return m_endpoint; }
  const v1::AgentState& State() const { return m_state; }
  const v1::Identity& Identity() const { return m_identity; }

  // Results arrive as mutationFinished.
  void SetSplit(uint32_t basis_points, uint64_t expected_revision, const QString& reason);
  void Rollback(const QString& reason);
  void Promote(uint64_t expected_revision, const QString& reason);
  void StartRollout(const v1::RolloutPlan& plan, uint64_t expected_revision, const QString& reason);
  // kPauseRollout, kResumeRollout or kAbortRollout.
  void ControlRollout(AuditAction action, const QString& reason);
  // A fault drill (admin); duration_seconds 0 stops the slot's drill.
  void InjectFault(const v1::InjectFaultRequest& request);
  // Asks the agent to recompute its chain on disk; the answer arrives as
  // verifyFinished.
  void VerifyAudit();
  // Reads the state once (GetState); the answer arrives as stateRefreshed,
  // after stateChanged when it succeeded.
  void RefreshState();
  // One page of the agent's per-minute history; the answer arrives as
  // historyPage with the id returned here, so several readers (the charts,
  // a report) can page at once (page on from next_from_unix_ms while set).
  uint64_t QueryHistory(int64_t from_unix_ms, int64_t to_unix_ms, bool with_sketches);
  // How long a change may wait for its answer (default 10 s; tests shorten it).
  void SetChangeDeadline(std::chrono::milliseconds deadline) { m_change_deadline = deadline; }

  // Shows a recorded state as if the agent had sent it (replays for
  // benchmarks and tests; frames are replayed by emitting frameReceived).
  void AdoptState(const v1::AgentState& state);
  void AdoptLink(Link link, const QString& detail) { SetLink(link, detail); }

  // Milliseconds without a frame before a live link is called stale.
  static constexpr int kStaleAfterMs = 3000;
  static constexpr int kMaxBackoffMs = 10000;

 signals:
  void linkChanged(greylane::AgentClient::Link link, const QString& detail);
  void stateChanged(const greylane::v1::AgentState& state);
  void frameReceived(const greylane::v1::MetricsFrame& frame);
  void auditReceived(const greylane::v1::AuditEntry& entry);
  void identityChanged(const greylane::v1::Identity& identity);
  // code is a grpc::StatusCode; message the agent's own words.
  void mutationFinished(const QString& action, int code, const QString& message,
                        const greylane::v1::AgentState& state, double elapsed_ms);
  void verifyFinished(int code, const QString& message,
                      const greylane::v1::VerifyAuditResponse& verdict);
  void stateRefreshed(int code, const QString& message);
  void historyPage(quint64 request, int code, const QString& message,
                   const greylane::v1::QueryHistoryResponse& page);

 private:
  template <typename Message>
  friend class StreamReader;
  template <typename Request>
  friend class UnaryCall;

  void Connect();
  void Track(std::shared_ptr<TrackedCall> call);
  void Untrack(TrackedCall* call);
  void ReapFinished();
  void CancelAll();
  void Authorize(grpc::ClientContext* context) const;
  void SetLink(Link link, const QString& detail);
  void OnStreamEnded(uint64_t generation, const QString& what, int code, const QString& message);
  void ScheduleRetry();
  template <typename Request>
  void Mutate(const QString& action, Request request);

  AgentEndpoint m_endpoint;
  std::shared_ptr<grpc::Channel> m_channel;
  std::unique_ptr<v1::Agent::Stub> m_stub;
  std::vector<std::unique_ptr<v1::Agent::Stub>> m_retired_stubs;  // calls may still use them
  uint64_t m_generation = 0;
  Link m_link = Link::Disconnected;
  v1::AgentState m_state;
  v1::Identity m_identity;
  uint64_t m_last_audit = 0;
  uint64_t m_history_requests = 0;
  // Stream requests must outlive their calls.
  const v1::WatchStateRequest kWatchState;
  v1::WatchMetricsRequest m_metrics_request;
  v1::WatchAuditRequest m_audit_request;
  QTimer m_stale_timer;
  QTimer m_retry_timer;
  int m_backoff_ms = 500;
  std::chrono::milliseconds m_change_deadline{10000};

  bool NoCallsLeft() const ABSL_SHARED_LOCKS_REQUIRED(m_calls_mutex) { return m_calls.empty(); }

  // Calls in flight (streams and unary), so the destructor can wait them out.
  absl::Mutex m_calls_mutex;
  std::vector<std::shared_ptr<TrackedCall>> m_calls ABSL_GUARDED_BY(m_calls_mutex);
  // Finished calls, destroyed on this object's thread, never on gRPC's: a
  // call's context may hold the last reference to its channel, and gRPC
  // 1.51 frees a channel's completion queue twice when that channel dies
  // inside one of its own callbacks (found under AddressSanitizer).
  std::vector<std::shared_ptr<TrackedCall>> m_finished ABSL_GUARDED_BY(m_calls_mutex);
};

}  // namespace greylane

Q_DECLARE_METATYPE(greylane::v1::AgentState)
Q_DECLARE_METATYPE(greylane::v1::MetricsFrame)
Q_DECLARE_METATYPE(greylane::v1::AuditEntry)
Q_DECLARE_METATYPE(greylane::v1::Identity)
Q_DECLARE_METATYPE(greylane::v1::VerifyAuditResponse)
Q_DECLARE_METATYPE(greylane::v1::QueryHistoryResponse)
