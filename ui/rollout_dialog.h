#pragma once
// The rollout plan editor: a preset (1 → 5 → 10 → 25 → 50 → 100 %, 2 min
// each; +10 % per hour) or steps of its own, bake time, gates, the limit on
// inconclusive extensions, automatic promotion, and the reason. It says in
// words what the plan will do, and why it cannot start, as it is typed
// (the agent checks the same rules, common/rollout_plan.h).
#include <QDialog>

#include "greylane/v1/agent.pb.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace greylane {

class RolloutDialog final : public QDialog {
  Q_OBJECT

 public:
  RolloutDialog(const QString& candidate, const QString& agent, QWidget* parent = nullptr);
  v1::RolloutPlan Plan() const;
  QString Reason() const;
  // Empty when the plan can start.
  QString Problem() const { return m_problem; }
  QComboBox* PresetBox() const { return m_preset; }
  QLineEdit* StepsEdit() const { return m_steps; }
  QLineEdit* ReasonEdit() const { return m_reason; }
  QPushButton* AcceptButton() const { return m_accept; }
  QString PreviewText() const;

 private:
  void UsePreset(int index);
  void Update();

  QComboBox* m_preset;
  QLineEdit* m_steps;
  QSpinBox* m_bake;
  QLineEdit* m_gates;
  QSpinBox* m_extend;
  QCheckBox* m_promote;
  QLineEdit* m_reason;
  QLabel* m_preview;
  QPushButton* m_accept;
  QString m_problem;
  v1::RolloutPlan m_plan;
};

}  // namespace greylane
