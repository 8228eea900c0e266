#include "app/fleet_memory.h"

namespace greylane {

FleetMemory::FleetMemory(FleetModel& fleet, AgentDirectory& directory, CredentialStore& credentials,
                         QObject* parent)
    : QObject(parent), m_fleet(fleet), m_directory(directory), m_credentials(credentials) {
  connect(&m_credentials, &CredentialStore::loaded, this, &FleetMemory::OnTokenLoaded);
}

AgentSession* FleetMemory::Add(const AgentEndpoint& endpoint, bool remember) {
  AgentSession* session = m_fleet.Add(endpoint);
  if (!session) return nullptr;
  WatchHead(session);
  if (remember) {
    m_credentials.Save(endpoint.name, endpoint.token);
    m_remembered.insert(endpoint.name);
    SaveAgents();
  }
  emit added(session);
  return session;
}

void FleetMemory::RestoreSaved() {
  // Each session starts once the keychain answers for it, with or without
  // a token (the agent then says UNAUTHENTICATED, and the list shows it).
  for (const AgentEndpoint& endpoint : m_directory.Agents()) {
    m_remembered.insert(endpoint.name);
    m_awaiting_token.insert(endpoint.name, endpoint);
    m_credentials.Load(endpoint.name);
  }
}

void FleetMemory::OnTokenLoaded(const QString& agent, const QString& token, bool found) {
  if (!m_awaiting_token.contains(agent)) return;
  AgentEndpoint endpoint = m_awaiting_token.take(agent);
  endpoint.token = token;
  Add(endpoint, false);
  if (!found) emit tokenMissing(agent);
}

void FleetMemory::Forget(const QString& name) {
  m_remembered.remove(name);
  m_heads_applied.remove(name);
  m_written_head.remove(name);
  m_credentials.Forget(name);
  m_fleet.Remove(m_fleet.RowOf(name));
  SaveAgents();
}

void FleetMemory::SaveAgents() {
  QList<AgentEndpoint> agents;
  for (int i = 0; i < m_fleet.Count(); ++i) {
    const AgentEndpoint& e = m_fleet.At(i)->Client().Endpoint();
    if (m_remembered.contains(e.name)) agents.append(e);
  }
  m_directory.SaveAgents(agents);
}

void FleetMemory::WatchHead(AgentSession* session) {
  // Apply the head remembered from an earlier run once the agent's id is
  // known; from then on remember the newest verified head.
  auto update = [this, session] {
    const QString id = QString::fromStdString(session->Client().State().agent_id());
    if (id.isEmpty()) return;
    if (!m_heads_applied.contains(session->Name())) {
      m_heads_applied.insert(session->Name());
      if (auto head = m_directory.RememberedHead(id)) session->Audit().SetRememberedHead(*head);
    }
    // Written when it moves, not on every state change or replayed row.
    const auto head = session->Audit().VerifiedHead();
    if (head && m_written_head.value(session->Name()) != head->sequence) {
      m_directory.RememberHead(id, *head);
      m_written_head.insert(session->Name(), head->sequence);
    }
  };
  connect(session, &AgentSession::changed, this, update);
  connect(&session->Audit(), &AuditTrailModel::chainChanged, this, update);
}

}  // namespace greylane
