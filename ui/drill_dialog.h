#pragma once
// A game-day fault drill on one slot (admin): added latency on a share of
// requests, a rate of failures, a rate of wrong answers, for a while; or
// stopping the slot's drill. Audited by the agent, self-expiring.
#include <QDialog>

#include "greylane/v1/agent.pb.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace greylane {

class DrillDialog final : public QDialog {
  Q_OBJECT

 public:
  DrillDialog(const QString& agent, QWidget* parent = nullptr);
  // The request to send (duration 0 when Stop was chosen).
  v1::InjectFaultRequest Request() const;
  QComboBox* SlotBox() const { return m_slot; }
  QSpinBox* LatencyBox() const { return m_latency; }
  QDoubleSpinBox* ErrorBox() const { return m_errors; }
  QDoubleSpinBox* WrongBox() const { return m_wrong; }
  QLineEdit* ReasonEdit() const { return m_reason; }
  QPushButton* StartButton() const { return m_start; }
  QPushButton* StopButton() const { return m_stop; }

 private:
  void Update();

  QComboBox* m_slot;
  QSpinBox* m_latency;
  QDoubleSpinBox* m_share;
  QDoubleSpinBox* m_errors;
  QDoubleSpinBox* m_wrong;
  QSpinBox* m_seconds;
  QLineEdit* m_reason;
  QLabel* m_summary;
  QPushButton* m_start;
  QPushButton* m_stop;
  bool m_stopping = false;
};

}  // namespace greylane
