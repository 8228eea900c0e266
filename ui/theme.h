#pragma once
// Light and dark palettes on the Fusion style, so both read the same on
// every desktop (and under Xvfb, where no platform theme exists).
class QApplication;

namespace greylane {
void ApplyTheme(QApplication& app, bool dark);
}
