#pragma once
// The agents this console is connected to, as a list: each row is one
// AgentSession (owned here) with its link, split and health at a glance.
#include <QAbstractListModel>

#include <memory>
#include <vector>

#include "app/agent_session.h"

namespace greylane {

class FleetModel final : public QAbstractListModel {
  Q_OBJECT

 public:
  // 0 connecting, 1 live, 2 stale, 3 disconnected (AgentClient::Link).
  static constexpr int kLinkRole = Qt::UserRole + 1;
  static constexpr int kSummaryRole = Qt::UserRole + 2;  // "5.00 % · both healthy"
  static constexpr int kAddressRole = Qt::UserRole + 3;
  static constexpr int kHealthyRole = Qt::UserRole + 4;  // bool: every version HEALTHY

  explicit FleetModel(QObject* parent = nullptr);
  ~FleetModel() override;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

  // Adds and starts a session. The name must be unique: a second agent with
  // the same name is refused (nullptr), since settings and tokens key on it.
  AgentSession* Add(const AgentEndpoint& endpoint);
  void Remove(int row);
  AgentSession* At(int row) const;
  int RowOf(const QString& name) const;
  int Count() const { return static_cast<int>(m_sessions.size()); }

 private:
  void OnSessionChanged(AgentSession* session);

  std::vector<std::unique_ptr<AgentSession>> m_sessions;
};

QString SplitText(const v1::AgentState& state);  // "5.00 %"

}  // namespace greylane
