#include "app/audit_trail_model.h"

#include <QDateTime>
#include <QLocale>

#include "common/audit_export.h"
#include "common/audit_proto.h"
#include "common/audit_vocabulary.h"

namespace greylane {
namespace {
QString Percent(uint32_t basis_points) {
  return QString::fromStdString(FormatBasisPoints(basis_points));
}
QString Q(const std::string& s) {
  return QString::fromStdString(s);
}
}  // namespace

AuditTrailModel::AuditTrailModel(QObject* parent) : QAbstractTableModel(parent) {}

int AuditTrailModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_records.size());
}

int AuditTrailModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QString AuditTrailModel::DescribeChange(const AuditRecord& r) {
  if (ParseAuditOutcome(r.outcome) != AuditOutcome::kOk) return QStringLiteral("—");
  const QString after = Percent(r.after.candidate_basis_points);
  if (r.before.baseline_version.empty()) {
    return tr("%1/%2 at %3").arg(Q(r.after.baseline_version), Q(r.after.candidate_version), after);
  }
  if (r.before.baseline_version != r.after.baseline_version ||
      r.before.candidate_version != r.after.candidate_version) {
    return QStringLiteral("%1/%2 → %3/%4 at %5")
        .arg(Q(r.before.baseline_version), Q(r.before.candidate_version),
             Q(r.after.baseline_version), Q(r.after.candidate_version), after);
  }
  if (r.before.candidate_basis_points == r.after.candidate_basis_points) {
    return tr("%1 (unchanged)").arg(after);
  }
  return QStringLiteral("%1 → %2").arg(Percent(r.before.candidate_basis_points), after);
}

QVariant AuditTrailModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const AuditRecord& r = m_records[static_cast<size_t>(index.row())];
  if (role == kOutcomeRole) return Q(r.outcome);
  if (role == kSequenceRole) return static_cast<qulonglong>(r.sequence);
  if (role == Qt::ToolTipRole) {
    // Tooltips that look like HTML are rendered as HTML: what came from
    // outside is escaped inside an explicit rich-text paragraph.
    auto plain = [](const QString& text) {
      return QStringLiteral("<p style='white-space:pre-wrap'>%1</p>").arg(text.toHtmlEscaped());
    };
    if (index.column() == Time) return Q(AuditIsoTime(r.time_unix_ms));
    if (index.column() == Outcome && !r.evidence.empty()) return plain(Q(r.evidence));
    if (index.column() == Actor) return plain(tr("peer %1").arg(Q(r.peer)));
    if (index.column() == Action) return Q(r.action);
    if (index.column() == Reason) return plain(Q(r.reason));
    if (index.column() == Change && r.step) {
      return plain(tr("The step this change ended: %1").arg(Q(FormatStep(*r.step))));
    }
    return {};
  }
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case Sequence:
      return static_cast<qulonglong>(r.sequence);
    case Time:
      return QDateTime::fromMSecsSinceEpoch(r.time_unix_ms)
          .toLocalTime()
          .toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
    case Actor:
      return Q(r.actor);
    case Role:
      return Q(r.role);
    case Action:
      return Q(AuditActionTitle(r.action));
    case Change:
      return DescribeChange(r);
    case Reason:
      return Q(r.reason);
    case Outcome:
      return r.evidence.empty() || ParseAuditOutcome(r.outcome) == AuditOutcome::kOk
                 ? Q(r.outcome)
                 : QStringLiteral("%1: %2").arg(Q(r.outcome), Q(r.evidence));
    default:
      return {};
  }
}

QVariant AuditTrailModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* const kNames[] = {"#",      "Time",   "Actor",  "Role",
                                       "Action", "Change", "Reason", "Outcome"};
  return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

void AuditTrailModel::Append(const v1::AuditEntry& entry) {
  AuditRecord record = FromProto(entry);
  if (!m_records.empty() && record.sequence <= m_records.back().sequence) return;  // replayed
  const int row = static_cast<int>(m_records.size());
  beginInsertRows({}, row, row);
  m_records.push_back(record);
  endInsertRows();
  m_chain.Add(m_records.back());
  CheckRememberedHead();
  emit chainChanged();
}

void AuditTrailModel::SetRememberedHead(const AuditHead& head) {
  m_remembered = head;
  CheckRememberedHead();
  emit chainChanged();
}

void AuditTrailModel::CheckRememberedHead() {
  if (!m_remembered || m_rewritten || m_remembered->sequence == 0) return;
  if (m_records.empty() || m_records.back().sequence < m_remembered->sequence) return;
  const uint64_t first = m_records.front().sequence;
  if (m_remembered->sequence < first) return;
  const uint64_t at = m_remembered->sequence - first;
  if (at >= m_records.size()) return;  // a gap: the chain check reports it
  const AuditRecord& row = m_records[at];
  if (row.sequence == m_remembered->sequence && Q(row.hash) != m_remembered->hash) {
    m_rewritten = true;
    m_rewritten_detail =
        tr("history rewritten: row #%1 has hash %2…, but this console saw %3… there before")
            .arg(m_remembered->sequence)
            .arg(Q(row.hash).left(12), m_remembered->hash.left(12));
  }
}

QString AuditTrailModel::ChainSummary() const {
  if (m_rewritten) return m_rewritten_detail;
  const ChainVerdict& v = m_chain.Verdict();
  if (!v.ok) return tr("chain BROKEN at #%1: %2").arg(v.broken_at).arg(Q(v.why));
  if (v.rows == 0) return tr("no rows yet");
  return tr("chain recomputed here through #%1").arg(v.verified_through);
}

std::optional<AuditHead> AuditTrailModel::VerifiedHead() const {
  const ChainVerdict& v = m_chain.Verdict();
  if (!ChainOk() || v.rows == 0) return std::nullopt;
  return AuditHead{v.verified_through, Q(v.head_hash)};
}

QByteArray AuditTrailModel::ToCsv() const {
  std::string out = AuditCsvHeader();
  for (const AuditRecord& r : m_records) out += AuditCsvRow(r);
  return QByteArray::fromStdString(out);
}

QByteArray AuditTrailModel::ToJson() const {
  std::string out = "[";
  for (size_t i = 0; i < m_records.size(); ++i) {
    std::string line = AuditJsonLine(m_records[i]);
    line.pop_back();  // the JSON Lines newline
    out += (i == 0 ? "\n  " : ",\n  ") + line;
  }
  out += "\n]\n";
  return QByteArray::fromStdString(out);
}

}  // namespace greylane
