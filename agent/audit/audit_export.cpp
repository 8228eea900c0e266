#include "agent/audit/audit_export.h"

#include <cstdio>
#include <ctime>

namespace greylane {
namespace {
std::string CsvField(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string JsonString(const std::string& v) {
  std::string out = "\"";
  for (const unsigned char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonState(const AuditState& s) {
  return "{\"candidate_basis_points\":" + std::to_string(s.candidate_basis_points) +
         ",\"revision\":" + std::to_string(s.revision) +
         ",\"baseline\":" + JsonString(s.baseline_version) +
         ",\"candidate\":" + JsonString(s.candidate_version) + ",\"phase\":" + JsonString(s.phase) +
         "}";
}

std::string IsoTime(int64_t unix_ms) {
  const std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[96];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return text;
}

}  // namespace

std::string AuditCsvHeader() {
  return "sequence,time_utc,actor,role,peer,action,outcome,reason,before_basis_points,"
         "before_revision,before_baseline,before_candidate,before_phase,after_basis_points,"
         "after_revision,after_baseline,after_candidate,after_phase,evidence,prev_hash,hash\r\n";
}

std::string AuditCsvRow(const AuditRecord& r) {
  std::string row = std::to_string(r.sequence) + "," + IsoTime(r.time_unix_ms);
  for (const std::string* f : {&r.actor, &r.role, &r.peer, &r.action, &r.outcome, &r.reason}) {
    row += "," + CsvField(*f);
  }
  for (const AuditState* s : {&r.before, &r.after}) {
    row += "," + std::to_string(s->candidate_basis_points) + "," + std::to_string(s->revision) +
           "," + CsvField(s->baseline_version) + "," + CsvField(s->candidate_version) + "," +
           CsvField(s->phase);
  }
  return row + "," + CsvField(r.evidence) + "," + r.prev_hash + "," + r.hash + "\r\n";
}

std::string AuditJsonLine(const AuditRecord& r) {
  return "{\"sequence\":" + std::to_string(r.sequence) + ",\"time_utc\":\"" +
         IsoTime(r.time_unix_ms) + "\",\"time_unix_ms\":" + std::to_string(r.time_unix_ms) +
         ",\"actor\":" + JsonString(r.actor) + ",\"role\":" + JsonString(r.role) +
         ",\"peer\":" + JsonString(r.peer) + ",\"action\":" + JsonString(r.action) +
         ",\"outcome\":" + JsonString(r.outcome) + ",\"reason\":" + JsonString(r.reason) +
         ",\"before\":" + JsonState(r.before) + ",\"after\":" + JsonState(r.after) +
         ",\"evidence\":" + JsonString(r.evidence) + ",\"prev_hash\":\"" + r.prev_hash +
         "\",\"hash\":\"" + r.hash + "\"}\n";
}

std::string AuditIsoTime(int64_t unix_ms) {
  return IsoTime(unix_ms);
}

}  // namespace greylane
