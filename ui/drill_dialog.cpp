#include "ui/drill_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace greylane {

DrillDialog::DrillDialog(const QString& agent, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Fault drill on %1").arg(agent));
  auto* layout = new QVBoxLayout(this);
  auto* intro = new QLabel(
      tr("For game days and for proving the analysis with real traffic: the agent slows, fails "
         "or answers wrongly a share of one slot's requests, for a while, then stops by itself. "
         "Audited; a restart of the agent ends it sooner."));
  intro->setWordWrap(true);
  layout->addWidget(intro);
  auto* form = new QFormLayout;
  m_slot = new QComboBox;
  m_slot->addItem(tr("candidate"), v1::CANDIDATE);
  m_slot->addItem(tr("baseline"), v1::BASELINE);
  form->addRow(tr("&Slot"), m_slot);
  m_latency = new QSpinBox;
  m_latency->setRange(0, 10000);
  m_latency->setSuffix(tr(" ms"));
  form->addRow(tr("Added &latency"), m_latency);
  m_share = new QDoubleSpinBox;
  m_share->setRange(0.01, 100);
  m_share->setValue(100);
  m_share->setSuffix(tr(" % of requests"));
  form->addRow(tr("  on"), m_share);
  m_errors = new QDoubleSpinBox;
  m_errors->setRange(0, 100);
  m_errors->setSuffix(tr(" % of requests"));
  form->addRow(tr("&Failures"), m_errors);
  m_wrong = new QDoubleSpinBox;
  m_wrong->setRange(0, 100);
  m_wrong->setSuffix(tr(" % of answers"));
  m_wrong->setToolTip(tr("The answer's top class moves to the next class"));
  form->addRow(tr("&Wrong answers"), m_wrong);
  m_seconds = new QSpinBox;
  m_seconds->setRange(1, 3600);
  m_seconds->setValue(60);
  m_seconds->setSuffix(tr(" s"));
  form->addRow(tr("&For"), m_seconds);
  m_reason = new QLineEdit;
  m_reason->setMaxLength(1024);
  m_reason->setPlaceholderText(tr("why, for the audit trail (required)"));
  form->addRow(tr("&Reason"), m_reason);
  layout->addLayout(form);
  m_summary = new QLabel;
  m_summary->setWordWrap(true);
  layout->addWidget(m_summary);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
  m_start = buttons->addButton(tr("Start drill"), QDialogButtonBox::AcceptRole);
  m_stop = buttons->addButton(tr("Stop the slot's drill"), QDialogButtonBox::ActionRole);
  layout->addWidget(buttons);
  connect(m_start, &QPushButton::clicked, this, [this] {
    m_stopping = false;
    accept();
  });
  connect(m_stop, &QPushButton::clicked, this, [this] {
    m_stopping = true;
    accept();
  });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_latency, &QSpinBox::valueChanged, this, &DrillDialog::Update);
  for (QDoubleSpinBox* box : {m_share, m_errors, m_wrong})
    connect(box, &QDoubleSpinBox::valueChanged, this, &DrillDialog::Update);
  connect(m_reason, &QLineEdit::textChanged, this, &DrillDialog::Update);
  Update();
}

void DrillDialog::Update() {
  const bool reason = !m_reason->text().trimmed().isEmpty();
  const bool shaped = m_latency->value() > 0 || m_errors->value() > 0 || m_wrong->value() > 0;
  m_start->setEnabled(reason && shaped);
  m_stop->setEnabled(reason);
  m_summary->setText(!reason   ? tr("A reason is required.")
                     : !shaped ? tr("Set added latency, failures or wrong answers to start.")
                               : QString());
}

v1::InjectFaultRequest DrillDialog::Request() const {
  v1::InjectFaultRequest r;
  r.set_slot(static_cast<v1::Slot>(m_slot->currentData().toInt()));
  r.set_reason(m_reason->text().trimmed().toStdString());
  if (m_stopping) return r;  // duration 0: stop
  r.set_added_latency_ms(static_cast<uint32_t>(m_latency->value()));
  r.set_latency_share(m_share->value() / 100);
  r.set_error_rate(m_errors->value() / 100);
  r.set_wrong_answer_rate(m_wrong->value() / 100);
  r.set_duration_seconds(static_cast<uint32_t>(m_seconds->value()));
  return r;
}

}  // namespace greylane
