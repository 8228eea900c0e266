#include "agent/server/audit_command.h"

#include <cstdio>
#include <filesystem>

#include "agent/audit/audit_log.h"
#include "common/audit_export.h"
#include "common/command_line.h"
#include "common/text.h"

namespace greylane {

int RunAuditCommand(const std::vector<std::string>& args) {
  CLI::App app(
      "greylane-agent audit: offline work on a state dir's audit trail (release reviews, "
      "forensics). Reads only: works beside a running agent and in a read-only folder, and "
      "creates no files.",
      "greylane-agent audit");
  app.require_subcommand(1);
  std::string state_dir, format = "csv";
  CLI::App* verify = app.add_subcommand("verify", "recompute the hash chain over every row");
  verify->add_option("--state-dir", state_dir, "the agent's state dir")->required();
  CLI::App* exporter = app.add_subcommand("export", "every row as CSV or JSON lines on stdout");
  exporter->add_option("--state-dir", state_dir, "the agent's state dir")->required();
  exporter->add_option("--format", format, "csv (spreadsheet-safe) or jsonl (exact)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  if (const auto code = ParseOrExit(app, args, "greylane-agent audit")) return *code;
  const std::string path = (std::filesystem::path(state_dir) / "audit.db").string();
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "greylane-agent audit: no audit trail at %s\n",
                 TerminalSafe(path).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(path, AuditLog::Mode::kReadOnly);
  if (!log.ok()) {
    std::fprintf(stderr, "greylane-agent audit: %s\n",
                 TerminalSafe(std::string(log.status().message())).c_str());
    return 1;
  }
  if (verify->parsed()) {
    const ChainVerdict v = (*log)->Verify();
    if (v.ok) {
      std::printf("audit trail %s: chain verified through #%llu (%llu rows), head %s\n",
                  TerminalSafe(path).c_str(), static_cast<unsigned long long>(v.verified_through),
                  static_cast<unsigned long long>(v.rows), v.head_hash.c_str());
      return 0;
    }
    std::printf("audit trail %s: BROKEN at #%llu: %s (verified through #%llu)\n",
                TerminalSafe(path).c_str(), static_cast<unsigned long long>(v.broken_at),
                TerminalSafe(v.why).c_str(), static_cast<unsigned long long>(v.verified_through));
    return 1;
  }
  if (format == "csv") std::fputs(AuditCsvHeader().c_str(), stdout);
  for (uint64_t after = 0;;) {
    const auto rows = (*log)->List(after, 1000);
    for (const AuditRecord& row : rows) {
      std::fputs((format == "csv" ? AuditCsvRow(row) : AuditJsonLine(row)).c_str(), stdout);
    }
    if (rows.empty()) break;
    after = rows.back().sequence;
  }
  return std::ferror(stdout) ? 1 : 0;
}

}  // namespace greylane
