#include "app/fleet_model.h"

#include <algorithm>

#include "app/version_comparison.h"
#include "common/basis_points.h"

namespace greylane {

QString SplitText(const v1::AgentState& state) {
  return QString::fromStdString(FormatBasisPoints(state.split().candidate_basis_points()));
}

namespace {
constexpr int kRowWindowSeconds = 10;  // as the cards

void Worsen(FleetRowText& row, FleetTrouble trouble, const QString& why) {
  row.trouble = std::max(row.trouble, trouble);
  row.why += (row.why.isEmpty() ? QString() : QStringLiteral("\n")) + why;
}
}  // namespace

FleetRowText DescribeFleetRow(const AgentSession& s) {
  FleetRowText row;
  const v1::AgentState& state = s.Client().State();
  switch (s.Client().CurrentLink()) {
    case AgentClient::Link::Live:
      break;
    case AgentClient::Link::Connecting:
      Worsen(row, FleetTrouble::kAttention, QObject::tr("connecting: %1").arg(s.LinkDetail()));
      break;
    case AgentClient::Link::Stale:
      Worsen(row, FleetTrouble::kTrouble,
             QObject::tr("STALE: the figures stopped updating (%1)").arg(s.LinkDetail()));
      break;
    case AgentClient::Link::Disconnected:
      Worsen(row, FleetTrouble::kTrouble, QObject::tr("DISCONNECTED: %1").arg(s.LinkDetail()));
      break;
  }
  if (state.versions_size() < 2) {
    Worsen(row, FleetTrouble::kAttention, QObject::tr("no release state yet"));
    row.summary = QObject::tr("no state yet");
    return row;
  }
  QStringList parts;
  parts << QStringLiteral("%1 %2").arg(
      QString::fromStdString(v1::Phase_Name(state.phase())).replace(u'_', u' '), SplitText(state));
  QStringList unhealthy;
  bool unknown = false;
  for (const v1::VersionInfo& v : state.versions()) {
    const QString slot =
        v.slot() == v1::CANDIDATE ? QObject::tr("candidate") : QObject::tr("baseline");
    if (v.health() == v1::UNHEALTHY) {
      unhealthy << slot;
      Worsen(row, FleetTrouble::kTrouble,
             QObject::tr("%1 %2 is UNHEALTHY: %3")
                 .arg(slot, QString::fromStdString(v.version()),
                      QString::fromStdString(v.health_detail())));
    } else if (v.health() != v1::HEALTHY) {
      unknown = true;
    }
  }
  if (!unhealthy.isEmpty()) {
    parts << QObject::tr("%1 UNHEALTHY").arg(unhealthy.join(QStringLiteral(" + ")));
  } else if (unknown) {
    parts << QObject::tr("health unknown");
    Worsen(row, FleetTrouble::kAttention, QObject::tr("a version's health is not known yet"));
  } else {
    parts << QObject::tr("healthy");
  }
  const WindowSummary base = s.History().Summarize(state.versions(0).version(), kRowWindowSeconds);
  const WindowSummary cand = s.History().Summarize(state.versions(1).version(), kRowWindowSeconds);
  // The candidate's figures on a line of their own: a narrow list keeps them.
  QStringList figures;
  if (cand.requests > 0) {
    figures << QObject::tr("cand. errors %1 %").arg(cand.server_error_rate * 100, 0, 'f', 1);
    if (cand.successes == 0) {
      figures << QObject::tr("no successful requests");
      Worsen(row, FleetTrouble::kTrouble,
             QObject::tr("the candidate answered none of its %1 requests in %2 s")
                 .arg(cand.requests)
                 .arg(kRowWindowSeconds));
    }
    const CandidateComparison c = CompareCandidate(base, cand);
    if (!c.p99_diff.isEmpty()) figures << QObject::tr("p99 %1").arg(c.p99_diff);
    if (c.worse) Worsen(row, FleetTrouble::kTrouble, QObject::tr("candidate worse: %1").arg(c.why));
  } else if (state.split().candidate_basis_points() > 0) {
    figures << QObject::tr("no candidate traffic");
  }
  if (state.audit_rows_pending() > 0) {
    figures << QObject::tr("audit row pending");
    Worsen(row, FleetTrouble::kAttention,
           QObject::tr("%n audit row(s) pending: %1", nullptr,
                       static_cast<int>(state.audit_rows_pending()))
               .arg(QString::fromStdString(state.audit_pending_detail())));
  }
  row.summary = parts.join(QStringLiteral(" · "));
  if (!figures.isEmpty()) row.summary += u'\n' + figures.join(QStringLiteral(" · "));
  return row;
}

FleetTroubleOrder::FleetTroubleOrder(FleetModel& fleet, QObject* parent)
    : QSortFilterProxyModel(parent), m_fleet(fleet) {
  setSourceModel(&fleet);
  setDynamicSortFilter(true);
  sort(0, Qt::AscendingOrder);
}

int FleetTroubleOrder::ToFleetRow(const QModelIndex& index) const {
  return index.isValid() ? mapToSource(index).row() : -1;
}

QModelIndex FleetTroubleOrder::FromFleetRow(int row) const {
  return row >= 0 && row < m_fleet.Count() ? mapFromSource(m_fleet.index(row)) : QModelIndex();
}

bool FleetTroubleOrder::lessThan(const QModelIndex& left, const QModelIndex& right) const {
  const int a = left.data(FleetModel::kTroubleRole).toInt();
  const int b = right.data(FleetModel::kTroubleRole).toInt();
  if (a != b) return a > b;  // worst first
  // The fleet only appends and removes rows: its order is the order added.
  return left.row() < right.row();
}

FleetModel::FleetModel(QObject* parent) : QAbstractListModel(parent) {}
FleetModel::~FleetModel() = default;

int FleetModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : Count();
}

QVariant FleetModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const AgentSession& s = *m_sessions[static_cast<size_t>(index.row())];
  const FleetRowText& row = m_rows[static_cast<size_t>(index.row())];
  switch (role) {
    case Qt::DisplayRole:
      return s.Name();
    case Qt::ToolTipRole:
      return QStringLiteral("%1 at %2\n%3\n%4")
          .arg(s.Name(), s.Client().Endpoint().address, row.summary,
               row.why.isEmpty() ? tr("nothing wrong") : row.why);
    case kLinkRole:
      return static_cast<int>(s.Client().CurrentLink());
    case kAddressRole:
      return s.Client().Endpoint().address;
    case kSummaryRole:
      return row.summary;
    case kTroubleRole:
      return static_cast<int>(row.trouble);
    default:
      return {};
  }
}

AgentSession* FleetModel::Add(const AgentEndpoint& endpoint, bool start) {
  if (RowOf(endpoint.name) >= 0) return nullptr;
  const int row = Count();
  beginInsertRows({}, row, row);
  m_sessions.push_back(std::make_unique<AgentSession>(endpoint));
  m_rows.push_back(DescribeFleetRow(*m_sessions.back()));
  endInsertRows();
  AgentSession* session = m_sessions.back().get();
  connect(session, &AgentSession::changed, this, [this, session] { OnSessionChanged(session); });
  // The row's error rate and latency follow the metrics (one frame a second).
  connect(session, &AgentSession::framesArrived, this,
          [this, session] { OnSessionChanged(session); });
  if (start) session->Start();
  return session;
}

void FleetModel::Remove(int row) {
  if (row < 0 || row >= Count()) return;
  beginRemoveRows({}, row, row);
  std::unique_ptr<AgentSession> gone = std::move(m_sessions[static_cast<size_t>(row)]);
  m_sessions.erase(m_sessions.begin() + row);
  m_rows.erase(m_rows.begin() + row);
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
  if (row < 0) return;
  // Described once per change; views and the sort ask many times.
  m_rows[static_cast<size_t>(row)] = DescribeFleetRow(*session);
  emit dataChanged(index(row), index(row));
}

}  // namespace greylane
