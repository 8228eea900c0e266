#include "common/text.h"

#include <utf8cpp/utf8.h>

#include <cstdint>
#include <cstdio>
#include <functional>

namespace greylane {
namespace {

// Walks `text` one code point at a time; an invalid byte is reported alone
// (code point -1) and the walk resumes after it, as decoders conventionally do.
void ForEachCodePoint(std::string_view text,
                      const std::function<void(int64_t cp, std::string_view bytes)>& fn) {
  const char* it = text.data();
  const char* const end = text.data() + text.size();
  while (it != end) {
    const char* bad = utf8::find_invalid(it, end);
    while (it != bad) {
      const char* start = it;
      const uint32_t cp = utf8::unchecked::next(it);
      fn(cp, std::string_view(start, static_cast<size_t>(it - start)));
    }
    if (bad == end) break;
    fn(-1, std::string_view(bad, 1));
    it = bad + 1;
  }
}

bool IsC0OrDel(int64_t cp) {
  return (cp >= 0 && cp < 0x20) || cp == 0x7f;
}
bool IsC1(int64_t cp) {
  return cp >= 0x80 && cp <= 0x9f;
}
// Bidirectional embeddings, overrides and isolates: they reorder what a
// reader sees ("Trojan Source").
bool IsBidiControl(int64_t cp) {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

std::string Hex2(unsigned value) {
  char text[8];
  std::snprintf(text, sizeof(text), "\\x%02x", value & 0xffu);
  return text;
}

std::string CodePointName(int64_t cp) {
  char text[32];
  std::snprintf(text, sizeof(text), "U+%04llX", static_cast<unsigned long long>(cp));
  return text;
}

std::string UEscape(int64_t cp) {
  char text[32];
  std::snprintf(text, sizeof(text), "\\u%04llx", static_cast<unsigned long long>(cp));
  return text;
}

// Escapes what a human-facing, single-line medium must not receive raw.
std::string EscapeControls(std::string_view text, bool allow_newlines) {
  std::string out;
  out.reserve(text.size());
  ForEachCodePoint(text, [&](int64_t cp, std::string_view bytes) {
    if (cp < 0) {
      out += Hex2(static_cast<unsigned char>(bytes[0]));
    } else if (cp == '\n' && allow_newlines) {
      out += '\n';
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (IsC0OrDel(cp)) {
      out += Hex2(static_cast<unsigned>(cp));
    } else if (IsC1(cp) || IsBidiControl(cp)) {
      out += UEscape(cp);
    } else {
      out += bytes;
    }
  });
  return out;
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

bool IsValidUtf8(std::string_view text) {
  return utf8::find_invalid(text.begin(), text.end()) == text.end();
}

std::string TextProblem(std::string_view what, std::string_view text, size_t max_bytes,
                        TextKind kind) {
  if (text.size() > max_bytes) {
    return std::string(what) + " is " + std::to_string(text.size()) + " bytes; at most " +
           std::to_string(max_bytes);
  }
  const auto bad = utf8::find_invalid(text.begin(), text.end());
  if (bad != text.end()) {
    return std::string(what) + " is not valid UTF-8 (byte " +
           std::to_string(bad - text.begin() + 1) + " is " + "0" +
           Hex2(static_cast<unsigned char>(*bad)).substr(1) + ")";
  }
  std::string problem;
  size_t offset = 0;
  ForEachCodePoint(text, [&](int64_t cp, std::string_view bytes) {
    offset += bytes.size();
    if (!problem.empty()) return;
    const bool allowed_space = kind == TextKind::kProse && (cp == '\n' || cp == '\t');
    if ((IsC0OrDel(cp) && !allowed_space) || IsC1(cp) || IsBidiControl(cp)) {
      problem = std::string(what) + " holds a control character (" + CodePointName(cp) +
                " at byte " + std::to_string(offset - bytes.size() + 1) + ")" +
                (kind == TextKind::kProse ? "; newlines and tabs are fine" : "");
    }
  });
  return problem;
}

std::string ToValidUtf8(std::string_view bytes) {
  if (IsValidUtf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 16);
  ForEachCodePoint(bytes, [&](int64_t cp, std::string_view b) {
    out += cp < 0 ? Hex2(static_cast<unsigned char>(b[0])) : std::string(b);
  });
  return out;
}

std::string ClampText(std::string_view text, size_t max_bytes) {
  std::string valid = ToValidUtf8(text);
  if (valid.size() <= max_bytes) return valid;
  const std::string marker = " …[" + std::to_string(text.size()) + " bytes]";
  const size_t keep = max_bytes > marker.size() ? max_bytes - marker.size() : 0;
  size_t cut = 0;
  ForEachCodePoint(valid, [&](int64_t, std::string_view b) {
    const size_t at = static_cast<size_t>(b.data() - valid.data());
    if (at + b.size() <= keep) cut = at + b.size();
  });
  valid.resize(cut);
  if (valid.size() + marker.size() <= max_bytes) valid += marker;
  return valid;
}

std::string Quote(std::string_view text, size_t max_bytes) {
  return "'" + ClampText(EscapeControls(text, false), max_bytes) + "'";
}

std::string TerminalSafe(std::string_view text, bool allow_newlines) {
  return EscapeControls(text, allow_newlines);
}

bool CsvCellGuards(std::string_view text) {
  return !text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos;
}

bool CsvCellEscapes(int64_t cp) {
  return (IsC0OrDel(cp) && cp != '\t' && cp != '\r' && cp != '\n') || IsC1(cp) || IsBidiControl(cp);
}

std::string CsvCell(std::string_view text) {
  std::string cell;
  cell.reserve(text.size() + 2);
  if (CsvCellGuards(text)) cell += '\'';
  ForEachCodePoint(text, [&](int64_t cp, std::string_view b) {
    if (cp < 0) {
      cell += Hex2(static_cast<unsigned char>(b[0]));
    } else if (CsvCellEscapes(cp) && cp < 0x80) {
      cell += Hex2(static_cast<unsigned>(cp));
    } else if (CsvCellEscapes(cp)) {
      cell += UEscape(cp);  // an 8-bit CSI, or text reordered before a reviewer's eyes
    } else {
      cell += b;
    }
  });
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (const char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  ForEachCodePoint(text, [&](int64_t cp, std::string_view b) {
    switch (cp) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      default:
        break;
    }
    if (cp < 0) {
      out += "\\ufffd";  // JSON must be valid UTF-8; the byte is lost visibly
    } else if (IsC0OrDel(cp) || IsC1(cp) || IsBidiControl(cp) || cp == 0x2028 || cp == 0x2029) {
      out += UEscape(cp);
    } else {
      out += b;
    }
  });
  return out + "\"";
}

std::string HtmlText(std::string_view text) {
  std::string out;
  for (const char c : EscapeControls(text, false)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string MarkdownCell(std::string_view text) {
  std::string out;
  for (const char c : EscapeControls(text, true)) {
    if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '|' || c == '`' || c == '*' || c == '_' || c == '[' || c == ']' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '&') {
      out += "&amp;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace greylane
