#pragma once
// A rollout plan as a row of steps: done steps filled, the current one
// filled as far as it has baked, gates marked; beside it the plan's status
// in words and its controls (start, pause, resume, abort), which only
// emit signals: the owner confirms and sends.
#include <QColor>
#include <QList>
#include <QString>
#include <QWidget>

class QLabel;
class QPushButton;

namespace greylane {

struct RolloutBarStep {
  QString label;  // "10 %"
  bool gate = false;
  bool done = false;
  double baked = 0;  // of the current step, 0..1
};

struct RolloutBarData {
  QList<RolloutBarStep> steps;  // empty: no plan; only Start shows
  int current = -1;
  QString status;
  QColor status_colour;
  bool can_pause = false, can_resume = false, can_abort = false;
  bool allowed = false;  // the caller's role may drive rollouts
  QString why_not;       // when not allowed
};

class RolloutBar final : public QWidget {
  Q_OBJECT

 public:
  explicit RolloutBar(QWidget* parent = nullptr);
  void Show(const RolloutBarData& data);
  QString Text() const;
  QPushButton* StartButton() const { return m_start; }
  QPushButton* PauseButton() const { return m_pause; }
  QPushButton* ResumeButton() const { return m_resume; }
  QPushButton* AbortButton() const { return m_abort; }

 signals:
  void startRequested();
  void pauseRequested();
  void resumeRequested();
  void abortRequested();

 private:
  class Strip;
  Strip* m_strip;
  QLabel* m_status;
  QPushButton* m_start;
  QPushButton* m_pause;
  QPushButton* m_resume;
  QPushButton* m_abort;
};

}  // namespace greylane
