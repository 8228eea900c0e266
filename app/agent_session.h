#pragma once
// Everything the console holds for one agent: the connection, the metrics
// history (bounded), the minute history while a long window shows, the audit trail model and the
// last VerifyAudit answer. Lives on the GUI thread; the connection feeds it through queued signals.
#include <QObject>
#include <QString>

#include "app/agent_client.h"
#include "app/audit_trail_model.h"
#include "app/metrics_history.h"
#include "app/minute_history.h"

namespace greylane {

class AgentSession final : public QObject {
  Q_OBJECT

 public:
  explicit AgentSession(AgentEndpoint endpoint, QObject* parent = nullptr);

  AgentClient& Client() { return m_client; }
  const AgentClient& Client() const { return m_client; }
  const MetricsHistory& History() const { return m_history; }
  // The agent's per-minute history, read only while a long window shows.
  MinuteHistoryReader& Minutes() { return m_minutes; }
  AuditTrailModel& Audit() { return m_audit; }
  const QString& Name() const { return m_client.Endpoint().name; }
  const QString& LinkDetail() const { return m_link_detail; }
  // The agent's own VerifyAudit answer, as one line ("" until asked).
  const QString& AgentVerdict() const { return m_agent_verdict; }
  bool AgentVerdictOk() const { return m_agent_verdict_ok; }
  bool CanOperate() const;  // operator or admin
  bool CanAdminister() const;
  // The analysis of the latest live second (from the metrics stream, else
  // the state's).
  const v1::AnalysisVerdict& Verdict() const;
  QString RoleName() const;

  void Start() { m_client.Start(); }
  void RequestVerify() { m_client.VerifyAudit(); }

 signals:
  void changed();        // link, state or identity: redraw header and lists
  void framesArrived();  // new metrics: redraw charts (coalesced by the view)
  void verdictChanged();
  // The analysis rolled the candidate back (once per rollback, and only for
  // one in the last 10 minutes: not for an old one found on connecting).
  void automaticRollback(const QString& agent, const QString& headline, const QString& evidence);

 private:
  AgentClient m_client;
  MetricsHistory m_history;
  MinuteHistoryReader m_minutes{m_client};
  AuditTrailModel m_audit;
  QString m_link_detail;
  QString m_agent_verdict;
  bool m_agent_verdict_ok = false;
  v1::AnalysisVerdict m_verdict;
  uint64_t m_notified_rollback = 0;  // audit sequence
};

}  // namespace greylane
