#include "app/release_report_job.h"

#include <QDateTime>

#include <grpcpp/support/status.h>

namespace greylane {

ReleaseReportJob::ReleaseReportJob(AgentSession& session, QObject* parent)
    : QObject(parent), m_session(session) {
  connect(&m_session.Client(), &AgentClient::historyPage, this, &ReleaseReportJob::OnPage);
}

bool ReleaseReportJob::Start(QString* error) {
  const std::vector<AuditRecord>& trail = m_session.Audit().Records();
  const std::optional<ReleaseBounds> bounds = FindRelease(trail, 0);
  if (!bounds) {
    *error =
        tr("The audit trail this console holds has no release (no initialize or "
           "load_candidate row) yet.");
    return false;
  }
  const v1::AgentState& state = m_session.Client().State();
  m_report = {};
  m_report.agent_id = state.agent_id();
  m_report.node_name = state.node_name();
  m_report.model_name = state.model_name();
  m_report.agent_address = m_session.Client().Endpoint().address.toStdString();
  m_report.generated_unix_ms = QDateTime::currentMSecsSinceEpoch();
  TakeRelease(trail, *bounds, m_report.generated_unix_ms, &m_report);
  m_report.chain = m_session.Audit().Chain();
  m_report.agent_chain_ok = m_session.AgentVerdictOk();
  m_report.agent_chain_detail = m_session.AgentVerdict().isEmpty()
                                    ? "not asked yet (Release → Verify audit chain asks it)"
                                    : m_session.AgentVerdict().toStdString();
  const HistorySpan span = ReleaseHistorySpan(m_report);
  m_to = span.to_unix_ms;
  m_running = true;
  m_request = m_session.Client().QueryHistory(span.from_unix_ms, m_to, true);
  return true;
}

void ReleaseReportJob::OnPage(quint64 request, int code, const QString& message,
                              const v1::QueryHistoryResponse& page) {
  if (!m_running || request != m_request) return;
  if (code != grpc::StatusCode::OK) {
    m_report.history_note = "the agent's history could not be read: " + message.toStdString();
  } else {
    for (const v1::MetricsFrame& m : page.minutes()) m_report.minutes.push_back(m);
    if (page.next_from_unix_ms() != 0) {
      m_request = m_session.Client().QueryHistory(page.next_from_unix_ms(), m_to, true);
      return;
    }
    if (m_report.minutes.empty()) m_report.history_note = "the agent kept no history for this span";
  }
  m_running = false;
  emit finished();
}

}  // namespace greylane
