#include "agent/server/audit_command.h"

#include <cstdio>
#include <filesystem>

#include "agent/audit/audit_log.h"

namespace greylane {

int RunAuditCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: greylane-agent audit verify --state-dir DIR\n"
      "       greylane-agent audit export --state-dir DIR --format csv|jsonl\n";
  if (args.empty() || (args[0] != "verify" && args[0] != "export")) {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string state_dir, format = "csv";
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--state-dir")
      state_dir = args[i + 1];
    else if (args[i] == "--format")
      format = args[i + 1];
    else {
      std::fprintf(stderr, "greylane-agent audit: unknown flag '%s'\n%s", args[i].c_str(), usage);
      return 2;
    }
  }
  if (state_dir.empty() || (format != "csv" && format != "jsonl") || args.size() % 2 == 0) {
    std::fputs(usage, stderr);
    return 2;
  }
  const std::string path = (std::filesystem::path(state_dir) / "audit.db").string();
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "greylane-agent audit: no audit trail at %s\n", path.c_str());
    return 1;
  }
  std::string error;
  auto log = AuditLog::Open(path, AuditLog::Mode::kReadOnly, &error);
  if (!log) {
    std::fprintf(stderr, "greylane-agent audit: %s\n", error.c_str());
    return 1;
  }
  if (args[0] == "verify") {
    const ChainVerdict v = log->Verify();
    if (v.ok) {
      std::printf("audit trail %s: chain verified through #%llu (%llu rows), head %s\n",
                  path.c_str(), static_cast<unsigned long long>(v.verified_through),
                  static_cast<unsigned long long>(v.rows), v.head_hash.c_str());
      return 0;
    }
    std::printf("audit trail %s: BROKEN at #%llu: %s (verified through #%llu)\n", path.c_str(),
                static_cast<unsigned long long>(v.broken_at), v.why.c_str(),
                static_cast<unsigned long long>(v.verified_through));
    return 1;
  }
  if (format == "csv") std::fputs(AuditCsvHeader().c_str(), stdout);
  uint64_t after = 0;
  for (;;) {
    const auto rows = log->List(after, 1000);
    for (const AuditRecord& row : rows) {
      std::fputs((format == "csv" ? AuditCsvRow(row) : AuditJsonLine(row)).c_str(), stdout);
    }
    if (rows.size() < 1000) break;
    after = rows.back().sequence;
  }
  return 0;
}

}  // namespace greylane
