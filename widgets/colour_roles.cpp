#include "widgets/colour_roles.h"

#include <array>
#include <utility>

namespace greylane {
namespace {
bool g_dark = false;  // GUI thread only, like every widget

// {light, dark}
constexpr std::array<std::pair<QRgb, QRgb>, 12> kColours = {{
    {0x4a90e2, 0x6aa8f0},  // baseline
    {0xe8710a, 0xf5924a},  // candidate
    {0x2e9d4f, 0x5cc97d},  // good
    {0xd93025, 0xff6b5e},  // bad
    {0xc77700, 0xf0ad3c},  // warning
    {0x707880, 0x9aa2ab},  // neutral
    {0x808080, 0x8f969e},  // muted
    {0x4a6fa5, 0x7aa2e0},  // connecting
    {0xb3261e, 0xb3261e},  // bad fill
    {0xc77700, 0xb36b00},  // warning fill
    {0x4a6fa5, 0x4a6fa5},  // info fill
    {0x2e9d4f, 0x2a8a46},  // good fill
}};
}  // namespace

void UseDarkColours(bool dark) {
  g_dark = dark;
}

bool DarkColours() {
  return g_dark;
}

QColor RoleColour(ColourRole role) {
  const auto& [light, dark] = kColours[static_cast<size_t>(role)];
  return QColor::fromRgb(g_dark ? dark : light);
}

QString RoleHex(ColourRole role) {
  return RoleColour(role).name();
}

}  // namespace greylane
