#include "app/agent_directory.h"

namespace greylane {

AgentDirectory::AgentDirectory(const QString& settings_file)
    : m_settings(settings_file.isEmpty()
                     ? std::make_unique<QSettings>(QStringLiteral("Greylane"),
                                                   QStringLiteral("greylane-console"))
                     : std::make_unique<QSettings>(settings_file, QSettings::IniFormat)) {}

QString AgentDirectory::SecurityName(AgentEndpoint::Security security) {
  switch (security) {
    case AgentEndpoint::Security::Tls:
      return QStringLiteral("tls");
    case AgentEndpoint::Security::MutualTls:
      return QStringLiteral("mtls");
    default:
      return QStringLiteral("none");
  }
}

AgentEndpoint::Security AgentDirectory::SecurityFromName(const QString& name) {
  if (name == QLatin1String("tls")) return AgentEndpoint::Security::Tls;
  if (name == QLatin1String("mtls")) return AgentEndpoint::Security::MutualTls;
  return AgentEndpoint::Security::Plaintext;
}

QList<AgentEndpoint> AgentDirectory::Agents() const {
  QList<AgentEndpoint> agents;
  const int n = m_settings->beginReadArray(QStringLiteral("agents"));
  for (int i = 0; i < n; ++i) {
    m_settings->setArrayIndex(i);
    AgentEndpoint e;
    e.name = m_settings->value(QStringLiteral("name")).toString();
    e.address = m_settings->value(QStringLiteral("address")).toString();
    e.security = SecurityFromName(m_settings->value(QStringLiteral("security")).toString());
    e.ca_file = m_settings->value(QStringLiteral("ca_file")).toString();
    e.cert_file = m_settings->value(QStringLiteral("cert_file")).toString();
    e.key_file = m_settings->value(QStringLiteral("key_file")).toString();
    if (!e.name.isEmpty() && !e.address.isEmpty()) agents.append(e);
  }
  m_settings->endArray();
  return agents;
}

void AgentDirectory::SaveAgents(const QList<AgentEndpoint>& agents) {
  m_settings->beginWriteArray(QStringLiteral("agents"), static_cast<int>(agents.size()));
  for (int i = 0; i < agents.size(); ++i) {
    m_settings->setArrayIndex(i);
    const AgentEndpoint& e = agents[i];
    m_settings->setValue(QStringLiteral("name"), e.name);
    m_settings->setValue(QStringLiteral("address"), e.address);
    m_settings->setValue(QStringLiteral("security"), SecurityName(e.security));
    m_settings->setValue(QStringLiteral("ca_file"), e.ca_file);
    m_settings->setValue(QStringLiteral("cert_file"), e.cert_file);
    m_settings->setValue(QStringLiteral("key_file"), e.key_file);
  }
  m_settings->endArray();
  m_settings->sync();
}

QString AgentDirectory::LastSelected() const {
  return Read(setting::kLastSelected);
}

void AgentDirectory::SetLastSelected(const QString& name) {
  Write(setting::kLastSelected, name);
}

std::optional<AuditHead> AgentDirectory::RememberedHead(const QString& agent_id) const {
  const QString key = QStringLiteral("audit_heads/%1").arg(agent_id);
  const QStringList parts = m_settings->value(key).toString().split(u' ');
  if (parts.size() != 2) return std::nullopt;
  bool ok = false;
  const uint64_t sequence = parts[0].toULongLong(&ok);
  if (!ok) return std::nullopt;
  return AuditHead{sequence, parts[1]};
}

void AgentDirectory::RememberHead(const QString& agent_id, const AuditHead& head) {
  m_settings->setValue(QStringLiteral("audit_heads/%1").arg(agent_id),
                       QStringLiteral("%1 %2").arg(head.sequence).arg(head.hash));
}

}  // namespace greylane
