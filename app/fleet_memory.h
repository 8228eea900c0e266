#pragma once
// What the console remembers of its fleet between runs, apart from the
// window: which agents to reconnect (their tokens in the keychain, never in
// settings), and each agent's last verified audit head, so a history
// rewritten while the console was closed is noticed. --connect agents are
// not remembered. The main window only reacts to `added`.
#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>

#include "app/agent_directory.h"
#include "app/credential_store.h"
#include "app/fleet_model.h"

namespace greylane {

class FleetMemory final : public QObject {
  Q_OBJECT

 public:
  FleetMemory(FleetModel& fleet, AgentDirectory& directory, CredentialStore& credentials,
              QObject* parent = nullptr);

  // Adds and starts a session; `remember` saves it (and its token, in the
  // keychain) for the next run.
  // nullptr when an agent of that name is already in the fleet.
  AgentSession* Add(const AgentEndpoint& endpoint, bool remember);
  // Starts every saved agent once the keychain has answered for its token.
  void RestoreSaved();
  // Disconnects an agent and forgets it, its token and its remembered head.
  void Forget(const QString& name);

 signals:
  void added(greylane::AgentSession* session);
  // A saved agent whose token the keychain did not have.
  void tokenMissing(const QString& agent);

 private:
  void OnTokenLoaded(const QString& agent, const QString& token, bool found);
  void SaveAgents();
  void WatchHead(AgentSession* session);

  FleetModel& m_fleet;
  AgentDirectory& m_directory;
  CredentialStore& m_credentials;
  QSet<QString> m_remembered;  // saved in settings (not --connect ones)
  QHash<QString, AgentEndpoint> m_awaiting_token;
  QSet<QString> m_heads_applied;
  QHash<QString, uint64_t> m_written_head;  // the head sequence last written to settings
};

}  // namespace greylane
