#pragma once
// The candidate's share: a slider and a spin box (0.01 % steps) and preset
// steps. Moving them only proposes; "Apply…" emits applyRequested with the
// proposal and the revision it was based on. Shows proposed vs in force.
#include <QWidget>

#include <cstdint>

class QLabel;
class QPushButton;
class QSlider;
class QDoubleSpinBox;

namespace greylane {

class TrafficSplitControl final : public QWidget {
  Q_OBJECT

 public:
  explicit TrafficSplitControl(QWidget* parent = nullptr);

  // The split in force. With no proposal pending the controls follow it;
  // a pending proposal is kept (and keeps the revision it was based on).
  void SetInForce(uint32_t basis_points, uint64_t revision);
  // Propose a value, as if the user had moved the slider.
  void Propose(uint32_t basis_points);
  // After a refusal for a stale revision: keep the proposal, based on the
  // state now in force, for a second try.
  void Rebase();
  // Back to the split in force.
  void DiscardProposal();
  // Disabled controls carry `why` as their tooltip.
  void SetEditable(bool editable, const QString& why = {});

  uint32_t Proposed() const { return m_proposed; }
  uint32_t InForce() const { return m_in_force; }
  uint64_t BasedOnRevision() const { return m_based_on; }
  bool HasProposal() const { return m_proposed != m_in_force; }
  QPushButton* ApplyButton() const { return m_apply; }
  QSlider* Slider() const { return m_slider; }

  static QString Percent(uint32_t basis_points);  // "5.00 %"

 signals:
  void applyRequested(uint32_t basis_points, uint64_t based_on_revision);

 private:
  void SetProposal(uint32_t basis_points);
  void Refresh();

  QSlider* m_slider;
  QDoubleSpinBox* m_spin;
  QLabel* m_status;
  QPushButton* m_apply;
  QList<QPushButton*> m_presets;
  uint32_t m_in_force = 0;
  uint64_t m_revision = 0;
  uint32_t m_proposed = 0;
  uint64_t m_based_on = 0;
  bool m_editable = true;
};

}  // namespace greylane
