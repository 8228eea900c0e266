#pragma once
// The analysis at a glance: one line saying whether it is armed, then per
// check a verdict badge and its name over one line of figures (effect with
// its interval, threshold, sample), three checks side by side so six take
// two rows; the agent's full sentence on hover. Rows are reused between updates, so
// a redraw every second only sets texts.
#include <QColor>
#include <QFrame>
#include <QList>
#include <QString>
#include <QStringList>

class QGridLayout;
class QLabel;

namespace greylane {

struct VerdictRow {
  QString title;
  QString verdict;          // drawn as a badge in `colour`
  QString compact_verdict;  // the badge on a compact panel ("42/50"); empty: `verdict`
  QColor colour;
  QStringList figures;  // effect, threshold, interval, sample
  QString tooltip;
};

class VerdictPanel final : public QFrame {
  Q_OBJECT

 public:
  explicit VerdictPanel(QWidget* parent = nullptr);
  // `headline` in `headline_colour`; no rows: `empty_text` instead.
  void Show(const QString& headline, const QColor& headline_colour, const QList<VerdictRow>& rows,
            const QString& empty_text);
  QString Text() const;  // every visible label, for tests and accessibility
  // Badges and names only (the figures stay in the tooltips). The panel
  // turns compact by itself when its layout gives it less height than the
  // figures need: its minimum is the compact height, so a short window
  // (1280x720, 1024x768) is never held taller by it.
  void SetCompact(bool compact);
  bool Compact() const { return m_compact; }
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  struct Line {
    QLabel* title;
    QLabel* badge;
    QLabel* figures;  // one line: effect (interval) · threshold · sample
  };
  QLabel* m_headline;
  QLabel* m_empty;
  QGridLayout* m_grid;
  QList<Line> m_lines;
  QList<VerdictRow> m_rows;  // shown, for a switch to or from compact
  int CompactHeight() const;
  int FullHeight() const;
  bool m_compact = false;
};

}  // namespace greylane
