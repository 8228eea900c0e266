#pragma once
// AuditRecord <-> greylane.v1.AuditEntry, for the agent's API and for
// consoles recomputing the chain from the rows they receive.
#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

void ToProto(const AuditRecord& record, v1::AuditEntry* entry);
AuditRecord FromProto(const v1::AuditEntry& entry);
void StepToProto(const AuditStep& step, v1::AuditStep* out);
AuditStep StepFromProto(const v1::AuditStep& step);

}  // namespace greylane
