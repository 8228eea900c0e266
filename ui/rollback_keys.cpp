#include "ui/rollback_keys.h"

#include <QKeyEvent>

namespace greylane {

RollbackKeys::RollbackKeys(QObject* dialog) : QObject(dialog) {
  dialog->installEventFilter(this);
}

bool RollbackKeys::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() != QEvent::ShortcutOverride && event->type() != QEvent::KeyPress) {
    return QObject::eventFilter(watched, event);
  }
  auto* key = static_cast<QKeyEvent*>(event);
  if (QKeySequence(key->keyCombination()) != kKeys) return QObject::eventFilter(watched, event);
  event->accept();
  if (event->type() == QEvent::KeyPress) emit pressed();
  return true;
}

}  // namespace greylane
