#include "common/audit_export.h"

#include <cstdio>
#include <ctime>

#include "common/text.h"

namespace greylane {
namespace {
std::string JsonState(const AuditState& s) {
  return "{\"candidate_basis_points\":" + std::to_string(s.candidate_basis_points) +
         ",\"revision\":" + std::to_string(s.revision) +
         ",\"baseline\":" + JsonString(s.baseline_version) +
         ",\"candidate\":" + JsonString(s.candidate_version) + ",\"phase\":" + JsonString(s.phase) +
         "}";
}

std::string JsonStep(const AuditStep& step) {
  std::string out = "{\"started_unix_ms\":" + std::to_string(step.started_unix_ms) +
                    ",\"ended_unix_ms\":" + std::to_string(step.ended_unix_ms) +
                    ",\"candidate_basis_points\":" + std::to_string(step.candidate_basis_points) +
                    ",\"versions\":[";
  for (size_t i = 0; i < step.versions.size(); ++i) {
    const StepFigures& v = step.versions[i];
    out += std::string(i ? "," : "") + "{\"slot\":" + JsonString(v.slot) +
           ",\"version\":" + JsonString(v.version) + ",\"requests\":" + std::to_string(v.requests) +
           ",\"server_errors\":" + std::to_string(v.server_errors) +
           ",\"client_errors\":" + std::to_string(v.client_errors) +
           ",\"p50_us\":" + std::to_string(v.p50_us) + ",\"p90_us\":" + std::to_string(v.p90_us) +
           ",\"p99_us\":" + std::to_string(v.p99_us) + "}";
  }
  return out + "]}";
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
         "after_revision,after_baseline,after_candidate,after_phase,evidence,prev_hash,hash,"
         "step\r\n";
}

std::string AuditCsvRow(const AuditRecord& r) {
  std::string row = std::to_string(r.sequence) + "," + IsoTime(r.time_unix_ms);
  for (const std::string* f : {&r.actor, &r.role, &r.peer, &r.action, &r.outcome, &r.reason}) {
    row += "," + CsvCell(*f);
  }
  for (const AuditState* s : {&r.before, &r.after}) {
    row += "," + std::to_string(s->candidate_basis_points) + "," + std::to_string(s->revision) +
           "," + CsvCell(s->baseline_version) + "," + CsvCell(s->candidate_version) + "," +
           CsvCell(s->phase);
  }
  return row + "," + CsvCell(r.evidence) + "," + CsvCell(r.prev_hash) + "," + CsvCell(r.hash) +
         "," + (r.step ? CsvCell(JsonStep(*r.step)) : std::string()) + "\r\n";
}

std::string AuditJsonLine(const AuditRecord& r) {
  return "{\"sequence\":" + std::to_string(r.sequence) + ",\"time_utc\":\"" +
         IsoTime(r.time_unix_ms) + "\",\"time_unix_ms\":" + std::to_string(r.time_unix_ms) +
         ",\"actor\":" + JsonString(r.actor) + ",\"role\":" + JsonString(r.role) +
         ",\"peer\":" + JsonString(r.peer) + ",\"action\":" + JsonString(r.action) +
         ",\"outcome\":" + JsonString(r.outcome) + ",\"reason\":" + JsonString(r.reason) +
         ",\"before\":" + JsonState(r.before) + ",\"after\":" + JsonState(r.after) +
         ",\"evidence\":" + JsonString(r.evidence) + ",\"prev_hash\":" + JsonString(r.prev_hash) +
         ",\"hash\":" + JsonString(r.hash) + (r.step ? ",\"step\":" + JsonStep(*r.step) : "") +
         (r.cut_for_transport ? ",\"cut_for_transport\":true" : "") + "}\n";
}

std::string AuditIsoTime(int64_t unix_ms) {
  return IsoTime(unix_ms);
}

}  // namespace greylane
