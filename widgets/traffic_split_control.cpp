#include "widgets/traffic_split_control.h"

#include "common/basis_points.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QVBoxLayout>

#include <cmath>

namespace greylane {

QString TrafficSplitControl::Percent(uint32_t basis_points) {
  return QString::fromStdString(FormatBasisPoints(basis_points));
}

TrafficSplitControl::TrafficSplitControl(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* row = new QHBoxLayout;
  auto* label = new QLabel(tr("Candidate &share"));
  m_slider = new QSlider(Qt::Horizontal);
  m_slider->setRange(0, 10000);
  m_slider->setSingleStep(1);
  m_slider->setPageStep(100);
  m_slider->setTickPosition(QSlider::TicksBelow);
  m_slider->setTickInterval(1000);
  m_slider->setAccessibleName(tr("Candidate share"));
  label->setBuddy(m_slider);
  m_spin = new QDoubleSpinBox;
  m_spin->setRange(0, 100);
  m_spin->setDecimals(2);
  m_spin->setSingleStep(0.01);
  m_spin->setSuffix(QStringLiteral(" %"));
  m_spin->setAccessibleName(tr("Candidate share in percent"));
  m_apply = new QPushButton(QIcon(QStringLiteral(":/icons/apply.svg")), tr("&Apply…"));
  m_apply->setToolTip(tr("Send the proposed split to the agent (asks for a reason)"));
  row->addWidget(label);
  row->addWidget(m_slider, 1);
  row->addWidget(m_spin);
  row->addWidget(m_apply);
  layout->addLayout(row);

  auto* presets = new QHBoxLayout;
  presets->addWidget(new QLabel(tr("Steps:")));
  for (const int percent : {0, 1, 5, 10, 25, 50, 100}) {
    auto* button = new QPushButton(QStringLiteral("%1 %").arg(percent));
    button->setFocusPolicy(Qt::TabFocus);
    button->setToolTip(tr("Propose %1 % for the candidate").arg(percent));
    connect(button, &QPushButton::clicked, this,
            [this, percent] { SetProposal(static_cast<uint32_t>(percent * 100)); });
    presets->addWidget(button);
    m_presets.append(button);
  }
  presets->addStretch(1);
  m_status = new QLabel;
  m_status->setTextFormat(Qt::RichText);
  presets->addWidget(m_status);
  layout->addLayout(presets);

  connect(m_slider, &QSlider::valueChanged, this,
          [this](int value) { SetProposal(static_cast<uint32_t>(value)); });
  connect(m_spin, &QDoubleSpinBox::valueChanged, this,
          [this](double value) { SetProposal(static_cast<uint32_t>(std::lround(value * 100))); });
  connect(m_apply, &QPushButton::clicked, this,
          [this] { emit applyRequested(m_proposed, m_based_on); });
  Refresh();
}

void TrafficSplitControl::SetProposal(uint32_t basis_points) {
  basis_points = std::min<uint32_t>(basis_points, 10000);
  if (!HasProposal()) m_based_on = m_revision;  // a new proposal starts from what is in force
  m_proposed = basis_points;
  Refresh();
}

void TrafficSplitControl::Propose(uint32_t basis_points) {
  SetProposal(basis_points);
}

void TrafficSplitControl::SetInForce(uint32_t basis_points, uint64_t revision) {
  const bool pending = HasProposal();
  m_in_force = basis_points;
  m_revision = revision;
  if (!pending) {
    m_proposed = basis_points;
    m_based_on = revision;
  }
  Refresh();
}

void TrafficSplitControl::Rebase() {
  m_based_on = m_revision;
  Refresh();
}

void TrafficSplitControl::DiscardProposal() {
  m_proposed = m_in_force;
  m_based_on = m_revision;
  Refresh();
}

void TrafficSplitControl::SetEditable(bool editable, const QString& why) {
  m_editable = editable;
  for (QWidget* w : std::initializer_list<QWidget*>{m_slider, m_spin, m_apply}) {
    w->setEnabled(editable);
    w->setToolTip(editable ? QString() : why);
  }
  for (QPushButton* b : m_presets) {
    b->setEnabled(editable);
    if (!editable) b->setToolTip(why);
  }
  Refresh();
}

void TrafficSplitControl::Refresh() {
  {
    const QSignalBlocker block_slider(m_slider);
    const QSignalBlocker block_spin(m_spin);
    m_slider->setValue(static_cast<int>(m_proposed));
    m_spin->setValue(m_proposed / 100.0);
  }
  m_apply->setEnabled(m_editable && HasProposal());
  if (HasProposal()) {
    m_status->setText(tr("in force <b>%1</b> (rev %2) · proposed <b>%3</b> from rev %4")
                          .arg(Percent(m_in_force))
                          .arg(m_revision)
                          .arg(Percent(m_proposed))
                          .arg(m_based_on));
  } else {
    m_status->setText(tr("in force <b>%1</b> (rev %2)").arg(Percent(m_in_force)).arg(m_revision));
  }
}

}  // namespace greylane
