#include "ui/theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

#include "widgets/colour_roles.h"

namespace greylane {

void ApplyTheme(QApplication& app, bool dark) {
  UseDarkColours(dark);  // the colour roles' dark values: red that reads on #23262b
  app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
  if (!dark) {
    app.setPalette(app.style()->standardPalette());
    return;
  }
  QPalette p;
  const QColor window(0x23, 0x26, 0x2b), base(0x1b, 0x1e, 0x22), text(0xe2, 0xe5, 0xea);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(0x26, 0x2a, 0x30));
  p.setColor(QPalette::ToolTipBase, QColor(0x30, 0x34, 0x3b));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(0x2e, 0x32, 0x38));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x6f, 0xb6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x7a, 0xb0, 0xf0));
  p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x90, 0x98));
  for (const auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
    p.setColor(QPalette::Disabled, role, QColor(0x6e, 0x74, 0x7c));
  }
  app.setPalette(p);
}

}  // namespace greylane
