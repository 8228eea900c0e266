#include "app/agent_session.h"

#include <grpcpp/support/status.h>

namespace greylane {

AgentSession::AgentSession(AgentEndpoint endpoint, QObject* parent)
    : QObject(parent), m_client(std::move(endpoint)) {
  connect(&m_client, &AgentClient::linkChanged, this,
          [this](AgentClient::Link, const QString& detail) {
            m_link_detail = detail;
            emit changed();
          });
  connect(&m_client, &AgentClient::stateChanged, this, &AgentSession::changed);
  connect(&m_client, &AgentClient::identityChanged, this, &AgentSession::changed);
  connect(&m_client, &AgentClient::frameReceived, this, [this](const v1::MetricsFrame& frame) {
    m_history.Add(frame);
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
