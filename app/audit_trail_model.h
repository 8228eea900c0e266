#pragma once
// One agent's audit trail as the console received it (WatchAudit), as a
// table. The console recomputes the hash chain itself from these rows with
// the same canonical encoding the agent uses, and compares the row at a
// remembered head (sequence, hash) from an earlier session: a history
// rewritten on the node is noticed even when the agent's own verify says ok.
#include <QAbstractTableModel>
#include <QString>

#include <optional>
#include <vector>

#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

struct AuditHead {
  uint64_t sequence = 0;
  QString hash;
};

class AuditTrailModel final : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Sequence, Time, Actor, Role, Action, Change, Reason, Outcome, ColumnCount };
  // "ok" | "denied" | "rejected": views colour rows by it.
  static constexpr int kOutcomeRole = Qt::UserRole + 1;
  static constexpr int kSequenceRole = Qt::UserRole + 2;

  explicit AuditTrailModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

  void Append(const v1::AuditEntry& entry);
  // A head remembered from an earlier session; checked when that row arrives
  // (or at once, if it already has).
  void SetRememberedHead(const AuditHead& head);
  const std::vector<AuditRecord>& Records() const { return m_records; }

  // The console's own verdict over the rows received so far.
  bool ChainOk() const { return m_chain.Verdict().ok && !m_rewritten; }
  const ChainVerdict& Chain() const { return m_chain.Verdict(); }
  QString ChainSummary() const;
  std::optional<AuditHead> VerifiedHead() const;

  // Export for release reviews: the agent's CSV columns, and a JSON array
  // of the agent's JSON objects.
  QByteArray ToCsv() const;
  QByteArray ToJson() const;
  // "5.00 % → 0.00 %" (or the versions, for a promotion or a new candidate).
  static QString DescribeChange(const AuditRecord& record);

 signals:
  void chainChanged();

 private:
  void CheckRememberedHead();

  std::vector<AuditRecord> m_records;
  ChainVerifier m_chain;
  std::optional<AuditHead> m_remembered;
  bool m_rewritten = false;
  QString m_rewritten_detail;
};

}  // namespace greylane
