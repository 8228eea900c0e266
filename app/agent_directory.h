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

// A settings key with its type and value when unset, so a key is spelled
// once and read as what it is.
template <typename T>
struct SettingKey {
  const char* name;
  T fallback;
};

namespace setting {
inline const SettingKey<bool> kDark{"dark", false};
inline const SettingKey<QString> kLastSelected{"last_selected", {}};
inline const SettingKey<QByteArray> kGeometry{"geometry", {}};
inline const SettingKey<QByteArray> kWindowState{"window_state", {}};
}  // namespace setting

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

  template <typename T>
  T Read(const SettingKey<T>& key) const {
    return m_settings->value(QLatin1String(key.name), QVariant::fromValue(key.fallback))
        .template value<T>();
  }
  template <typename T>
  void Write(const SettingKey<T>& key, const T& value) {
    m_settings->setValue(QLatin1String(key.name), QVariant::fromValue(value));
  }

  static QString SecurityName(AgentEndpoint::Security security);  // none | tls | mtls
  static AgentEndpoint::Security SecurityFromName(const QString& name);

 private:
  std::unique_ptr<QSettings> m_settings;
};

}  // namespace greylane
