#include "app/agent_session.h"

#include <QDateTime>

#include <grpcpp/support/status.h>

#include "app/analysis_words.h"

namespace greylane {

AgentSession::AgentSession(AgentEndpoint endpoint, QObject* parent)
    : QObject(parent), m_client(std::move(endpoint)) {
  connect(&m_client, &AgentClient::linkChanged, this,
          [this](AgentClient::Link, const QString& detail) {
            m_link_detail = detail;
            emit changed();
          });
  connect(&m_client, &AgentClient::stateChanged, this, [this](const v1::AgentState& state) {
    emit changed();
    const std::optional<RollbackWords> rollback = AutomaticRollback(state, m_audit.Records());
    if (!rollback || rollback->audit_sequence == m_notified_rollback) return;
    m_notified_rollback = rollback->audit_sequence;
    constexpr int64_t kRecentMs = 10 * 60 * 1000;
    if (QDateTime::currentMSecsSinceEpoch() - rollback->time_unix_ms < kRecentMs)
      emit automaticRollback(Name(), rollback->headline, rollback->evidence);
  });
  connect(&m_client, &AgentClient::identityChanged, this, &AgentSession::changed);
  connect(&m_client, &AgentClient::frameReceived, this, [this](const v1::MetricsFrame& frame) {
    m_history.Add(frame);
    if (frame.has_analysis() && !frame.backfill()) m_verdict = frame.analysis();
    emit framesArrived();
  });
  connect(&m_client, &AgentClient::auditReceived, &m_audit, &AuditTrailModel::Append);
  connect(&m_client, &AgentClient::verifyFinished, this,
          [this](int code, const QString& message, const v1::VerifyAuditResponse& v) {
            if (code != grpc::StatusCode::OK) {
              m_agent_verdict_ok = false;
              m_agent_verdict = tr("agent could not verify: %1").arg(message);
            } else if (v.ok()) {
              m_agent_verdict_ok = true;
              m_agent_verdict = tr("agent: chain verified through #%1").arg(v.verified_through());
            } else {
              m_agent_verdict_ok = false;
              m_agent_verdict = tr("agent: chain BROKEN at #%1: %2")
                                    .arg(v.broken_at())
                                    .arg(QString::fromStdString(v.detail()));
            }
            emit verdictChanged();
          });
}

bool AgentSession::CanOperate() const {
  const v1::Role role = m_client.Identity().role();
  return role == v1::OPERATOR || role == v1::ADMIN;
}

bool AgentSession::CanAdminister() const {
  return m_client.Identity().role() == v1::ADMIN;
}

const v1::AnalysisVerdict& AgentSession::Verdict() const {
  return m_verdict.checks_size() > 0 ? m_verdict : m_client.State().analysis();
}

QString AgentSession::RoleName() const {
  switch (m_client.Identity().role()) {
    case v1::VIEWER:
      return tr("viewer");
    case v1::OPERATOR:
      return tr("operator");
    case v1::ADMIN:
      return tr("admin");
    default:
      return tr("unknown role");
  }
}

}  // namespace greylane
