#pragma once
// Suggested file names built from agent names, which come from outside: only
// letters, digits, '.', '-' and '_' survive, so "a/../b" cannot steer a save
// dialog into another folder.
#include <QString>

namespace greylane {

inline QString SafeFileName(QString name) {
  for (QChar& c : name) {
    if (!(c.isLetterOrNumber() && c.unicode() < 128) && c != u'.' && c != u'-' && c != u'_')
      c = u'_';
  }
  while (name.startsWith(u'.')) name.remove(0, 1);
  return name.isEmpty() ? QStringLiteral("greylane") : name.left(120);
}

}  // namespace greylane
