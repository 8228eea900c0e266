#pragma once
// CSV (RFC 4180) and JSON Lines renderings of audit rows, for release
// reviews. In the chain library so the console exports exactly what the
// agent's `audit export` writes.
#include <string>

#include "common/audit_record.h"

namespace greylane {

std::string AuditCsvHeader();
std::string AuditCsvRow(const AuditRecord& record);
std::string AuditJsonLine(const AuditRecord& record);
std::string AuditIsoTime(int64_t unix_ms);  // 2026-11-22T12:00:00.000Z

}  // namespace greylane
