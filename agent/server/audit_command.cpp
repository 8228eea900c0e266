#include "agent/server/audit_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "agent/audit/audit_log.h"
#include "common/audit_export.h"
#include "common/audit_import.h"
#include "common/command_line.h"
#include "common/text.h"

namespace greylane {

namespace {
int VerifyExportFile(const std::string& path) {
  const std::string shown = TerminalSafe(path);
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    std::fprintf(stderr, "greylane-agent audit: %s is not a file\n", shown.c_str());
    return 1;
  }
  if (std::filesystem::file_size(path, error) > kMaxExportBytes) {
    std::fprintf(stderr, "greylane-agent audit: %s is larger than %llu MiB; not an export\n",
                 shown.c_str(), static_cast<unsigned long long>(kMaxExportBytes >> 20));
    return 1;
  }
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    std::fprintf(stderr, "greylane-agent audit: cannot read %s\n", shown.c_str());
    return 1;
  }
  const absl::StatusOr<ExportVerdict> v = VerifyAuditExport(text);
  if (!v.ok()) {
    std::fprintf(stderr, "greylane-agent audit: %s: %s\n", shown.c_str(),
                 TerminalSafe(std::string(v.status().message())).c_str());
    return 1;
  }
  const ChainVerdict& c = v->chain;
  const std::string from = v->first_sequence == 1
                               ? std::string("from the first row")
                               : "from #" + std::to_string(v->first_sequence) +
                                     ", anchored on the prev_hash " + v->anchor_hash +
                                     " of its first row (rows before it are not in the file)";
  if (!c.ok) {
    const std::string verified = c.verified_through < v->first_sequence
                                     ? std::string("no row verified")
                                     : "verified through #" + std::to_string(c.verified_through);
    std::printf("export %s (%s): BROKEN at #%llu: %s (%s, %s)\n", shown.c_str(), v->format.c_str(),
                static_cast<unsigned long long>(c.broken_at), TerminalSafe(c.why).c_str(),
                verified.c_str(), from.c_str());
    return 1;
  }
  std::printf("export %s (%s): chain verified through #%llu (%llu rows, %s), head %s\n",
              shown.c_str(), v->format.c_str(), static_cast<unsigned long long>(c.verified_through),
              static_cast<unsigned long long>(c.rows), from.c_str(), c.head_hash.c_str());
  if (c.rows_not_recomputed) {
    std::printf("  %llu row(s) arrived cut for transport: linked, their hashes not recomputed\n",
                static_cast<unsigned long long>(c.rows_not_recomputed));
  }
  if (v->cells_undone) {
    std::printf("  %llu CSV cell(s) read back with their spreadsheet escapes undone\n",
                static_cast<unsigned long long>(v->cells_undone));
  }
  std::printf(
      "  a file cannot show rows cut from its end: compare the head with the agent's "
      "(greylane-ctl verify) or the release report's\n");
  return 0;
}
}  // namespace

int RunAuditCommand(const std::vector<std::string>& args) {
  CLI::App app(
      "greylane-agent audit: offline work on a state dir's audit trail (release reviews, "
      "forensics). Reads only: works beside a running agent and in a read-only folder, and "
      "creates no files.",
      "greylane-agent audit");
  app.require_subcommand(1);
  std::string state_dir, format = "csv", file;
  CLI::App* verify = app.add_subcommand(
      "verify", "recompute the hash chain over every row of a state dir or of an exported file");
  CLI::Option* dir_option = verify->add_option("--state-dir", state_dir, "the agent's state dir");
  verify
      ->add_option("--file", file,
                   "an exported trail someone sent you (JSON Lines, JSON or CSV, from `audit "
                   "export`, greylane-ctl or the console)")
      ->excludes(dir_option);
  verify->require_option(1);
  CLI::App* exporter = app.add_subcommand("export", "every row as CSV or JSON lines on stdout");
  exporter->add_option("--state-dir", state_dir, "the agent's state dir")->required();
  exporter->add_option("--format", format, "csv (spreadsheet-safe) or jsonl (exact)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  if (const auto code = ParseOrExit(app, args, "greylane-agent audit")) return *code;
  if (verify->parsed() && !file.empty()) return VerifyExportFile(file);
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
