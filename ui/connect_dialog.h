#pragma once
// Adds (or edits) an agent: name, host:port, TLS mode with its files, and
// the token (which goes to the credential store, never to settings).
#include <QDialog>

#include "app/agent_client.h"

class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPushButton;

namespace greylane {

class ConnectDialog final : public QDialog {
  Q_OBJECT

 public:
  // taken: names already in use (a second agent may not reuse one).
  ConnectDialog(QStringList taken, QWidget* parent = nullptr);
  AgentEndpoint Endpoint() const;  // with the token typed
  // Why the input cannot be accepted yet ("" when it can).
  QString Problem() const;

 private:
  QLineEdit* AddFileRow(QFormLayout* form, const QString& label);
  void Validate();

  QStringList m_taken;
  QLineEdit* m_name;
  QLineEdit* m_address;
  QComboBox* m_security;
  QLineEdit* m_ca;
  QLineEdit* m_cert;
  QLineEdit* m_key;
  QLineEdit* m_token;
  QLabel* m_problem;
  QPushButton* m_ok;
};

}  // namespace greylane
