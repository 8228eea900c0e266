#pragma once
// Reads back an exported audit trail (`greylane-agent audit export`, the
// console's File → Export, as JSON Lines, a JSON array or CSV) and verifies
// its hash chain, for a reviewer who was sent the file and not the agent.
//
// JSON exports are exact. CSV cells were made safe for spreadsheets (a
// leading ' before = + - @, control characters as \xHH or \uXXXX), which
// is not always reversible on its own: a cell is read both literally and
// undone, and the reading whose row hash holds is taken.
// JSON is parsed by protobuf's JSON reader into google.protobuf.Struct (a
// library already linked); the CSV reader is hand-written (RFC 4180).
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/audit_record.h"

namespace greylane {

struct ExportVerdict {
  std::string format;  // "jsonl", "json" or "csv"
  ChainVerdict chain;
  // The file need not start at row 1: its first row's prev_hash is then
  // the anchor, which the agent (or an earlier export) can confirm.
  uint64_t first_sequence = 0;
  std::string anchor_hash;
  // CSV cells whose literal reading differed from the undone one.
  uint64_t cells_undone = 0;
  // JSON: the first row whose time_utc disagrees with its hashed
  // time_unix_ms (0: none); the chain verdict then says it is broken there.
  uint64_t time_edited_at = 0;
  std::string time_edited_why;
};

// Larger files are refused before reading (about a million rows).
inline constexpr unsigned long long kMaxExportBytes = 1ull << 30;

// INVALID_ARGUMENT naming the line when the file is not an export.
absl::StatusOr<ExportVerdict> VerifyAuditExport(std::string_view text);

}  // namespace greylane
