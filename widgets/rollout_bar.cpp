#include "widgets/rollout_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QVBoxLayout>

#include "widgets/colour_roles.h"

namespace greylane {

// The steps, painted: one box per step, as wide as its label needs.
class RolloutBar::Strip final : public QWidget {
 public:
  void Set(QList<RolloutBarStep> steps, int current) {
    m_steps = std::move(steps);
    m_current = current;
    updateGeometry();
    update();
  }
  QSize sizeHint() const override {
    const QFontMetrics m(font());
    int width = 0;
    for (const RolloutBarStep& s : m_steps) width += m.horizontalAdvance(s.label) + 22;
    return {width, m.height() + 10};
  }
  QSize minimumSizeHint() const override { return sizeHint(); }

 protected:
  void paintEvent(QPaintEvent*) override {
    if (m_steps.isEmpty()) return;
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics m(font());
    const QColor good = RoleColour(ColourRole::kGoodFill);
    const QColor edge = palette().color(QPalette::Mid);
    qreal x = 0;
    for (int i = 0; i < m_steps.size(); ++i) {
      const RolloutBarStep& s = m_steps[i];
      const qreal w = m.horizontalAdvance(s.label) + 18;
      const QRectF box(x + 1, 2, w, height() - 4);
      p.setPen(
          QPen(i == m_current ? palette().color(QPalette::Text) : edge, i == m_current ? 2 : 1));
      p.setBrush(Qt::NoBrush);
      p.drawRoundedRect(box, 3, 3);
      const double filled = s.done ? 1.0 : (i == m_current ? s.baked : 0.0);
      if (filled > 0) {
        QColor fill = good;
        fill.setAlpha(s.done ? 200 : 140);
        p.fillRect(
            QRectF(box.left() + 1, box.top() + 1, (box.width() - 2) * filled, box.height() - 2),
            fill);
      }
      p.setPen(s.done ? QColor(Qt::white) : palette().color(QPalette::Text));
      p.drawText(box, Qt::AlignCenter, s.label);
      if (s.gate) {  // a gate: a bar after the box
        p.setPen(QPen(RoleColour(ColourRole::kWarning), 3));
        p.drawLine(QPointF(box.right() + 2, box.top()), QPointF(box.right() + 2, box.bottom()));
      }
      x += w + 4;
    }
  }

 private:
  QList<RolloutBarStep> m_steps;
  int m_current = -1;
};

RolloutBar::RolloutBar(QWidget* parent) : QWidget(parent) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* title = new QLabel(tr("Rollout"));
  title->setStyleSheet(QStringLiteral("font-weight: bold;"));
  layout->addWidget(title);
  m_strip = new Strip;
  m_strip->setAccessibleName(tr("Rollout steps"));
  layout->addWidget(m_strip);
  m_status = new QLabel;
  m_status->setTextFormat(Qt::PlainText);
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  layout->addWidget(m_status, 1);
  m_start = new QPushButton(tr("Start rollout…"));
  m_start->setToolTip(tr("Walk the candidate through a plan of weights and bake times"));
  m_pause = new QPushButton(QIcon(QStringLiteral(":/icons/pause.svg")), tr("Pause…"));
  m_resume = new QPushButton(QIcon(QStringLiteral(":/icons/resume.svg")), tr("Resume…"));
  m_abort = new QPushButton(QIcon(QStringLiteral(":/icons/rollback.svg")), tr("Abort…"));
  m_abort->setToolTip(tr("Roll back and end the rollout"));
  for (QPushButton* b : {m_start, m_pause, m_resume, m_abort}) layout->addWidget(b);
  connect(m_start, &QPushButton::clicked, this, &RolloutBar::startRequested);
  connect(m_pause, &QPushButton::clicked, this, &RolloutBar::pauseRequested);
  connect(m_resume, &QPushButton::clicked, this, &RolloutBar::resumeRequested);
  connect(m_abort, &QPushButton::clicked, this, &RolloutBar::abortRequested);
  Show({});
}

void RolloutBar::Show(const RolloutBarData& d) {
  m_strip->Set(d.steps, d.current);
  m_strip->setVisible(!d.steps.isEmpty());
  m_status->setText(d.steps.isEmpty() ? tr("No rollout plan running: the split moves by hand.")
                                      : d.status);
  const QString sheet = d.status_colour.isValid()
                            ? QStringLiteral("color: %1;").arg(d.status_colour.name())
                            : QString();
  if (m_status->styleSheet() != sheet) m_status->setStyleSheet(sheet);
  const bool running = d.can_pause || d.can_resume || d.can_abort;
  m_start->setVisible(!running);
  m_pause->setVisible(d.can_pause);
  m_resume->setVisible(d.can_resume);
  m_abort->setVisible(d.can_abort);
  for (QPushButton* b : {m_start, m_pause, m_resume, m_abort}) {
    b->setEnabled(d.allowed);
    if (!d.allowed) b->setToolTip(d.why_not);
  }
}

QString RolloutBar::Text() const {
  QStringList parts;
  for (const QPushButton* b : {m_start, m_pause, m_resume, m_abort}) {
    if (b->isVisibleTo(this)) parts << b->text();
  }
  return m_status->text() + QStringLiteral(" [") + parts.join(QStringLiteral(", ")) +
         QStringLiteral("]");
}

}  // namespace greylane
