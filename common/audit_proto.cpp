#include "common/audit_proto.h"

namespace greylane {
namespace {
void StateToProto(const AuditState& s, v1::AuditState* out) {
  out->set_candidate_basis_points(s.candidate_basis_points);
  out->set_revision(s.revision);
  out->set_baseline_version(s.baseline_version);
  out->set_candidate_version(s.candidate_version);
  out->set_phase(s.phase);
}

AuditState StateFromProto(const v1::AuditState& s) {
  return {s.candidate_basis_points(), s.revision(), s.baseline_version(), s.candidate_version(),
          s.phase()};
}
}  // namespace

void StepToProto(const AuditStep& step, v1::AuditStep* out) {
  out->Clear();  // writers reuse one message per stream
  out->set_started_unix_ms(step.started_unix_ms);
  out->set_ended_unix_ms(step.ended_unix_ms);
  out->set_candidate_basis_points(step.candidate_basis_points);
  for (const StepFigures& v : step.versions) {
    v1::StepFigures* f = out->add_versions();
    f->set_slot(v.slot);
    f->set_version(v.version);
    f->set_requests(v.requests);
    f->set_server_errors(v.server_errors);
    f->set_client_errors(v.client_errors);
    f->set_p50_us(v.p50_us);
    f->set_p90_us(v.p90_us);
    f->set_p99_us(v.p99_us);
  }
}

AuditStep StepFromProto(const v1::AuditStep& in) {
  AuditStep step{in.started_unix_ms(), in.ended_unix_ms(), in.candidate_basis_points(), {}};
  for (const v1::StepFigures& f : in.versions()) {
    step.versions.push_back({f.slot(), f.version(), f.requests(), f.server_errors(),
                             f.client_errors(), f.p50_us(), f.p90_us(), f.p99_us()});
  }
  return step;
}

void ToProto(const AuditRecord& record, v1::AuditEntry* e) {
  // Rows are bounded and UTF-8 when written; only an older agent's rows can
  // be this large (sent whole, one would break every reader's message
  // limit) or hold other bytes (every reader would reject the message).
  AuditRecord cut;
  const AuditRecord* source = &record;
  if (AuditRecordBytes(record) > kMaxAuditEntryWireBytes || !AuditRecordIsValidUtf8(record)) {
    cut = record;
    BoundAuditRecord(&cut);
    cut.cut_for_transport = true;
    source = &cut;
  }
  const AuditRecord& r = *source;
  e->set_sequence(r.sequence);
  e->set_time_unix_ms(r.time_unix_ms);
  e->set_actor(r.actor);
  e->set_role(r.role);
  e->set_peer(r.peer);
  e->set_action(r.action);
  e->set_outcome(r.outcome);
  e->set_reason(r.reason);
  StateToProto(r.before, e->mutable_before());
  StateToProto(r.after, e->mutable_after());
  e->set_evidence(r.evidence);
  e->set_prev_hash(r.prev_hash);
  e->set_hash(r.hash);
  e->set_cut_for_transport(r.cut_for_transport);
  if (r.step) {
    StepToProto(*r.step, e->mutable_step());
  } else {
    e->clear_step();
  }
}

AuditRecord FromProto(const v1::AuditEntry& e) {
  AuditRecord r;
  r.sequence = e.sequence();
  r.time_unix_ms = e.time_unix_ms();
  r.actor = e.actor();
  r.role = e.role();
  r.peer = e.peer();
  r.action = e.action();
  r.outcome = e.outcome();
  r.reason = e.reason();
  r.before = StateFromProto(e.before());
  r.after = StateFromProto(e.after());
  r.evidence = e.evidence();
  r.prev_hash = e.prev_hash();
  r.hash = e.hash();
  r.cut_for_transport = e.cut_for_transport();
  if (e.has_step()) r.step = StepFromProto(e.step());
  return r;
}

}  // namespace greylane
