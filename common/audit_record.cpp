#include "common/audit_record.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

#include "common/audit_vocabulary.h"
#include "common/basis_points.h"
#include "common/text.h"

namespace greylane {
namespace {
void Field(std::string* out, const std::string& value) {
  *out += std::to_string(value.size());
  *out += ':';
  *out += value;
  *out += '\n';
}

void StateFields(std::string* out, const AuditState& s) {
  Field(out, std::to_string(s.candidate_basis_points));
  Field(out, std::to_string(s.revision));
  Field(out, s.baseline_version);
  Field(out, s.candidate_version);
  Field(out, s.phase);
}

bool HexToBytes(const std::string& hex, std::string* out) {
  if (hex.size() != 64) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    if (std::sscanf(hex.c_str() + i, "%2x", &value) != 1) return false;
    out->push_back(static_cast<char>(value));
  }
  return true;
}
}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return HexEncode({reinterpret_cast<const char*>(digest), sizeof(digest)});
}

std::string CanonicalEncoding(const AuditRecord& r) {
  std::string out = "greylane-audit-v1\n";
  Field(&out, std::to_string(r.sequence));
  Field(&out, std::to_string(r.time_unix_ms));
  Field(&out, r.actor);
  Field(&out, r.role);
  Field(&out, r.peer);
  Field(&out, r.action);
  Field(&out, r.outcome);
  Field(&out, r.reason);
  StateFields(&out, r.before);
  StateFields(&out, r.after);
  Field(&out, r.evidence);
  Field(&out, r.prev_hash);
  // Appended only when present, so rows written before steps existed keep
  // their hashes.
  if (r.step) {
    out += "step\n";
    Field(&out, std::to_string(r.step->started_unix_ms));
    Field(&out, std::to_string(r.step->ended_unix_ms));
    Field(&out, std::to_string(r.step->candidate_basis_points));
    Field(&out, std::to_string(r.step->versions.size()));
    for (const StepFigures& v : r.step->versions) {
      Field(&out, v.slot);
      Field(&out, v.version);
      for (const uint64_t n :
           {v.requests, v.server_errors, v.client_errors, v.p50_us, v.p90_us, v.p99_us}) {
        Field(&out, std::to_string(n));
      }
    }
  }
  return out;
}

std::string ComputeRowHash(const AuditRecord& record) {
  std::string prev;
  if (!HexToBytes(record.prev_hash, &prev)) prev = record.prev_hash;  // malformed: still hashed
  return Sha256Hex(prev + CanonicalEncoding(record));
}

ChainVerifier::ChainVerifier(uint64_t last_sequence, std::string last_hash)
    : m_last_sequence(last_sequence), m_last_hash(std::move(last_hash)) {
  m_verdict.verified_through = last_sequence;
  m_verdict.head_hash = m_last_hash;
}

bool ChainVerifier::Add(const AuditRecord& r) {
  if (!m_verdict.ok) return false;
  ++m_verdict.rows;
  auto fail = [&](std::string why) {
    m_verdict.ok = false;
    m_verdict.broken_at = r.sequence;
    m_verdict.why = std::move(why);
    return false;
  };
  if (r.sequence != m_last_sequence + 1) {
    return fail("row #" + std::to_string(r.sequence) + " follows #" +
                std::to_string(m_last_sequence) + ": rows are missing or out of order");
  }
  if (r.prev_hash != m_last_hash) {
    return fail("row #" + std::to_string(r.sequence) +
                " does not link to the row before it (prev_hash differs): a row was deleted, "
                "inserted or reordered");
  }
  if (r.cut_for_transport) {
    ++m_verdict.rows_not_recomputed;  // the agent checks such rows from its own disk
  } else if (ComputeRowHash(r) != r.hash) {
    return fail("row #" + std::to_string(r.sequence) +
                " does not match its hash: its content was edited");
  }
  m_last_sequence = r.sequence;
  m_last_hash = r.hash;
  m_verdict.verified_through = r.sequence;
  m_verdict.head_hash = r.hash;
  return true;
}

std::string FormatState(const AuditState& s) {
  return FormatBasisPoints(s.candidate_basis_points) + " r" + std::to_string(s.revision) + " " +
         s.baseline_version + "/" + s.candidate_version + " " + s.phase;
}

std::string FormatDuration(int64_t millis) {
  char text[48];
  const int64_t s = millis / 1000;
  if (millis < 10000) {
    std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(millis) / 1000.0);
  } else if (s < 60) {
    std::snprintf(text, sizeof(text), "%lld s", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(text, sizeof(text), "%lldm %02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(text, sizeof(text), "%lldh %02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return text;
}

std::string FormatStep(const AuditStep& step) {
  std::string out =
      FormatDuration(std::max<int64_t>(0, step.ended_unix_ms - step.started_unix_ms)) + " at " +
      FormatBasisPoints(step.candidate_basis_points);
  char sep = ':';
  for (const StepFigures& v : step.versions) {
    char figures[160];
    if (v.requests > v.server_errors + v.client_errors) {
      std::snprintf(figures, sizeof(figures), "p50/p90/p99 %.2f/%.2f/%.2f ms",
                    static_cast<double>(v.p50_us) / 1000.0, static_cast<double>(v.p90_us) / 1000.0,
                    static_cast<double>(v.p99_us) / 1000.0);
    } else {
      std::snprintf(figures, sizeof(figures), "no successful requests");
    }
    out += std::string(1, sep) + " " + v.slot + " " + v.version + " " + std::to_string(v.requests) +
           " req, " + std::to_string(v.server_errors) + " errors, " + figures;
    sep = ';';
  }
  return out;
}

bool RowHashHolds(const AuditRecord& record) {
  return ComputeRowHash(record) == record.hash;
}

void BoundAuditRecord(AuditRecord* r) {
  struct Field {
    std::string* text;
    size_t max;
  };
  for (const Field& f : {Field{&r->actor, kMaxIdentityBytes}, Field{&r->role, kMaxWordBytes},
                         Field{&r->peer, kMaxPeerBytes}, Field{&r->action, kMaxWordBytes},
                         Field{&r->outcome, kMaxWordBytes}, Field{&r->reason, kMaxReasonBytes},
                         Field{&r->evidence, kMaxEvidenceBytes}}) {
    *f.text = ClampText(*f.text, f.max);
  }
  for (AuditState* s : {&r->before, &r->after}) {
    s->baseline_version = ClampText(s->baseline_version, kMaxVersionBytes);
    s->candidate_version = ClampText(s->candidate_version, kMaxVersionBytes);
    s->phase = ClampText(s->phase, kMaxWordBytes);
  }
  if (r->step) {
    if (r->step->versions.size() > kMaxStepVersions) r->step->versions.resize(kMaxStepVersions);
    for (StepFigures& v : r->step->versions) {
      v.slot = ClampText(v.slot, kMaxWordBytes);
      v.version = ClampText(v.version, kMaxVersionBytes);
    }
  }
}

bool AuditRecordIsValidUtf8(const AuditRecord& r) {
  for (const std::string* t : {&r.actor, &r.role, &r.peer, &r.action, &r.outcome, &r.reason,
                               &r.evidence, &r.before.baseline_version, &r.before.candidate_version,
                               &r.before.phase, &r.after.baseline_version,
                               &r.after.candidate_version, &r.after.phase, &r.prev_hash, &r.hash}) {
    if (!IsValidUtf8(*t)) return false;
  }
  if (r.step) {
    for (const StepFigures& v : r.step->versions) {
      if (!IsValidUtf8(v.slot) || !IsValidUtf8(v.version)) return false;
    }
  }
  return true;
}

size_t AuditRecordBytes(const AuditRecord& r) {
  size_t n = 200;  // numbers, hashes and framing
  for (const std::string* t :
       {&r.actor, &r.role, &r.peer, &r.action, &r.outcome, &r.reason, &r.evidence,
        &r.before.baseline_version, &r.before.candidate_version, &r.before.phase,
        &r.after.baseline_version, &r.after.candidate_version, &r.after.phase}) {
    n += t->size();
  }
  if (r.step) {
    for (const StepFigures& v : r.step->versions) n += 100 + v.slot.size() + v.version.size();
  }
  return n;
}

}  // namespace greylane
