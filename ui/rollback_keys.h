#pragma once
// Ctrl+Shift+R inside a modal dialog. A modal dialog blocks the main
// window's shortcut, and a second QShortcut on the dialog would make the
// key ambiguous (neither fires), so the dialog claims the key itself: it
// accepts the ShortcutOverride and acts on the key press that follows.
#include <QKeySequence>
#include <QObject>

namespace greylane {

class RollbackKeys final : public QObject {
  Q_OBJECT

 public:
  // Watches `dialog` (and, through event propagation, its children).
  explicit RollbackKeys(QObject* dialog);
  static inline const QKeySequence kKeys{Qt::CTRL | Qt::SHIFT | Qt::Key_R};

 signals:
  void pressed();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
};

}  // namespace greylane
