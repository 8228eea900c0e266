#pragma once
// Text from outside (RPC fields, files, headers, peers) checked at the edge,
// and text going out escaped for the medium it lands in: protobuf strings
// (valid UTF-8), status messages (bounded), terminals (no control
// sequences) and spreadsheets (no formulas). UTF-8 decoding is utfcpp's
// (Debian libutfcpp-dev); the policies around it are ours.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace greylane {

// Valid UTF-8 as protobuf requires of a `string` field: no overlong forms,
// no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// Lower-case hex of every byte: "\x01\xab" -> "01ab".
std::string HexEncode(std::string_view bytes);

enum class TextKind {
  kName,   // identities, versions, model names, paths: one line, no control characters
  kProse,  // reasons: newlines and tabs allowed, no other control characters
};

// What is wrong with an outside text, or empty when it may be used:
// "the reason is not valid UTF-8 (byte 4 is 0xe9)", "... is 2048 bytes; at
// most 1024", "... holds a control character (U+001B at byte 3)".
std::string TextProblem(std::string_view what, std::string_view text, size_t max_bytes,
                        TextKind kind);

// Any bytes as valid UTF-8: each invalid byte becomes "\xNN". For text that
// must be stored or sent whatever it holds (peer strings, upstream errors).
std::string ToValidUtf8(std::string_view bytes);

// At most `max_bytes` of valid UTF-8, cut on a character boundary; a cut is
// marked " …[N bytes]" (N: the original size), the marker within the bound.
std::string ClampText(std::string_view text, size_t max_bytes);

// Outside text quoted inside a message to a person: valid UTF-8, control
// characters escaped, cut to `max_bytes`, in single quotes.
std::string Quote(std::string_view text, size_t max_bytes = 80);

// For a terminal: C0 controls (but newline where `allow_newlines`), DEL, C1
// controls (U+0080..U+009F, which some terminals obey as escape sequences),
// bidirectional overrides and invalid bytes become visible escapes.
std::string TerminalSafe(std::string_view text, bool allow_newlines = false);

// One CSV cell (RFC 4180), safe to open in a spreadsheet: a cell starting
// with = + - @ or a tab/CR is prefixed with ' (OWASP's CSV-injection
// advice), NUL and other controls but tab/CR/LF are escaped as \xNN, C1
// controls and bidirectional overrides as \uNNNN, and the cell is quoted
// when it holds a comma, quote or line break.
std::string CsvCell(std::string_view text);
// Whether CsvCell puts a ' before this text, so a spreadsheet does not
// run it as a formula (it starts with = + - @, a tab or a CR).
bool CsvCellGuards(std::string_view text);
// The code points CsvCell writes as \xHH (C0 controls but tab, CR and LF;
// DEL) or \uXXXX (C1 and bidirectional controls), and only those: a reader
// undoing the escapes decodes these and leaves any other "\x41" as text.
bool CsvCellEscapes(int64_t code_point);

// A JSON string literal (with quotes) that is valid UTF-8 and ASCII-safe for
// terminals: controls, DEL, C1 and U+2028/2029 are \u-escaped.
std::string JsonString(std::string_view text);

// Text for HTML (element content or a quoted attribute): & < > " ' become
// entities, and controls, bidi overrides and invalid bytes visible escapes.
std::string HtmlText(std::string_view text);
// One Markdown table cell: also | and ` are escaped, line breaks become spaces.
std::string MarkdownCell(std::string_view text);

}  // namespace greylane
