#pragma once
// Agent tokens, kept in the desktop's keychain (QtKeychain: the Secret
// Service on Linux), never in settings or logs. When no keychain answers
// (no service, locked, or no answer within the timeout) the store says so
// and keeps tokens in memory for this run only. Asynchronous: the GUI never
// waits on D-Bus.
#include <QHash>
#include <QObject>
#include <QString>

namespace greylane {

class CredentialStore final : public QObject {
  Q_OBJECT

 public:
  enum class Mode { Unknown, Keychain, MemoryOnly };
  Q_ENUM(Mode)

  explicit CredentialStore(QString service = QStringLiteral("greylane-console"),
                           QObject* parent = nullptr);

  // Results arrive as saved / loaded. A token is usable from memory at once.
  void Save(const QString& agent, const QString& token);
  void Load(const QString& agent);
  void Forget(const QString& agent);
  // Skips the keychain entirely (tests, --no-keychain).
  void UseMemoryOnly(const QString& why);

  Mode CurrentMode() const { return m_mode; }
  // A sentence for the status bar, e.g. "tokens in memory only: no keychain
  // service (org.freedesktop.secrets) is running".
  QString ModeDetail() const { return m_detail; }
  QString InMemory(const QString& agent) const { return m_memory.value(agent); }

  static constexpr int kTimeoutMs = 5000;

 signals:
  void saved(const QString& agent, bool in_keychain);
  void loaded(const QString& agent, const QString& token, bool found);
  void modeChanged(greylane::CredentialStore::Mode mode, const QString& detail);

 private:
  void Fallback(const QString& why);
  void SetMode(Mode mode, const QString& detail);

  QString m_service;
  Mode m_mode = Mode::Unknown;
  QString m_detail;
  QHash<QString, QString> m_memory;
};

}  // namespace greylane
