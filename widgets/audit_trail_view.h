#pragma once
// An audit trail table with a filter box, the chain verdicts and export
// buttons. Works on any table model that offers an outcome role ("ok",
// "denied", "rejected"): refused attempts are tinted so they stand out.
#include <QWidget>

class QAbstractItemModel;
class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QTimer;

namespace greylane {

class OutcomeTint;

class AuditTrailView final : public QWidget {
  Q_OBJECT

 public:
  explicit AuditTrailView(int outcome_role, QWidget* parent = nullptr);

  void SetModel(QAbstractItemModel* model);
  // Two verdicts: the agent's (VerifyAudit) and the console's own.
  void SetVerdicts(const QString& agent, bool agent_ok, const QString& console, bool console_ok);
  void SetFilter(const QString& text);
  QTableView* Table() const { return m_table; }
  QSortFilterProxyModel* Filtered() const { return m_filter; }
  QString VerdictText() const;

 signals:
  void verifyRequested();
  void exportRequested(const QString& format);  // "csv" | "json"

 private:
  void FollowNewRows();

  QLineEdit* m_filter_box;
  QTableView* m_table;
  OutcomeTint* m_tint;
  QSortFilterProxyModel* m_filter;
  QLabel* m_agent_verdict;
  QLabel* m_console_verdict;
  QTimer* m_fit_columns;  // coalesces column fitting while rows stream in
};

}  // namespace greylane
