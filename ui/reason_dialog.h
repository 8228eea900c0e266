#pragma once
// Asks for the reason every mutation carries. The reason is required (OK
// stays disabled while it is blank); a default can be filled in and
// selected, so Enter sends it and typing replaces it.
#include <QDialog>

class QLabel;
class QLineEdit;
class QPushButton;

namespace greylane {

class ReasonDialog final : public QDialog {
  Q_OBJECT

 public:
  ReasonDialog(const QString& title, const QString& explanation, const QString& action_label,
               const QString& reason, bool destructive, QWidget* parent = nullptr);
  QString Reason() const;
  QLineEdit* ReasonEdit() const { return m_reason; }
  QPushButton* AcceptButton() const { return m_accept; }

 private:
  QLineEdit* m_reason;
  QPushButton* m_accept;
};

}  // namespace greylane
