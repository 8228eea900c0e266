#include "common/audit_import.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <vector>

#include "common/audit_export.h"
#include "common/text.h"

namespace greylane {
namespace {
using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status LineError(size_t line, const std::string& what) {
  return absl::InvalidArgumentError("line " + std::to_string(line) + ": " + what);
}

const Value* Field(const Struct& s, const char* name) {
  const auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}
std::string Text(const Struct& s, const char* name) {
  const Value* v = Field(s, name);
  return v && v->has_string_value() ? v->string_value() : std::string();
}
// Exports write integers; a double keeps them exactly below 2^53.
uint64_t Unsigned(const Struct& s, const char* name) {
  const Value* v = Field(s, name);
  if (!v || !v->has_number_value() || v->number_value() < 0) return 0;
  return static_cast<uint64_t>(std::llround(v->number_value()));
}
int64_t Signed(const Struct& s, const char* name) {
  const Value* v = Field(s, name);
  return v && v->has_number_value() ? std::llround(v->number_value()) : 0;
}

AuditState StateOf(const Struct& s) {
  AuditState state;
  state.candidate_basis_points = static_cast<uint32_t>(Unsigned(s, "candidate_basis_points"));
  state.revision = Unsigned(s, "revision");
  state.baseline_version = Text(s, "baseline");
  state.candidate_version = Text(s, "candidate");
  state.phase = Text(s, "phase");
  return state;
}

AuditStep StepOf(const Struct& s) {
  AuditStep step;
  step.started_unix_ms = Signed(s, "started_unix_ms");
  step.ended_unix_ms = Signed(s, "ended_unix_ms");
  step.candidate_basis_points = static_cast<uint32_t>(Unsigned(s, "candidate_basis_points"));
  if (const Value* versions = Field(s, "versions"); versions && versions->has_list_value()) {
    for (const Value& item : versions->list_value().values()) {
      if (!item.has_struct_value()) continue;
      const Struct& v = item.struct_value();
      StepFigures f;
      f.slot = Text(v, "slot");
      f.version = Text(v, "version");
      f.requests = Unsigned(v, "requests");
      f.server_errors = Unsigned(v, "server_errors");
      f.client_errors = Unsigned(v, "client_errors");
      f.p50_us = Unsigned(v, "p50_us");
      f.p90_us = Unsigned(v, "p90_us");
      f.p99_us = Unsigned(v, "p99_us");
      step.versions.push_back(std::move(f));
    }
  }
  return step;
}

absl::StatusOr<AuditRecord> RecordOf(const Struct& s) {
  if (!Field(s, "sequence") || !Field(s, "hash") || !Field(s, "prev_hash"))
    return absl::InvalidArgumentError("not an audit row (no sequence, hash or prev_hash)");
  const Value* sequence = Field(s, "sequence");
  if (!sequence->has_number_value() || sequence->number_value() < 1 ||
      sequence->number_value() > 9007199254740992.0 ||
      sequence->number_value() != std::floor(sequence->number_value())) {
    return absl::InvalidArgumentError("\"sequence\" must be a whole number from 1");
  }
  AuditRecord r;
  r.sequence = Unsigned(s, "sequence");
  r.time_unix_ms = Signed(s, "time_unix_ms");
  r.actor = Text(s, "actor");
  r.role = Text(s, "role");
  r.peer = Text(s, "peer");
  r.action = Text(s, "action");
  r.outcome = Text(s, "outcome");
  r.reason = Text(s, "reason");
  if (const Value* v = Field(s, "before"); v && v->has_struct_value())
    r.before = StateOf(v->struct_value());
  if (const Value* v = Field(s, "after"); v && v->has_struct_value())
    r.after = StateOf(v->struct_value());
  r.evidence = Text(s, "evidence");
  r.prev_hash = Text(s, "prev_hash");
  r.hash = Text(s, "hash");
  if (const Value* v = Field(s, "step"); v && v->has_struct_value())
    r.step = StepOf(v->struct_value());
  if (const Value* v = Field(s, "cut_for_transport"); v && v->has_bool_value())
    r.cut_for_transport = v->bool_value();
  return r;
}

// How deeply arrays and objects nest, outside strings. Exports nest 3
// deep; protobuf's reader slows quadratically on 10 000 levels of [[[.
size_t NestingDepth(std::string_view json) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}
constexpr size_t kMaxNesting = 16;

absl::Status CheckNesting(std::string_view json) {
  if (NestingDepth(json) <= kMaxNesting) return absl::OkStatus();
  return absl::InvalidArgumentError("JSON nested more than " + std::to_string(kMaxNesting) +
                                    " levels deep: not an audit export");
}

absl::StatusOr<Struct> ParseObject(std::string_view json) {
  if (absl::Status deep = CheckNesting(json); !deep.ok()) return deep;
  Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &s);
  if (!status.ok()) return absl::InvalidArgumentError("not JSON: " + std::string(status.message()));
  return s;
}

// The chain starts at the file's first row: row 1 must link to the
// genesis hash; a later first row is anchored on its own prev_hash.
absl::Status Begin(const AuditRecord& first, size_t line, ExportVerdict& verdict,
                   std::optional<ChainVerifier>& chain) {
  if (chain) return absl::OkStatus();
  if (first.sequence == 0) return LineError(line, "sequence 0 is not an audit row");
  verdict.first_sequence = first.sequence;
  verdict.anchor_hash = first.sequence == 1 ? kGenesisHash : first.prev_hash;
  chain.emplace(first.sequence - 1, verdict.anchor_hash);
  return absl::OkStatus();
}

// --- CSV -------------------------------------------------------------------

// RFC 4180 records; a quoted cell may hold commas, quotes and line breaks.
struct CsvRecord {
  size_t line = 1;  // where it starts in the file
  std::vector<std::string> cells{std::string()};
};

absl::StatusOr<std::vector<CsvRecord>> CsvRecords(std::string_view text) {
  std::vector<CsvRecord> records(1);
  bool quoted = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::string& cell = records.back().cells.back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        cell += c;
      }
    } else if (c == '"' && cell.empty()) {
      quoted = true;
    } else if (c == ',') {
      records.back().cells.emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    } else if (c == '\n') {
      ++line;
      records.push_back({line, {std::string()}});
    } else {
      cell += c;
    }
  }
  if (quoted) return LineError(line, "a quoted cell never ends (the file is cut short?)");
  while (!records.empty() && records.back().cells.size() == 1 && records.back().cells[0].empty())
    records.pop_back();
  return records;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The escapes CsvCell writes, and only those: \xHH for a control character
// (or a byte that was not UTF-8), \uXXXX for a C1 or bidi control. Any
// other "\x41" in a cell is text.
struct Escape {
  size_t at = 0;
  size_t length = 0;
  std::string bytes;  // what it stands for
};

std::vector<Escape> Escapes(std::string_view cell) {
  std::vector<Escape> out;
  for (size_t i = 0; i + 3 < cell.size(); ++i) {
    if (cell[i] != '\\') continue;
    if (cell[i + 1] == 'x' && HexDigit(cell[i + 2]) >= 0 && HexDigit(cell[i + 3]) >= 0) {
      const int byte = HexDigit(cell[i + 2]) * 16 + HexDigit(cell[i + 3]);
      if (byte >= 0x80 || CsvCellEscapes(byte)) {
        out.push_back({i, 4, std::string(1, static_cast<char>(byte))});
        i += 3;
      }
      continue;
    }
    // Exactly four digits: every code point CsvCell escapes is below U+10000.
    if (cell[i + 1] == 'u' && i + 5 < cell.size()) {
      uint32_t cp = 0;
      bool hex = true;
      for (size_t n = 0; n < 4 && hex; ++n) {
        const int digit = HexDigit(cell[i + 2 + n]);
        hex = digit >= 0;
        cp = cp * 16 + static_cast<uint32_t>(std::max(digit, 0));
      }
      if (hex && cp >= 0x80 && CsvCellEscapes(cp)) {
        std::string bytes;
        AppendUtf8(cp, bytes);
        out.push_back({i, 6, std::move(bytes)});
        i += 5;
      }
    }
  }
  return out;
}

// The cell with the escapes whose bit is set in `mask` undone.
std::string Undo(std::string_view cell, const std::vector<Escape>& escapes, uint64_t mask) {
  std::string out;
  size_t from = 0;
  for (size_t k = 0; k < escapes.size(); ++k) {
    const bool undo = k < 64 ? (mask >> k & 1) != 0 : mask == ~uint64_t{0};
    if (!undo) continue;
    out.append(cell.substr(from, escapes[k].at - from));
    out += escapes[k].bytes;
    from = escapes[k].at + escapes[k].length;
  }
  out.append(cell.substr(from));
  return out;
}

// The readings of one cell, most undone first: the spreadsheet guard
// undone or not, and each escape undone or not (text can hold a literal
// "\u202e" beside a real control character). Past 8 escapes in one cell
// only all or none are tried.
std::vector<std::string> Readings(const std::string& cell) {
  std::vector<std::string> bases;
  if (cell.size() >= 2 && cell[0] == '\'' && CsvCellGuards(std::string_view(cell).substr(1))) {
    bases.push_back(cell.substr(1));
  }
  bases.push_back(cell);
  std::vector<std::string> out;
  for (const std::string& base : bases) {
    const std::vector<Escape> escapes = Escapes(base);
    const uint64_t all = escapes.size() >= 64 ? ~uint64_t{0} : (uint64_t{1} << escapes.size()) - 1;
    std::vector<uint64_t> masks{all};
    if (escapes.size() <= 8) {
      for (uint64_t mask = all; mask-- > 0;) masks.push_back(mask);
    } else {
      masks.push_back(0);
    }
    for (const uint64_t mask : masks) {
      std::string reading = Undo(base, escapes, mask);
      if (std::find(out.begin(), out.end(), reading) == out.end())
        out.push_back(std::move(reading));
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseIsoTime(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return absl::InvalidArgumentError("time_utc \"" + text + "\" is not 2026-11-22T12:00:00.000Z");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

absl::StatusOr<uint64_t> ParseUnsigned(const std::string& text, const char* what) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    return absl::InvalidArgumentError(std::string(what) + " \"" + text + "\" is not a number");
  return std::stoull(text);
}

// Column order of AuditCsvHeader().
enum Column {
  kSequence,
  kTime,
  kActor,
  kRole,
  kPeer,
  kAction,
  kOutcome,
  kReason,
  kBeforeBp,
  kBeforeRevision,
  kBeforeBaseline,
  kBeforeCandidate,
  kBeforePhase,
  kAfterBp,
  kAfterRevision,
  kAfterBaseline,
  kAfterCandidate,
  kAfterPhase,
  kEvidence,
  kPrevHash,
  kHash,
  kStep,
  kColumns
};

constexpr size_t kMaxReadings = 4096;  // per row: beyond, the CSV is not worth guessing
// Per file (a row hash costs microseconds): a hostile file stops in seconds.
constexpr size_t kMaxReadingsPerFile = size_t{1} << 22;

absl::Status VerifyCsv(std::string_view text, ExportVerdict& verdict,
                       std::optional<ChainVerifier>& chain) {
  absl::StatusOr<std::vector<CsvRecord>> records = CsvRecords(text);
  if (!records.ok()) return records.status();
  if (records->empty()) return absl::InvalidArgumentError("the file is empty");
  std::string header;
  for (size_t i = 0; i < records->front().cells.size(); ++i)
    header += (i ? "," : "") + records->front().cells[i];
  if (header + "\r\n" != AuditCsvHeader())
    return LineError(1, "not a Greylane audit CSV (its header differs)");
  size_t tried = 0;
  for (size_t n = 1; n < records->size(); ++n) {
    // Once broken, later rows cannot change the verdict: not worth reading.
    if (chain && !chain->Verdict().ok) break;
    const std::vector<std::string>& cells = (*records)[n].cells;
    const size_t line = (*records)[n].line;
    if (cells.size() != kColumns) {
      return LineError(line, "row has " + std::to_string(cells.size()) + " cells, not " +
                                 std::to_string(int{kColumns}));
    }
    AuditRecord base;
    absl::StatusOr<uint64_t> number = ParseUnsigned(cells[kSequence], "sequence");
    if (!number.ok()) return LineError(line, std::string(number.status().message()));
    base.sequence = *number;
    absl::StatusOr<int64_t> time = ParseIsoTime(cells[kTime]);
    if (!time.ok()) return LineError(line, std::string(time.status().message()));
    base.time_unix_ms = *time;
    for (const auto& [state, bp, revision] : {std::tuple{&base.before, kBeforeBp, kBeforeRevision},
                                              std::tuple{&base.after, kAfterBp, kAfterRevision}}) {
      absl::StatusOr<uint64_t> b = ParseUnsigned(cells[bp], "basis points");
      absl::StatusOr<uint64_t> r = ParseUnsigned(cells[revision], "revision");
      if (!b.ok() || !r.ok())
        return LineError(line, std::string((b.ok() ? r : b).status().message()));
      state->candidate_basis_points = static_cast<uint32_t>(*b);
      state->revision = *r;
    }
    // Every text cell with its readings; the product is tried in order.
    struct Slot {
      Column column;
      std::function<void(AuditRecord&, const std::string&)> set;
    };
    const std::vector<Slot> slots = {
        {kActor, [](AuditRecord& r, const std::string& v) { r.actor = v; }},
        {kRole, [](AuditRecord& r, const std::string& v) { r.role = v; }},
        {kPeer, [](AuditRecord& r, const std::string& v) { r.peer = v; }},
        {kAction, [](AuditRecord& r, const std::string& v) { r.action = v; }},
        {kOutcome, [](AuditRecord& r, const std::string& v) { r.outcome = v; }},
        {kReason, [](AuditRecord& r, const std::string& v) { r.reason = v; }},
        {kBeforeBaseline,
         [](AuditRecord& r, const std::string& v) { r.before.baseline_version = v; }},
        {kBeforeCandidate,
         [](AuditRecord& r, const std::string& v) { r.before.candidate_version = v; }},
        {kBeforePhase, [](AuditRecord& r, const std::string& v) { r.before.phase = v; }},
        {kAfterBaseline,
         [](AuditRecord& r, const std::string& v) { r.after.baseline_version = v; }},
        {kAfterCandidate,
         [](AuditRecord& r, const std::string& v) { r.after.candidate_version = v; }},
        {kAfterPhase, [](AuditRecord& r, const std::string& v) { r.after.phase = v; }},
        {kEvidence, [](AuditRecord& r, const std::string& v) { r.evidence = v; }},
        {kPrevHash, [](AuditRecord& r, const std::string& v) { r.prev_hash = v; }},
        {kHash, [](AuditRecord& r, const std::string& v) { r.hash = v; }},
    };
    std::vector<std::vector<std::string>> readings;
    size_t combinations = 1;
    for (const Slot& slot : slots) {
      readings.push_back(Readings(cells[slot.column]));
      combinations *= readings.back().size();
      if (combinations > kMaxReadings)
        return LineError(line,
                         "too many escaped cells to read this row back; verify the JSON "
                         "Lines export instead");
    }
    std::vector<std::optional<AuditStep>> steps;
    if (cells[kStep].empty()) {
      steps.push_back(std::nullopt);
    } else {
      for (const std::string& reading : Readings(cells[kStep])) {
        absl::StatusOr<Struct> step = ParseObject(reading);
        if (step.ok()) steps.push_back(StepOf(*step));
      }
      if (steps.empty()) return LineError(line, "the step cell is not JSON");
    }
    // The first reading whose hash holds; else the undone one (which the
    // chain then reports as broken).
    std::optional<AuditRecord> found, fallback;
    uint64_t undone = 0;
    for (size_t k = 0; k < combinations * steps.size() && !found; ++k) {
      if (++tried > kMaxReadingsPerFile)
        return LineError(line,
                         "too many escaped cells in this file to read it back; verify the JSON "
                         "Lines export instead");
      AuditRecord r = base;
      size_t rest = k / steps.size();
      r.step = steps[k % steps.size()];
      uint64_t changed = 0;
      for (size_t s = 0; s < slots.size(); ++s) {
        const size_t pick = rest % readings[s].size();
        rest /= readings[s].size();
        slots[s].set(r, readings[s][pick]);
        changed += readings[s][pick] != cells[slots[s].column];
      }
      if (!fallback) fallback = r;
      if (RowHashHolds(r)) {
        found = std::move(r);
        undone = changed;
      }
    }
    verdict.cells_undone += undone;
    const AuditRecord& row = found ? *found : *fallback;
    if (absl::Status s = Begin(row, line, verdict, chain); !s.ok()) return s;
    chain->Add(row);
  }
  return absl::OkStatus();
}

absl::Status VerifyJson(std::string_view text, ExportVerdict& verdict,
                        std::optional<ChainVerifier>& chain) {
  auto add = [&](const Struct& object, size_t line) -> absl::Status {
    absl::StatusOr<AuditRecord> row = RecordOf(object);
    if (!row.ok()) return LineError(line, std::string(row.status().message()));
    // The hash covers time_unix_ms; a reader sees time_utc: they must agree.
    const std::string shown = Text(object, "time_utc");
    if (!verdict.time_edited_at && shown != AuditIsoTime(row->time_unix_ms)) {
      verdict.time_edited_at = row->sequence;
      verdict.time_edited_why = "row #" + std::to_string(row->sequence) + " shows time_utc \"" +
                                shown.substr(0, 40) + "\" but its hashed time is " +
                                AuditIsoTime(row->time_unix_ms) + ": the shown time was edited";
    }
    if (absl::Status s = Begin(*row, line, verdict, chain); !s.ok()) return s;
    chain->Add(*row);
    return absl::OkStatus();
  };
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && text[start] == '[') {
    verdict.format = "json";
    if (absl::Status deep = CheckNesting(text); !deep.ok()) return deep;
    google::protobuf::ListValue list;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(text.data(), text.size()), &list);
    if (!status.ok())
      return absl::InvalidArgumentError("not JSON: " + std::string(status.message()));
    size_t n = 0;
    for (const Value& item : list.values()) {
      ++n;
      if (!item.has_struct_value()) return LineError(n, "array item is not an object");
      if (absl::Status s = add(item.struct_value(), n); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  verdict.format = "jsonl";
  size_t line = 0;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view json = text.substr(at, end - at);
    at = end + 1;
    ++line;
    if (json.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    absl::StatusOr<Struct> object = ParseObject(json);
    if (!object.ok()) return LineError(line, std::string(object.status().message()));
    if (absl::Status s = add(*object, line); !s.ok()) return s;
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<ExportVerdict> VerifyAuditExport(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a BOM an editor added
  ExportVerdict verdict;
  std::optional<ChainVerifier> chain;
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return absl::InvalidArgumentError("the file is empty");
  absl::Status status;
  if (text[start] == '{' || text[start] == '[') {
    status = VerifyJson(text, verdict, chain);
  } else {
    verdict.format = "csv";
    status = VerifyCsv(text, verdict, chain);
  }
  if (!status.ok()) return status;
  if (!chain) return absl::InvalidArgumentError("the file holds no audit rows");
  verdict.chain = chain->Verdict();
  const uint64_t edited = verdict.time_edited_at;
  if (edited != 0 && (verdict.chain.ok || verdict.chain.broken_at > edited)) {
    verdict.chain.ok = false;
    verdict.chain.broken_at = edited;
    verdict.chain.verified_through = edited - 1;
    verdict.chain.why = verdict.time_edited_why;
  }
  return verdict;
}

}  // namespace greylane
