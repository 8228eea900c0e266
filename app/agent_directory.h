#pragma once
// What the console remembers between runs, in QSettings: the agents (name,
// address, TLS mode and file paths; never tokens), the last agent selected,
// and each agent's last verified audit head (to notice a rewritten history).
#include <QList>
#include <QSettings>
#include <QString>

#include <memory>
#include <optional>

#include "app/agent_client.h"
#include "app/audit_trail_model.h"

namespace greylane {

class AgentDirectory {
 public:
  // settings_file empty: the platform's usual place (organisation
  // "Greylane", application "greylane-console").
  explicit AgentDirectory(const QString& settings_file = {});

  QList<AgentEndpoint> Agents() const;  // tokens left empty
  void SaveAgents(const QList<AgentEndpoint>& agents);
  QString LastSelected() const;
  void SetLastSelected(const QString& name);
  std::optional<AuditHead> RememberedHead(const QString& agent_id) const;
  void RememberHead(const QString& agent_id, const AuditHead& head);
  QSettings& Settings() { return *m_settings; }

  static QString SecurityName(AgentEndpoint::Security security);  // none | tls | mtls
  static AgentEndpoint::Security SecurityFromName(const QString& name);

 private:
  std::unique_ptr<QSettings> m_settings;
};

}  // namespace greylane
