#include "widgets/status_list_delegate.h"
#include "widgets/colour_roles.h"

#include <QApplication>
#include <QPainter>

namespace greylane {

StatusListDelegate::StatusListDelegate(int status_role, int summary_role, int trouble_role,
                                       QObject* parent)
    : QStyledItemDelegate(parent),
      m_status_role(status_role),
      m_summary_role(summary_role),
      m_trouble_role(trouble_role) {}

QColor StatusListDelegate::StatusColour(int status) {
  switch (status) {
    case 0:
      return RoleColour(ColourRole::kConnecting);
    case 1:
      return RoleColour(ColourRole::kGood);  // live
    case 2:
      return RoleColour(ColourRole::kWarning);  // stale
    default:
      return RoleColour(ColourRole::kBad);  // disconnected
  }
}

QString StatusListDelegate::StatusName(int status) {
  switch (status) {
    case 0:
      return tr("connecting");
    case 1:
      return tr("live");
    case 2:
      return tr("stale");
    default:
      return tr("disconnected");
  }
}

void StatusListDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option,
                               const QModelIndex& index) const {
  QStyleOptionViewItem opt = option;
  initStyleOption(&opt, index);
  opt.text.clear();
  const QWidget* widget = option.widget;
  QStyle* style = widget ? widget->style() : QApplication::style();
  style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);

  const int status = index.data(m_status_role).toInt();
  const int trouble = index.data(m_trouble_role).toInt();
  const QColor trouble_colour = trouble >= 2 ? StatusColour(3) : StatusColour(2);
  const QRect r = option.rect.adjusted(8, 4, -6, -4);
  painter->save();
  if (trouble > 0)
    painter->fillRect(option.rect.left(), option.rect.top(), 4, option.rect.height(),
                      trouble_colour);
  painter->setRenderHint(QPainter::Antialiasing);
  painter->setPen(Qt::NoPen);
  painter->setBrush(StatusColour(status));
  const int d = 12;
  painter->drawEllipse(QRect(r.left(), r.top() + 3, d, d));
  const QColor text = option.state & QStyle::State_Selected
                          ? option.palette.color(QPalette::HighlightedText)
                          : option.palette.color(QPalette::Text);
  QFont bold = option.font;
  bold.setBold(true);
  painter->setFont(bold);
  painter->setPen(text);
  const QRect name_rect(r.left() + d + 8, r.top(), r.width() - d - 8, QFontMetrics(bold).height());
  painter->drawText(name_rect, Qt::AlignLeft | Qt::AlignVCenter,
                    QFontMetrics(bold).elidedText(index.data(Qt::DisplayRole).toString() +
                                                      QStringLiteral("  ·  ") + StatusName(status),
                                                  Qt::ElideRight, name_rect.width()));
  painter->setFont(option.font);
  painter->setPen(trouble > 0 && !(option.state & QStyle::State_Selected) ? trouble_colour : text);
  // Each summary line elided on its own (the model gives up to two).
  QRect line_rect(name_rect.left(), name_rect.bottom() + 2, name_rect.width(),
                  option.fontMetrics.height());
  for (const QString& line : index.data(m_summary_role).toString().split(u'\n')) {
    painter->drawText(line_rect, Qt::AlignLeft | Qt::AlignVCenter,
                      option.fontMetrics.elidedText(line, Qt::ElideRight, line_rect.width()));
    line_rect.translate(0, option.fontMetrics.height());
  }
  painter->restore();
}

QSize StatusListDelegate::sizeHint(const QStyleOptionViewItem& option,
                                   const QModelIndex& index) const {
  QSize size = QStyledItemDelegate::sizeHint(option, index);
  // Name and two summary lines, for every row (the list's items are uniform).
  size.setHeight(option.fontMetrics.height() * 3 + 14);
  return size;
}

}  // namespace greylane
