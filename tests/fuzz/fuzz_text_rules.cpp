// libFuzzer: the escaping rules every outside text passes through. For any
// bytes: ClampText gives valid UTF-8 within its bound; TerminalSafe leaves
// no control byte; CsvCell holds no NUL and never starts a formula; a JSON
// string is valid UTF-8 without raw controls; TextProblem accepts only
// valid UTF-8 within its bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/audit_record.h"
#include "common/text.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
bool HasControl(const std::string& s, bool newline_ok) {
  for (const unsigned char c : s) {
    if ((c < 0x20 && !(newline_ok && c == '\n')) || c == 0x7f) return true;
  }
  return s.find("\xc2\x80") != std::string::npos || s.find("\xc2\x9b") != std::string::npos;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t bound = size == 0 ? 0 : data[0] % 128;
  const std::string clamped = greylane::ClampText(text, bound);
  Check(clamped.size() <= bound && greylane::IsValidUtf8(clamped));
  Check(greylane::IsValidUtf8(greylane::ToValidUtf8(text)));
  const std::string terminal = greylane::TerminalSafe(text);
  Check(!HasControl(terminal, false) && greylane::IsValidUtf8(terminal));
  Check(!HasControl(greylane::TerminalSafe(text, true), true));
  const std::string cell = greylane::CsvCell(text);
  Check(cell.find('\0') == std::string::npos && cell.find("\xc2\x9b") == std::string::npos &&
        cell.find("\xe2\x80\xae") == std::string::npos);
  const size_t first = cell.size() > 1 && cell[0] == '"' ? 1 : 0;
  Check(cell.empty() || std::string("=+-@").find(cell[first]) == std::string::npos);
  const std::string json = greylane::JsonString(text);
  Check(greylane::IsValidUtf8(json) && !HasControl(json, false));
  if (greylane::TextProblem("t", text, 64, greylane::TextKind::kProse).empty()) {
    Check(text.size() <= 64 && greylane::IsValidUtf8(text));
  }
  greylane::AuditRecord row;
  row.reason = text;
  row.actor = text;
  greylane::BoundAuditRecord(&row);
  Check(row.reason.size() <= greylane::kMaxReasonBytes && greylane::IsValidUtf8(row.actor));
  return 0;
}
