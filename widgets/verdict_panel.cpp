#include "widgets/verdict_panel.h"

#include <algorithm>

#include <QGridLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace greylane {
namespace {
constexpr int kColumns = 3;  // checks side by side: six checks take two rows
}

VerdictPanel::VerdictPanel(QWidget* parent) : QFrame(parent) {
  setFrameShape(QFrame::StyledPanel);
  setObjectName(QStringLiteral("VerdictPanel"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 4, 8, 4);
  layout->setSpacing(2);
  m_headline = new QLabel;
  m_headline->setWordWrap(true);
  m_headline->setTextFormat(Qt::PlainText);
  layout->addWidget(m_headline);
  m_empty = new QLabel;
  m_empty->setWordWrap(true);
  m_empty->setTextFormat(Qt::PlainText);
  layout->addWidget(m_empty);
  layout->setSizeConstraint(QLayout::SetNoConstraint);  // minimumSizeHint() decides
  m_grid = new QGridLayout;
  m_grid->setHorizontalSpacing(14);
  m_grid->setVerticalSpacing(0);
  layout->addLayout(m_grid);
}

void VerdictPanel::Show(const QString& headline, const QColor& headline_colour,
                        const QList<VerdictRow>& rows, const QString& empty_text) {
  m_headline->setText(headline);
  m_headline->setToolTip(headline);
  const QString sheet = QStringLiteral("font-weight: bold; color: %1;").arg(headline_colour.name());
  if (m_headline->styleSheet() != sheet) m_headline->setStyleSheet(sheet);
  const bool count_changed = m_rows.size() != rows.size();
  m_rows = rows;
  if (count_changed) updateGeometry();
  m_empty->setText(empty_text);
  m_empty->setVisible(rows.isEmpty());
  while (m_lines.size() < rows.size()) {
    const int index = static_cast<int>(m_lines.size());
    const int row = index / kColumns * 2, column = index % kColumns;
    Line line;
    auto* top = new QHBoxLayout;
    top->setSpacing(6);
    line.badge = new QLabel;
    line.badge->setAlignment(Qt::AlignCenter);
    line.badge->setTextFormat(Qt::PlainText);
    line.title = new QLabel;
    line.title->setTextFormat(Qt::PlainText);
    line.title->setStyleSheet(QStringLiteral("font-weight: bold;"));
    top->addWidget(line.badge);
    top->addWidget(line.title, 1);
    m_grid->addLayout(top, row, column);
    line.figures = new QLabel;
    line.figures->setTextFormat(Qt::PlainText);
    line.figures->setWordWrap(true);
    m_grid->addWidget(line.figures, row + 1, column, Qt::AlignTop);
    m_grid->setColumnStretch(column, 1);
    m_lines.append(line);
  }
  for (int i = 0; i < m_lines.size(); ++i) {
    const Line& line = m_lines[i];
    const bool used = i < rows.size();
    line.title->setVisible(used);
    line.badge->setVisible(used);
    line.figures->setVisible(used && !m_compact);
    if (!used) continue;
    const VerdictRow& r = rows[i];
    line.title->setText(r.title);
    line.badge->setText(m_compact && !r.compact_verdict.isEmpty() ? r.compact_verdict : r.verdict);
    const QString badge = QStringLiteral(
                              "background: %1; color: white; font-weight: bold; padding: 0px 5px; "
                              "border-radius: 3px;")
                              .arg(r.colour.name());
    if (line.badge->styleSheet() != badge) line.badge->setStyleSheet(badge);
    // "1.37× (1.14× – 1.62×) · fails ≥ 1.25× · 56 vs 3 624 · 60 s"
    QStringList parts;
    const QString effect = r.figures.value(0), threshold = r.figures.value(1),
                  interval = r.figures.value(2), sample = r.figures.value(3);
    if (effect != QStringLiteral("–")) {
      parts << effect + (interval.isEmpty() || interval == QStringLiteral("–")
                             ? QString()
                             : QStringLiteral(" (%1)").arg(interval));
    }
    parts << threshold << sample;
    line.figures->setText(parts.join(QStringLiteral(" · ")));
    for (QLabel* label : {line.title, line.badge, line.figures}) label->setToolTip(r.tooltip);
  }
}

int VerdictPanel::CompactHeight() const {
  const int rows = (static_cast<int>(m_rows.size()) + kColumns - 1) / kColumns;
  const int line = fontMetrics().lineSpacing();
  return 12 + line + std::max(1, rows) * (line + 4);
}

int VerdictPanel::FullHeight() const {
  // Each row of checks adds a line of figures, two where it wraps.
  const int rows = (static_cast<int>(m_rows.size()) + kColumns - 1) / kColumns;
  return CompactHeight() + fontMetrics().lineSpacing() * (1 + 2 * rows);
}

QSize VerdictPanel::sizeHint() const {
  return {QFrame::sizeHint().width(), FullHeight()};
}

QSize VerdictPanel::minimumSizeHint() const {
  return {QFrame::minimumSizeHint().width(), CompactHeight()};
}

void VerdictPanel::resizeEvent(QResizeEvent* event) {
  QFrame::resizeEvent(event);
  // Queued: changing what shows inside a resize would re-enter the layout.
  const bool compact = height() < FullHeight();
  if (compact != m_compact) {
    QMetaObject::invokeMethod(
        this, [this] { SetCompact(height() < FullHeight()); }, Qt::QueuedConnection);
  }
}

void VerdictPanel::SetCompact(bool compact) {
  if (m_compact == compact) return;
  m_compact = compact;
  // One line of headline (the whole in its tooltip): the charts need the height.
  m_headline->setWordWrap(!compact);
  m_headline->setSizePolicy(compact ? QSizePolicy::Ignored : QSizePolicy::Preferred,
                            QSizePolicy::Preferred);
  for (int i = 0; i < m_lines.size(); ++i) {
    const Line& line = m_lines[i];
    line.figures->setVisible(!compact && line.title->isVisibleTo(this));
    if (i < m_rows.size()) {
      const VerdictRow& r = m_rows[i];
      line.badge->setText(compact && !r.compact_verdict.isEmpty() ? r.compact_verdict : r.verdict);
    }
  }
}

QString VerdictPanel::Text() const {
  QStringList lines = {m_headline->text()};
  if (m_empty->isVisibleTo(this)) lines << m_empty->text();
  for (const Line& line : m_lines) {
    if (!line.title->isVisibleTo(this)) continue;
    lines << QStringLiteral("%1 | %2 | %3")
                 .arg(line.title->text(), line.badge->text(),
                      m_compact ? line.figures->toolTip() : line.figures->text());
  }
  return lines.join(u'\n');
}

}  // namespace greylane
