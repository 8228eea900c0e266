#include "ui/connect_dialog.h"
#include "widgets/colour_roles.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QToolButton>
#include <QVBoxLayout>

namespace greylane {

ConnectDialog::ConnectDialog(QStringList taken, QWidget* parent)
    : QDialog(parent), m_taken(std::move(taken)) {
  setWindowTitle(tr("Connect to an agent"));
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  m_name = new QLineEdit;
  m_name->setPlaceholderText(tr("gpu-node-07"));
  m_address = new QLineEdit;
  m_address->setPlaceholderText(tr("host:7070"));
  m_security = new QComboBox;
  m_security->addItem(tr("None (loopback only)"));
  m_security->addItem(tr("TLS"));
  m_security->addItem(tr("Mutual TLS"));
  form->addRow(tr("&Name"), m_name);
  form->addRow(tr("&Address"), m_address);
  form->addRow(tr("&Security"), m_security);
  m_ca = AddFileRow(form, tr("&CA certificate"));
  m_cert = AddFileRow(form, tr("Client c&ertificate"));
  m_key = AddFileRow(form, tr("Client &key"));
  m_token = new QLineEdit;
  m_token->setEchoMode(QLineEdit::Password);
  m_token->setPlaceholderText(tr("stored in the desktop keychain"));
  form->addRow(tr("&Token"), m_token);
  layout->addLayout(form);
  m_problem = new QLabel;
  m_problem->setStyleSheet(QStringLiteral("color: %1").arg(RoleHex(ColourRole::kBad)));
  m_problem->setWordWrap(true);
  layout->addWidget(m_problem);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  m_ok = buttons->button(QDialogButtonBox::Ok);
  m_ok->setText(tr("Connect"));
  layout->addWidget(buttons);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  for (QLineEdit* e : {m_name, m_address, m_ca, m_cert, m_key, m_token}) {
    connect(e, &QLineEdit::textChanged, this, &ConnectDialog::Validate);
  }
  connect(m_security, &QComboBox::currentIndexChanged, this, &ConnectDialog::Validate);
  Validate();
  setMinimumWidth(480);
}

QLineEdit* ConnectDialog::AddFileRow(QFormLayout* form, const QString& label) {
  auto* row = new QHBoxLayout;
  auto* edit = new QLineEdit;
  auto* browse = new QToolButton;
  browse->setText(QStringLiteral("…"));
  browse->setToolTip(tr("Choose a PEM file"));
  row->addWidget(edit, 1);
  row->addWidget(browse);
  // A field that is a layout gets no buddy from addRow(QString, ...): the
  // '&' would show as text ("&CA certificate"), so the label is made here.
  auto* caption = new QLabel(label);
  caption->setBuddy(edit);
  form->addRow(caption, row);
  connect(browse, &QToolButton::clicked, this, [this, edit, label] {
    const QString file =
        QFileDialog::getOpenFileName(this, label, {}, tr("PEM (*.pem *.crt *.key);;All files (*)"));
    if (!file.isEmpty()) edit->setText(file);
  });
  return edit;
}

AgentEndpoint ConnectDialog::Endpoint() const {
  AgentEndpoint e;
  e.name = m_name->text().trimmed();
  e.address = m_address->text().trimmed();
  e.security = static_cast<AgentEndpoint::Security>(m_security->currentIndex());
  if (e.security != AgentEndpoint::Security::Plaintext) e.ca_file = m_ca->text().trimmed();
  if (e.security == AgentEndpoint::Security::MutualTls) {
    e.cert_file = m_cert->text().trimmed();
    e.key_file = m_key->text().trimmed();
  }
  e.token = m_token->text().trimmed();
  return e;
}

QString ConnectDialog::Problem() const {
  const AgentEndpoint e = Endpoint();
  if (e.name.isEmpty()) return tr("Give the agent a name.");
  if (m_taken.contains(e.name))
    return tr("An agent named “%1” is already in the list.").arg(e.name);
  static const QRegularExpression kAddress(
      QStringLiteral(R"(^(\[[0-9a-fA-F:]+\]|[^\s:]+):\d{1,5}$)"));
  if (!kAddress.match(e.address).hasMatch()) return tr("The address must be host:port.");
  if (e.token.isEmpty()) return tr("Enter the token the agent's administrator gave you.");
  for (const QString& file : {e.ca_file, e.cert_file, e.key_file}) {
    if (!file.isEmpty() && !QFileInfo(file).isReadable()) {
      return tr("Cannot read %1.").arg(file);
    }
  }
  if (e.security == AgentEndpoint::Security::MutualTls &&
      (e.cert_file.isEmpty() || e.key_file.isEmpty())) {
    return tr("Mutual TLS needs a client certificate and its key.");
  }
  return {};
}

void ConnectDialog::Validate() {
  const bool tls = m_security->currentIndex() != 0;
  const bool mutual = m_security->currentIndex() == 2;
  m_ca->setEnabled(tls);
  m_cert->setEnabled(mutual);
  m_key->setEnabled(mutual);
  const QString problem = Problem();
  m_problem->setText(problem);
  m_ok->setEnabled(problem.isEmpty());
}

}  // namespace greylane
