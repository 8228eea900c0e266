#pragma once
// The console's colours by what they mean, each with a light and a dark
// value: red text that reads on white (#d93025) is too dark on the dark
// palette's #23262b. The theme says which set is in force; widgets and
// views ask by role, for a QColor or for "#rrggbb" in rich text and style
// sheets. Fills (white text on colour) are the same in both.
#include <QColor>
#include <QString>

namespace greylane {

enum class ColourRole {
  kBaseline,    // the baseline's series and card accent
  kCandidate,   // the candidate's
  kGood,        // healthy, applied, live, chain verified
  kBad,         // unhealthy, errors, refused, rollback markers
  kWarning,     // stale, pending, outcome unknown
  kNeutral,     // markers and badges that carry no verdict
  kMuted,       // differences too small to judge
  kConnecting,  // a link on its way up
  kBadFill,     // backgrounds behind white text
  kWarningFill,
  kInfoFill,
  kGoodFill,
};

void UseDarkColours(bool dark);
bool DarkColours();
QColor RoleColour(ColourRole role);
QString RoleHex(ColourRole role);  // "#rrggbb"

}  // namespace greylane
