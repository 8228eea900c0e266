#pragma once
// Draws a list row as a coloured status dot, a bold name and a summary
// line below it. The model gives the status as an int role (0 connecting,
// 1 live, 2 stale, 3 disconnected), the summary as a string role and the
// row's trouble as an int role (0 fine, 1 attention, 2 trouble): a row in
// trouble gets a red bar and red summary, one needing attention amber.
#include <QStyledItemDelegate>

namespace greylane {

class StatusListDelegate final : public QStyledItemDelegate {
  Q_OBJECT

 public:
  StatusListDelegate(int status_role, int summary_role, int trouble_role,
                     QObject* parent = nullptr);
  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

  static QColor StatusColour(int status);
  static QString StatusName(int status);

 private:
  int m_status_role;
  int m_summary_role;
  int m_trouble_role;
};

}  // namespace greylane
