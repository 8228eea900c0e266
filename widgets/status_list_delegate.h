#pragma once
// Draws a list row as a coloured status dot, a bold name and a summary
// line below it. The model gives the status as an int role (0 connecting,
// 1 live, 2 stale, 3 disconnected) and the summary as a string role.
#include <QStyledItemDelegate>

namespace greylane {

class StatusListDelegate final : public QStyledItemDelegate {
  Q_OBJECT

 public:
  StatusListDelegate(int status_role, int summary_role, int healthy_role,
                     QObject* parent = nullptr);
  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

  static QColor StatusColour(int status);
  static QString StatusName(int status);

 private:
  int m_status_role;
  int m_summary_role;
  int m_healthy_role;
};

}  // namespace greylane
