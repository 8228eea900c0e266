#include "ui/reason_dialog.h"
#include "widgets/colour_roles.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace greylane {

ReasonDialog::ReasonDialog(const QString& title, const QString& explanation,
                           const QString& action_label, const QString& reason, bool destructive,
                           QWidget* parent)
    : QDialog(parent) {
  setWindowTitle(title);
  setObjectName(QStringLiteral("ReasonDialog"));
  auto* layout = new QVBoxLayout(this);
  auto* text = new QLabel(explanation);
  text->setWordWrap(true);
  text->setTextFormat(Qt::RichText);
  layout->addWidget(text);
  auto* label = new QLabel(tr("&Reason (recorded in the audit trail):"));
  m_reason = new QLineEdit(reason);
  m_reason->setMaxLength(1024);
  m_reason->setAccessibleName(tr("Reason"));
  label->setBuddy(m_reason);
  layout->addWidget(label);
  layout->addWidget(m_reason);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
  m_accept = buttons->addButton(action_label, QDialogButtonBox::AcceptRole);
  m_accept->setDefault(true);
  if (destructive) {
    m_accept->setStyleSheet(
        QStringLiteral(
            "QPushButton { background: %1; color: white; font-weight: bold; padding: 4px 14px; }"
            "QPushButton:disabled { background: #a0a0a0; }")
            .arg(RoleHex(ColourRole::kBadFill)));
  }
  layout->addWidget(buttons);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto update = [this] {
    m_accept->setEnabled(!Reason().isEmpty());
    m_accept->setDefault(m_accept->isEnabled());
  };
  // Enter in the reason sends, whichever button QDialog last made default.
  connect(m_reason, &QLineEdit::returnPressed, this, [this] {
    if (m_accept->isEnabled() && isVisible()) accept();
  });
  connect(m_reason, &QLineEdit::textChanged, this, update);
  update();
  m_reason->selectAll();
  m_reason->setFocus();
  setMinimumWidth(460);
}

QString ReasonDialog::Reason() const {
  return m_reason->text().trimmed();
}

}  // namespace greylane
