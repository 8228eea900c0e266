#pragma once
// The agents this console is connected to, as a list: each row is one
// AgentSession (owned here) with its link, split and health at a glance.
#include <QAbstractListModel>
#include <QSortFilterProxyModel>

#include <memory>
#include <vector>

#include "app/agent_session.h"

namespace greylane {

enum class FleetTrouble { kFine = 0, kAttention = 1, kTrouble = 2 };

// What one fleet row says at a glance, worst news first.
struct FleetRowText {
  FleetTrouble trouble = FleetTrouble::kFine;
  // "CANARY 5.00 % · healthy\ncand. errors 0.0 % · p99 +3 %": two lines.
  QString summary;
  QString why;  // the tooltip: each problem in words
};

class FleetModel final : public QAbstractListModel {
  Q_OBJECT

 public:
  // 0 connecting, 1 live, 2 stale, 3 disconnected (AgentClient::Link).
  static constexpr int kLinkRole = Qt::UserRole + 1;
  static constexpr int kSummaryRole = Qt::UserRole + 2;  // FleetRowText::summary
  static constexpr int kAddressRole = Qt::UserRole + 3;
  static constexpr int kTroubleRole = Qt::UserRole + 4;  // int: a FleetTrouble

  explicit FleetModel(QObject* parent = nullptr);
  ~FleetModel() override;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

  // Adds and starts a session. The name must be unique: a second agent with
  // the same name is refused (nullptr), since settings and tokens key on it.
  // `start` false leaves it unconnected (replays in tests and benchmarks).
  AgentSession* Add(const AgentEndpoint& endpoint, bool start = true);
  void Remove(int row);
  AgentSession* At(int row) const;
  int RowOf(const QString& name) const;
  int Count() const { return static_cast<int>(m_sessions.size()); }

 private:
  void OnSessionChanged(AgentSession* session);

  std::vector<std::unique_ptr<AgentSession>> m_sessions;
  std::vector<FleetRowText> m_rows;  // per row: its description, kept current
};

// From the session's state, link and the cards' 10 s window.
FleetRowText DescribeFleetRow(const AgentSession& session);

// The fleet list's order: rows in trouble first, then those needing
// attention, each group in the order the agents were added (so rows move
// only when their trouble changes).
class FleetTroubleOrder final : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit FleetTroubleOrder(FleetModel& fleet, QObject* parent = nullptr);
  // Source rows and proxy rows, both ways (-1 when none).
  int ToFleetRow(const QModelIndex& index) const;
  QModelIndex FromFleetRow(int row) const;

 protected:
  bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

 private:
  FleetModel& m_fleet;
};

QString SplitText(const v1::AgentState& state);  // "5.00 %"

}  // namespace greylane
