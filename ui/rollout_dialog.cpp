#include "ui/rollout_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "common/rollout_plan.h"
#include "widgets/colour_roles.h"

namespace greylane {
namespace {
QString Q(const std::string& s) {
  return QString::fromStdString(s);
}
}  // namespace

RolloutDialog::RolloutDialog(const QString& candidate, const QString& agent, QWidget* parent)
    : QDialog(parent) {
  setWindowTitle(tr("Start a rollout of %1").arg(candidate));
  auto* layout = new QVBoxLayout(this);
  auto* intro = new QLabel(
      tr("Agent <b>%1</b> walks <b>%2</b> through the steps: each sets the candidate's share, "
         "then waits until the analysis has passed for the bake time (or, at a gate, for "
         "Resume). A failed check pauses the plan, or rolls back when the policy is armed.")
          .arg(agent.toHtmlEscaped(), candidate.toHtmlEscaped()));
  intro->setWordWrap(true);
  layout->addWidget(intro);
  auto* form = new QFormLayout;
  m_preset = new QComboBox;
  for (const RolloutPreset& p : RolloutPresets()) m_preset->addItem(Q(p.plan.name()), Q(p.key));
  m_preset->addItem(tr("Steps of my own"), QString());
  form->addRow(tr("&Plan"), m_preset);
  m_steps = new QLineEdit;
  m_steps->setPlaceholderText(tr("percent, e.g. 1, 5, 25, 100"));
  form->addRow(tr("&Steps (%)"), m_steps);
  m_bake = new QSpinBox;
  m_bake->setRange(1, static_cast<int>(kMaxBakeSeconds));
  m_bake->setSuffix(tr(" s"));
  form->addRow(tr("&Bake each step"), m_bake);
  m_gates = new QLineEdit;
  m_gates->setPlaceholderText(tr("optional: stop for Resume after these steps, e.g. 50"));
  form->addRow(tr("&Gates (%)"), m_gates);
  m_extend = new QSpinBox;
  m_extend->setRange(0, static_cast<int>(kMaxBakeSeconds));
  m_extend->setSuffix(tr(" s"));
  m_extend->setSpecialValueText(tr("default (%1 s)").arg(kDefaultMaxExtendSeconds));
  m_extend->setToolTip(
      tr("Seconds an inconclusive or warning step may add to its bake before the plan pauses "
         "and says what the checks still need"));
  form->addRow(tr("&Extend at most"), m_extend);
  m_promote = new QCheckBox(tr("Promote once the last step (100 %) has baked"));
  form->addRow(QString(), m_promote);
  m_reason = new QLineEdit;
  m_reason->setMaxLength(1024);
  m_reason->setPlaceholderText(tr("why, for the audit trail (required)"));
  form->addRow(tr("&Reason"), m_reason);
  layout->addLayout(form);
  m_preview = new QLabel;
  m_preview->setWordWrap(true);
  m_preview->setTextFormat(Qt::PlainText);
  m_preview->setMinimumWidth(420);
  layout->addWidget(m_preview);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
  m_accept = buttons->addButton(tr("Start rollout"), QDialogButtonBox::AcceptRole);
  m_accept->setDefault(true);
  layout->addWidget(buttons);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(m_preset, &QComboBox::currentIndexChanged, this, &RolloutDialog::UsePreset);
  for (QLineEdit* edit : {m_steps, m_gates, m_reason})
    connect(edit, &QLineEdit::textChanged, this, &RolloutDialog::Update);
  for (QSpinBox* spin : {m_bake, m_extend})
    connect(spin, &QSpinBox::valueChanged, this, &RolloutDialog::Update);
  connect(m_promote, &QCheckBox::toggled, this, &RolloutDialog::Update);
  UsePreset(0);
}

void RolloutDialog::UsePreset(int index) {
  const std::vector<RolloutPreset> presets = RolloutPresets();
  if (index >= 0 && index < static_cast<int>(presets.size())) {
    const v1::RolloutPlan& plan = presets[static_cast<size_t>(index)].plan;
    QStringList steps;
    for (const v1::RolloutStep& s : plan.steps())
      steps << Q(PercentText(s.candidate_basis_points())).remove(QStringLiteral(" %"));
    const QSignalBlocker a(m_steps), b(m_bake);
    m_steps->setText(steps.join(QStringLiteral(", ")));
    m_bake->setValue(plan.steps_size() ? static_cast<int>(plan.steps(0).bake_seconds()) : 120);
  }
  const bool own = m_preset->currentData().toString().isEmpty();
  m_steps->setReadOnly(!own);
  m_bake->setReadOnly(!own);
  Update();
}

v1::RolloutPlan RolloutDialog::Plan() const {
  return m_plan;
}

QString RolloutDialog::Reason() const {
  return m_reason->text().trimmed();
}

void RolloutDialog::Update() {
  m_plan.Clear();
  std::string problem;
  const int index = m_preset->currentIndex();
  const std::vector<RolloutPreset> presets = RolloutPresets();
  if (index >= 0 && index < static_cast<int>(presets.size())) {
    m_plan = presets[static_cast<size_t>(index)].plan;
  } else {
    problem = AddStepsFromText(m_steps->text().toStdString(),
                               static_cast<uint32_t>(m_bake->value()), &m_plan);
  }
  if (problem.empty() && !m_gates->text().trimmed().isEmpty())
    problem = MarkGatesFromText(m_gates->text().toStdString(), &m_plan);
  m_plan.set_max_extend_seconds(static_cast<uint32_t>(m_extend->value()));
  m_plan.set_auto_promote(m_promote->isChecked());
  if (problem.empty()) problem = RolloutPlanProblem(m_plan);
  m_problem = Q(problem);
  if (m_problem.isEmpty() && Reason().isEmpty()) m_problem = tr("a reason is required");
  m_accept->setEnabled(m_problem.isEmpty());
  if (problem.empty()) {
    m_preview->setText(tr("The plan: %1").arg(Q(DescribePlan(m_plan))) +
                       (m_problem.isEmpty() ? QString() : QStringLiteral("\n") + m_problem));
    m_preview->setStyleSheet(QString());
  } else {
    m_preview->setText(tr("Cannot start: %1").arg(m_problem));
    m_preview->setStyleSheet(QStringLiteral("color: %1").arg(RoleHex(ColourRole::kBad)));
  }
}

QString RolloutDialog::PreviewText() const {
  return m_preview->text();
}

}  // namespace greylane
