#include "app/fleet_model.h"

#include "common/basis_points.h"

namespace greylane {

QString SplitText(const v1::AgentState& state) {
  return QString::fromStdString(FormatBasisPoints(state.split().candidate_basis_points()));
}

FleetModel::FleetModel(QObject* parent) : QAbstractListModel(parent) {}
FleetModel::~FleetModel() = default;

int FleetModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : Count();
}

QVariant FleetModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const AgentSession& s = *m_sessions[static_cast<size_t>(index.row())];
  const v1::AgentState& state = s.Client().State();
  bool healthy = state.versions_size() > 0;
  for (const v1::VersionInfo& v : state.versions()) healthy = healthy && v.health() == v1::HEALTHY;
  switch (role) {
    case Qt::DisplayRole:
      return s.Name();
    case Qt::ToolTipRole:
      return QStringLiteral("%1\n%2").arg(s.Client().Endpoint().address, s.LinkDetail());
    case kLinkRole:
      return static_cast<int>(s.Client().CurrentLink());
    case kAddressRole:
      return s.Client().Endpoint().address;
    case kHealthyRole:
      return healthy;
    case kSummaryRole: {
      if (state.versions_size() == 0) return tr("no state yet");
      const QString pending =
          state.audit_rows_pending() > 0 ? tr(" · audit row pending") : QString();
      return tr("%1 · %2%3")
          .arg(SplitText(state), healthy ? tr("healthy") : tr("UNHEALTHY"), pending);
    }
    default:
      return {};
  }
}

AgentSession* FleetModel::Add(const AgentEndpoint& endpoint) {
  if (RowOf(endpoint.name) >= 0) return nullptr;
  const int row = Count();
  beginInsertRows({}, row, row);
  m_sessions.push_back(std::make_unique<AgentSession>(endpoint));
  endInsertRows();
  AgentSession* session = m_sessions.back().get();
  connect(session, &AgentSession::changed, this, [this, session] { OnSessionChanged(session); });
  session->Start();
  return session;
}

void FleetModel::Remove(int row) {
  if (row < 0 || row >= Count()) return;
  beginRemoveRows({}, row, row);
  std::unique_ptr<AgentSession> gone = std::move(m_sessions[static_cast<size_t>(row)]);
  m_sessions.erase(m_sessions.begin() + row);
  endRemoveRows();
  // Destroyed after the row is gone, so no view asks about it meanwhile.
}

AgentSession* FleetModel::At(int row) const {
  return row >= 0 && row < Count() ? m_sessions[static_cast<size_t>(row)].get() : nullptr;
}

int FleetModel::RowOf(const QString& name) const {
  for (int i = 0; i < Count(); ++i) {
    if (m_sessions[static_cast<size_t>(i)]->Name() == name) return i;
  }
  return -1;
}

void FleetModel::OnSessionChanged(AgentSession* session) {
  const int row = RowOf(session->Name());
  if (row >= 0) emit dataChanged(index(row), index(row));
}

}  // namespace greylane
