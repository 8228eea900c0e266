#include "agent/ctl/control_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include <grpcpp/create_channel.h>

#include "agent/load/metrics_watch.h"
#include "common/audit_export.h"
#include "common/audit_proto.h"
#include "common/client_token.h"
#include "common/command_line.h"
#include "common/credentials.h"
#include "common/files.h"
#include "common/rollout_plan.h"
#include "common/text.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {
namespace {

constexpr char kFooter[] = R"(
Without --revision a change is based on the revision read just before it;
if someone changes the split in between, the agent refuses (ABORTED).
Exit codes: 0 done, 1 refused or failed, 2 a usage mistake.)";

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "ERROR";
}

int Fail(const grpc::Status& status, bool mutation = false) {
  std::fprintf(stderr, "greylane-ctl: %s: %s\n", CodeName(status.error_code()),
               TerminalSafe(status.error_message()).c_str());
  if (mutation && (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                   status.error_code() == grpc::StatusCode::CANCELLED)) {
    std::fprintf(stderr,
                 "greylane-ctl: the outcome is unknown: the agent may have applied it. Check "
                 "with `greylane-ctl state`.\n");
  }
  return 1;
}

std::string When(int64_t unix_ms) {
  const std::time_t t = unix_ms / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

void PrintState(const v1::AgentState& s) {
  std::printf("%s\n", FormatState(s).c_str());  // FormatState escapes what the agent sent
  const auto& c = s.last_change();
  if (c.time_unix_ms()) {
    std::printf("  last change: %s by %s at %s: \"%s\" (audit #%llu",
                TerminalSafe(c.action()).c_str(), TerminalSafe(c.actor()).c_str(),
                When(c.time_unix_ms()).c_str(), TerminalSafe(c.reason()).c_str(),
                static_cast<unsigned long long>(c.audit_sequence()));
    if (c.apply_micros() > 0) {
      std::printf(", in force %.2f ms after the request arrived", c.apply_micros() / 1000.0);
    }
    std::printf(")\n");
  }
  if (s.audit_rows_pending() > 0) {
    std::printf("  AUDIT ROWS PENDING: %u (%s); they are written as soon as the trail can be\n",
                s.audit_rows_pending(), TerminalSafe(s.audit_pending_detail()).c_str());
  }
  if (s.has_analysis() && s.analysis().checks_size() > 0) {
    std::printf("  analysis (%s) of '%s':\n", s.policy().armed() ? "armed" : "not armed",
                TerminalSafe(s.analysis().candidate_version()).c_str());
    for (const v1::CheckResult& check : s.analysis().checks()) {
      std::string verdict = v1::CheckVerdict_Name(check.verdict());
      if (verdict.rfind("CHECK_", 0) == 0) verdict = verdict.substr(6);
      std::printf("    %-11s %-12s %s\n", TerminalSafe(check.check()).c_str(), verdict.c_str(),
                  TerminalSafe(check.detail()).c_str());
    }
  }
  if (s.rollout().phase() != v1::ROLLOUT_NONE) {
    const v1::RolloutProgress& r = s.rollout();
    std::string phase = v1::RolloutPhase_Name(r.phase());
    if (phase.rfind("ROLLOUT_", 0) == 0) phase = phase.substr(8);
    std::printf("  rollout %s, started by %s at %s: %s\n    %s\n", phase.c_str(),
                TerminalSafe(r.started_by()).c_str(), When(r.started_unix_ms()).c_str(),
                TerminalSafe(DescribePlan(r.plan())).c_str(), TerminalSafe(r.detail()).c_str());
  }
  for (const v1::BreakerStatus& b : s.breakers()) {
    if (b.state() == v1::BREAKER_CLOSED) continue;
    std::printf(
        "  CIRCUIT BREAKER of %s '%s' %s since %s (%llu requests served elsewhere or "
        "refused); trials from %s\n",
        b.slot() == v1::CANDIDATE ? "candidate" : "baseline", TerminalSafe(b.version()).c_str(),
        b.state() == v1::BREAKER_OPEN ? "OPEN" : "HALF-OPEN", When(b.opened_unix_ms()).c_str(),
        static_cast<unsigned long long>(b.diverted()), When(b.retry_unix_ms()).c_str());
  }
  for (const v1::FaultDrill& d : s.drills()) {
    // Only what the drill does: "+0 ms on 100 %" said nothing and misled.
    std::string what;
    char part[96];
    if (d.added_latency_ms() > 0) {
      std::snprintf(part, sizeof(part), "+%u ms on %.2f %% of requests", d.added_latency_ms(),
                    d.latency_share() * 100);
      what += part;
    }
    for (const auto& [rate, words] : {std::pair{d.error_rate(), "of requests failed"},
                                      std::pair{d.wrong_answer_rate(), "of answers wrong"}}) {
      if (rate <= 0) continue;
      std::snprintf(part, sizeof(part), "%s%.2f %% %s", what.empty() ? "" : ", ", rate * 100,
                    words);
      what += part;
    }
    std::printf("  DRILL on %s '%s': %s, until %s\n",
                d.slot() == v1::CANDIDATE ? "candidate" : "baseline",
                TerminalSafe(d.version()).c_str(), what.c_str(), When(d.ends_unix_ms()).c_str());
  }
}

void PrintPolicy(const v1::AnalysisPolicy& p) {
  std::printf(
      "armed %s\nwindow_seconds %u\nmin_requests %llu\nconfidence %g\nsustain_seconds %u\n"
      "latency_ratio %g\nlatency_min_ms %g\np99_warning_ms %g\np99_ceiling_ms %g\ntail_ratio "
      "%g\nerror_margin %g\n"
      "error_ceiling %g\nbreaker_failures %u\nbreaker_cooldown_seconds %u\n"
      "candidate_rate_limit %g\nbaseline_rate_limit %g\naccuracy_margin %g\n"
      "prediction_divergence %g\nclass_share_margin %g\nttft_ratio %g\nitl_ratio %g\n",
      p.armed() ? "true" : "false", p.window_seconds(),
      static_cast<unsigned long long>(p.min_requests()), p.confidence(), p.sustain_seconds(),
      p.latency_ratio(), p.latency_min_ms(), p.p99_warning_ms(), p.p99_ceiling_ms(), p.tail_ratio(),
      p.error_margin(), p.error_ceiling(), p.breaker_failures(), p.breaker_cooldown_seconds(),
      p.candidate_rate_limit(), p.baseline_rate_limit(), p.accuracy_margin(),
      p.prediction_divergence(), p.class_share_margin(), p.ttft_ratio(), p.itl_ratio());
}

struct Connection {
  std::string control = "127.0.0.1:7070";
  std::string token_file;
  std::string role = "operator";
  ClientTlsFiles tls;
  bool insecure = false;
};

using ContextFor = std::function<void(grpc::ClientContext*, int)>;

// Every row after `after`, page by page (pages end by rows or by bytes).
grpc::Status ReadTrail(v1::Agent::Stub& stub, const ContextFor& context, uint64_t after,
                       const std::function<void(AuditRecord)>& row) {
  for (uint64_t from = after;;) {
    grpc::ClientContext c;
    context(&c, 30);
    v1::ListAuditRequest list;
    list.set_after_sequence(from);
    list.set_limit(1000);
    v1::ListAuditResponse rows;
    if (grpc::Status s = stub.ListAudit(&c, list, &rows); !s.ok()) return s;
    for (const auto& e : rows.entries()) row(FromProto(e));
    if (rows.entries().empty()) return grpc::Status::OK;
    from = rows.entries(rows.entries_size() - 1).sequence();
    if (from >= rows.last_sequence()) return grpc::Status::OK;
  }
}

// The agent's minutes over [from, to] (to 0: now), with their sketches.
void ReadHistory(v1::Agent::Stub& stub, const ContextFor& context, int64_t from, int64_t to,
                 ReleaseReport* report) {
  for (int64_t next = from;;) {
    grpc::ClientContext c;
    context(&c, 30);
    v1::QueryHistoryRequest query;
    query.set_from_unix_ms(next);
    query.set_to_unix_ms(to);
    query.set_with_sketches(true);
    v1::QueryHistoryResponse page;
    if (grpc::Status s = stub.QueryHistory(&c, query, &page); !s.ok()) {
      report->history_note = "the agent's history could not be read: " + s.error_message();
      return;
    }
    for (auto& m : *page.mutable_minutes()) report->minutes.push_back(std::move(m));
    if (page.next_from_unix_ms() == 0) break;
    next = page.next_from_unix_ms();
  }
  if (report->minutes.empty() && report->history_note.empty()) {
    report->history_note = "the agent kept no history for this span";
  }
}

int WriteReport(v1::Agent::Stub& stub, const ContextFor& context, const std::string& address,
                const std::string& format, const std::string& output, uint64_t at,
                const ReportPdfPrinter& pdf) {
  ReleaseReport report;
  report.generated_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  report.agent_address = address;
  {
    grpc::ClientContext c;
    context(&c, 10);
    v1::AgentState state;
    if (grpc::Status s = stub.GetState(&c, {}, &state); !s.ok()) return Fail(s);
    report.agent_id = state.agent_id();
    report.node_name = state.node_name();
    report.model_name = state.model_name();
  }
  std::vector<AuditRecord> trail;
  if (grpc::Status s =
          ReadTrail(stub, context, 0, [&](AuditRecord r) { trail.push_back(std::move(r)); });
      !s.ok()) {
    return Fail(s);
  }
  ChainVerifier chain;
  for (const AuditRecord& row : trail) chain.Add(row);
  report.chain = chain.Verdict();
  {
    grpc::ClientContext c;
    context(&c, 120);
    v1::VerifyAuditResponse v;
    if (grpc::Status s = stub.VerifyAudit(&c, {}, &v); !s.ok()) return Fail(s);
    report.agent_chain_ok = v.ok();
    report.agent_chain_detail = v.detail();
  }
  if (at != 0 && (trail.empty() || at > trail.back().sequence)) {
    std::fprintf(stderr, "greylane-ctl: there is no row #%llu: the trail ends at #%llu\n",
                 static_cast<unsigned long long>(at),
                 static_cast<unsigned long long>(trail.empty() ? 0 : trail.back().sequence));
    return 1;
  }
  const std::optional<ReleaseBounds> bounds = FindRelease(trail, at);
  if (!bounds) {
    std::fprintf(stderr, "greylane-ctl: %s\n",
                 at ? "no release began at or before that sequence"
                    : "the trail holds no release (no initialize or load_candidate row)");
    return 1;
  }
  TakeRelease(trail, *bounds, report.generated_unix_ms, &report);
  const HistorySpan span = ReleaseHistorySpan(report);
  ReadHistory(stub, context, span.from_unix_ms, span.to_unix_ms, &report);

  std::string bytes;
  if (format == "md") {
    bytes = ReportMarkdown(report);
  } else if (format == "html") {
    bytes = ReportHtml(report, ChartEmbed::kInlineSvg);
  } else {
    absl::StatusOr<std::string> printed = pdf(report);
    if (!printed.ok()) {
      std::fprintf(stderr, "greylane-ctl: %s\n", std::string(printed.status().message()).c_str());
      return 1;
    }
    bytes = std::move(*printed);
  }
  if (output.empty()) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (absl::Status s = WriteFileAtomically(output, bytes); !s.ok()) {
    std::fprintf(stderr, "greylane-ctl: %s\n", TerminalSafe(std::string(s.message())).c_str());
    return 1;
  }
  std::fprintf(stderr, "greylane-ctl: wrote %s (%zu bytes): %s\n", TerminalSafe(output).c_str(),
               bytes.size(), TerminalSafe(ReportSummary(report)).c_str());
  return 0;
}

}  // namespace

int RunControlCli(const std::vector<std::string>& args, ReportPdfPrinter pdf) {
  CLI::App app(
      "greylane-ctl: the control API from a terminal, for the on-call engineer and "
      "scripts.\nusage: greylane-ctl [connection] COMMAND [options]",
      "greylane-ctl");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();  // connection flags may also follow the command
  Connection conn;
  app.add_option("--control", conn.control, "the agent's control API (default 127.0.0.1:7070)");
  app.add_option("--token-file", conn.token_file,
                 "a token, or the demo file (lines `role identity token`)");
  app.add_option("--as", conn.role, "which line of a demo file (default operator)")
      ->check(CLI::IsMember({"viewer", "operator", "admin"}));
  app.add_flag("--tls", conn.tls.tls, "TLS with the system's trusted roots");
  app.add_option("--ca", conn.tls.ca, "TLS: trust this CA (enables TLS)");
  app.add_option("--cert", conn.tls.cert, "mutual TLS: this client certificate");
  app.add_option("--key", conn.tls.key, "mutual TLS: the certificate's key");
  app.add_flag("--insecure", conn.insecure,
               "allow a plaintext connection to a non-loopback address");

  std::string reason, percent, version, model_file, address, upstream_model, upstream_version,
      backend;
  uint64_t revision = 0, after = 0;
  uint32_t deadline_ms = 0, connections = 0;
  bool follow = false;
  auto add_reason = [&](CLI::App* command) {
    command->add_option("--reason", reason, "why (recorded in the audit trail)")->required();
  };
  auto add_revision = [&](CLI::App* command) {
    command->add_option("--revision", revision, "the revision this change is based on")
        ->check(CLI::Range(uint64_t{0}, uint64_t{INT64_MAX}));
  };
  CLI::App* whoami = app.add_subcommand("whoami", "who the agent takes this token for");
  CLI::App* state = app.add_subcommand("state", "the split, versions and last change");
  CLI::App* split = app.add_subcommand("split", "set the candidate's share: split 5 or split 0.25");
  split->add_option("percent", percent, "0..100 in 0.01 steps")->required();
  add_reason(split);
  add_revision(split);
  CLI::App* rollback = app.add_subcommand("rollback", "100 % back to the baseline");
  add_reason(rollback);
  CLI::App* promote = app.add_subcommand("promote", "the candidate becomes the baseline");
  add_reason(promote);
  add_revision(promote);
  CLI::App* load = app.add_subcommand(
      "load-candidate",
      "replace the candidate (--model-file F, or --address and --upstream-model)");
  load->add_option("--version", version, "the new candidate's version name")->required();
  load->add_option("--backend", backend,
                   "builtin | builtin-lm | oip-grpc | openai-http (default: builtin for a "
                   "model file, openai-http for an http:// address, else oip-grpc)");
  load->add_option("--model-file", model_file,
                   "a built-in model file on the agent's node (.glm: digits or language model)");
  load->add_option("--address", address,
                   "an upstream: OIP gRPC host:port, or an OpenAI-compatible base URL "
                   "(http://host:port/v1)");
  load->add_option("--upstream-model", upstream_model, "the upstream's model name");
  load->add_option("--upstream-version", upstream_version, "the upstream's version");
  load->add_option("--deadline-ms", deadline_ms, "per-request upstream deadline");
  load->add_option("--connections", connections, "upstream connections (1..64)");
  add_reason(load);
  add_revision(load);
  CLI::App* audit = app.add_subcommand("audit", "audit rows as JSON lines");
  audit->add_option("--after", after, "rows after this sequence")
      ->check(CLI::Range(uint64_t{0}, uint64_t{INT64_MAX}));
  audit->add_flag("--follow", follow, "keep printing new rows as they are written");
  CLI::App* verify = app.add_subcommand("verify", "recompute the hash chain on the agent");
  CLI::App* policy =
      app.add_subcommand("policy", "the analysis policy; with `set` and fields, change it (admin)");
  CLI::App* policy_set = policy->add_subcommand("set", "change the given fields (admin)");
  std::map<std::string, std::string> fields;
  for (const char* field : {"armed",
                            "window-seconds",
                            "min-requests",
                            "confidence",
                            "sustain-seconds",
                            "latency-ratio",
                            "latency-min-ms",
                            "p99-warning-ms",
                            "p99-ceiling-ms",
                            "tail-ratio",
                            "error-margin",
                            "error-ceiling",
                            "breaker-failures",
                            "breaker-cooldown-seconds",
                            "candidate-rate-limit",
                            "baseline-rate-limit",
                            "accuracy-margin",
                            "prediction-divergence",
                            "class-share-margin",
                            "ttft-ratio",
                            "itl-ratio"}) {
    policy_set->add_option(std::string("--") + field, fields[field],
                           "see packaging/agent.example.yaml");
  }
  add_reason(policy_set);
  CLI::App* rollout = app.add_subcommand(
      "rollout", "walk the candidate through a plan of weights and bake times (operator)");
  rollout->require_subcommand(1);
  CLI::App* rollout_start = rollout->add_subcommand(
      "start", "start a plan: --preset canary|hourly, or --steps 1,5,25,100 --bake SECONDS");
  std::string preset, steps_text, gates_text;
  uint32_t bake_seconds = 120, max_extend = 0;
  bool auto_promote = false;
  rollout_start->add_option("--preset", preset,
                            "canary: 1 → 5 → 10 → 25 → 50 → 100 %, 2 min each; hourly: +10 % "
                            "per hour");
  rollout_start->add_option("--steps", steps_text, "weights in percent, e.g. 1,5,25,100");
  rollout_start->add_option("--bake", bake_seconds, "passing seconds at each step (default 120)")
      ->check(CLI::Range(0u, kMaxBakeSeconds));
  rollout_start->add_option("--gates", gates_text,
                            "weights (percent) that wait for `rollout resume` once baked");
  rollout_start
      ->add_option("--max-extend", max_extend,
                   "inconclusive seconds a step may add before pausing (default 300)")
      ->check(CLI::Range(0u, kMaxBakeSeconds));
  rollout_start->add_flag("--auto-promote", auto_promote, "promote after the last step (100 %)");
  add_reason(rollout_start);
  add_revision(rollout_start);
  CLI::App* rollout_pause = rollout->add_subcommand("pause", "stop moving; keep the weight");
  CLI::App* rollout_resume =
      rollout->add_subcommand("resume", "go on after a pause, or past a gate");
  CLI::App* rollout_abort = rollout->add_subcommand("abort", "roll back and end the rollout");
  for (CLI::App* c : {rollout_pause, rollout_resume, rollout_abort}) add_reason(c);
  std::string drill_slot = "candidate";
  uint32_t drill_latency = 0, drill_seconds = 60;
  double drill_share = 1, drill_errors = 0, drill_wrong = 0;
  bool drill_stop = false;
  CLI::App* drill =
      app.add_subcommand("drill", "a self-expiring fault drill on one slot's data plane (admin)");
  drill->add_option("--slot", drill_slot, "candidate (default) or baseline")
      ->check(CLI::IsMember({"candidate", "baseline"}));
  drill->add_option("--latency-ms", drill_latency, "added latency, ms (at most 10000)");
  drill->add_option("--share", drill_share,
                    "share of requests slowed, above 0 up to 1 (default 1: all)");
  drill->add_option("--error-rate", drill_errors, "share of requests failed, 0..1");
  drill->add_option("--wrong-rate", drill_wrong,
                    "share of answers whose top class moves to the next one, 0..1");
  drill->add_option("--seconds", drill_seconds, "how long, 1..3600 (default 60)");
  drill->add_flag("--stop", drill_stop, "stop the slot's drill now");
  add_reason(drill);
  std::string format = "md", output;
  uint64_t at = 0;
  CLI::App* report = app.add_subcommand(
      "report", "a release's report: steps, figures, decisions, health, chain (md, html, pdf)");
  report->add_option("--format", format, "md (default), html or pdf")
      ->check(CLI::IsMember({"md", "html", "pdf"}));
  report->add_option("--output", output, "write to this file (default: standard output)");
  report
      ->add_option("--release", at,
                   "the release holding this audit sequence (default: the one in progress, "
                   "or the last)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{INT64_MAX}));

  if (const auto code = ParseOrExit(app, args, "greylane-ctl")) return *code;
  if (!IsValidUtf8(reason)) {
    if (!rollback->parsed()) {
      std::fprintf(stderr,
                   "greylane-ctl: the reason is not valid UTF-8 (check the terminal's "
                   "encoding): %s\n",
                   TerminalSafe(reason).c_str());
      return 2;
    }
    reason = TerminalSafe(reason, true);  // a rollback goes ahead, its reason escaped
  }

  const absl::StatusOr<ClientToken> token = ReadTokenFile(conn.token_file, conn.role);
  if (!token.ok()) {
    std::fprintf(stderr, "greylane-ctl: %s (give --token-file)\n",
                 TerminalSafe(std::string(token.status().message())).c_str());
    return 2;
  }
  if (const absl::Status s = CheckTokenTransport(conn.control, conn.tls, conn.insecure); !s.ok()) {
    std::fprintf(stderr, "greylane-ctl: %s\n", TerminalSafe(std::string(s.message())).c_str());
    return 2;
  }
  const auto credentials = ChannelCredentialsFor(conn.tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "greylane-ctl: %s\n",
                 TerminalSafe(std::string(credentials.status().message())).c_str());
    return 2;
  }
  auto stub = v1::Agent::NewStub(grpc::CreateChannel(conn.control, *credentials));
  auto context = [&](grpc::ClientContext* c, int seconds = 10) {
    c->AddMetadata(kAuthorizationHeader, BearerHeader(token->token));
    if (seconds) c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  };
  auto current_revision = [&](CLI::App* command, uint64_t* out) -> grpc::Status {
    if (command->count("--revision")) {
      *out = revision;
      return grpc::Status::OK;
    }
    grpc::ClientContext c;
    context(&c);
    v1::AgentState now;
    grpc::Status s = stub->GetState(&c, {}, &now);
    *out = now.split().revision();
    return s;
  };
  v1::AgentState answer;

  if (whoami->parsed()) {
    grpc::ClientContext c;
    context(&c);
    v1::Identity identity;
    if (auto s = stub->WhoAmI(&c, {}, &identity); !s.ok()) return Fail(s);
    std::printf("%s (%s) from %s\n", TerminalSafe(identity.identity()).c_str(),
                v1::Role_Name(identity.role()).c_str(), TerminalSafe(identity.peer()).c_str());
    return 0;
  }
  if (state->parsed()) {
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->GetState(&c, {}, &answer); !s.ok()) return Fail(s);
    PrintState(answer);
    return 0;
  }
  if (split->parsed()) {
    uint32_t bp = 0;
    if (!ParsePercentText(percent, &bp)) {
      std::fprintf(stderr,
                   "greylane-ctl: split takes the candidate's share in percent, 0..100 "
                   "(0.01 steps), e.g. `split 5 --reason \"...\"`\n");
      return 2;
    }
    uint64_t rev = 0;
    if (auto s = current_revision(split, &rev); !s.ok()) return Fail(s);
    v1::SetSplitRequest r;
    r.set_expected_revision(rev);
    r.set_candidate_basis_points(bp);
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->SetSplit(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (rollback->parsed()) {
    v1::RollbackRequest r;
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->Rollback(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (promote->parsed()) {
    uint64_t rev = 0;
    if (auto s = current_revision(promote, &rev); !s.ok()) return Fail(s);
    v1::PromoteRequest r;
    r.set_expected_revision(rev);
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->Promote(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (load->parsed()) {
    if (model_file.empty() == address.empty()) {
      std::fprintf(stderr,
                   "greylane-ctl: load-candidate needs either --model-file or --address with "
                   "--upstream-model\n");
      return 2;
    }
    uint64_t rev = 0;
    if (auto s = current_revision(load, &rev); !s.ok()) return Fail(s);
    v1::LoadCandidateRequest r;
    auto* spec = r.mutable_spec();
    spec->set_version(version);
    if (backend.empty()) {
      backend = !address.empty() ? (address.rfind("http://", 0) == 0 ? "openai-http" : "oip-grpc")
                                 : "builtin";
    }
    spec->set_backend(backend);
    spec->set_model_file(model_file);
    spec->set_address(address);
    spec->set_upstream_model(upstream_model);
    spec->set_upstream_version(upstream_version);
    spec->set_deadline_ms(deadline_ms);
    spec->set_connections(connections);
    r.set_expected_revision(rev);
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c, 90);
    if (auto s = stub->LoadCandidate(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (policy->parsed()) {
    grpc::ClientContext c;
    context(&c);
    v1::AnalysisPolicy now;
    if (auto s = stub->GetPolicy(&c, {}, &now); !s.ok()) return Fail(s);
    if (!policy_set->parsed()) {
      PrintPolicy(now);
      return 0;
    }
    v1::SetPolicyRequest r;
    *r.mutable_policy() = now;
    v1::AnalysisPolicy* p = r.mutable_policy();
    bool any = false;
    for (const auto& [field, text] : fields) {
      if (!policy_set->count("--" + field)) continue;
      any = true;
      // Plain decimal numbers only: no hex, no spaces, no empty value, and
      // whole numbers where the field counts something.
      const bool whole_field = field == "window-seconds" || field == "min-requests" ||
                               field == "sustain-seconds" || field == "breaker-failures" ||
                               field == "breaker-cooldown-seconds";
      const bool plain =
          !text.empty() && text.find_first_not_of(whole_field ? "0123456789" : "0123456789.eE+-") ==
                               std::string::npos;
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      const bool number =
          plain && end != text.c_str() && *end == '\0' && std::isfinite(value) && value <= 1e15;
      if (field == "armed") {
        if (text != "true" && text != "false") {
          std::fprintf(stderr, "greylane-ctl: --armed takes true or false\n");
          return 2;
        }
        p->set_armed(text == "true");
        continue;
      }
      if (!number || value < 0) {
        std::fprintf(stderr, "greylane-ctl: --%s takes a %s of 0 or more, not '%s'\n",
                     field.c_str(), whole_field ? "whole number" : "decimal number",
                     TerminalSafe(text).c_str());
        return 2;
      }
      const auto whole = static_cast<uint64_t>(std::min(value, 1e15));
      if (field == "window-seconds")
        p->set_window_seconds(static_cast<uint32_t>(std::min<uint64_t>(whole, UINT32_MAX)));
      if (field == "min-requests") p->set_min_requests(whole);
      if (field == "confidence") p->set_confidence(value);
      if (field == "sustain-seconds")
        p->set_sustain_seconds(static_cast<uint32_t>(std::min<uint64_t>(whole, UINT32_MAX)));
      if (field == "latency-ratio") p->set_latency_ratio(value);
      if (field == "latency-min-ms") p->set_latency_min_ms(value);
      if (field == "p99-warning-ms") p->set_p99_warning_ms(value);
      if (field == "p99-ceiling-ms") p->set_p99_ceiling_ms(value);
      if (field == "tail-ratio") p->set_tail_ratio(value);
      if (field == "error-margin") p->set_error_margin(value);
      if (field == "error-ceiling") p->set_error_ceiling(value);
      const auto whole32 = static_cast<uint32_t>(std::min<uint64_t>(whole, UINT32_MAX));
      if (field == "breaker-failures") p->set_breaker_failures(whole32);
      if (field == "breaker-cooldown-seconds") p->set_breaker_cooldown_seconds(whole32);
      if (field == "candidate-rate-limit") p->set_candidate_rate_limit(value);
      if (field == "baseline-rate-limit") p->set_baseline_rate_limit(value);
      if (field == "accuracy-margin") p->set_accuracy_margin(value);
      if (field == "prediction-divergence") p->set_prediction_divergence(value);
      if (field == "class-share-margin") p->set_class_share_margin(value);
      if (field == "ttft-ratio") p->set_ttft_ratio(value);
      if (field == "itl-ratio") p->set_itl_ratio(value);
    }
    if (!any) {
      std::fprintf(stderr,
                   "greylane-ctl: policy set changes the fields given, e.g. --armed true; none "
                   "was given\n");
      return 2;
    }
    r.set_reason(reason);
    grpc::ClientContext set;
    context(&set);
    v1::AnalysisPolicy after_set;
    if (auto s = stub->SetPolicy(&set, r, &after_set); !s.ok()) return Fail(s, true);
    PrintPolicy(after_set);
    return 0;
  }
  if (rollout_start->parsed()) {
    v1::RolloutPlan plan;
    if (!preset.empty() == !steps_text.empty()) {
      std::fprintf(stderr,
                   "greylane-ctl: rollout start takes --preset canary|hourly or --steps, e.g. "
                   "--steps 1,5,25,100 --bake 120\n");
      return 2;
    }
    if (!preset.empty() && rollout_start->count("--bake")) {
      std::fprintf(stderr,
                   "greylane-ctl: a preset sets its own bake times; --bake goes with --steps\n");
      return 2;
    }
    if (!preset.empty()) {
      bool found = false;
      for (const RolloutPreset& p : RolloutPresets()) {
        if (p.key == preset) {
          plan = p.plan;
          found = true;
        }
      }
      if (!found) {
        std::fprintf(stderr, "greylane-ctl: --preset is canary or hourly, not '%s'\n",
                     TerminalSafe(preset).c_str());
        return 2;
      }
    } else {
      if (const std::string problem = AddStepsFromText(steps_text, bake_seconds, &plan);
          !problem.empty()) {
        std::fprintf(stderr, "greylane-ctl: --steps: %s\n", problem.c_str());
        return 2;
      }
    }
    if (!gates_text.empty()) {
      if (const std::string problem = MarkGatesFromText(gates_text, &plan); !problem.empty()) {
        std::fprintf(stderr, "greylane-ctl: --gates: %s\n", problem.c_str());
        return 2;
      }
    }
    plan.set_max_extend_seconds(max_extend);
    plan.set_auto_promote(auto_promote);
    uint64_t rev = 0;
    if (auto s = current_revision(rollout_start, &rev); !s.ok()) return Fail(s);
    v1::StartRolloutRequest r;
    *r.mutable_plan() = plan;
    r.set_expected_revision(rev);
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->StartRollout(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  for (const auto& [command, call] : {std::pair{rollout_pause, &v1::Agent::Stub::PauseRollout},
                                      std::pair{rollout_resume, &v1::Agent::Stub::ResumeRollout},
                                      std::pair{rollout_abort, &v1::Agent::Stub::AbortRollout}}) {
    if (!command->parsed()) continue;
    v1::RolloutControlRequest r;
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = (stub.get()->*call)(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (drill->parsed()) {
    const bool shaped = drill->count("--latency-ms") || drill->count("--share") ||
                        drill->count("--error-rate") || drill->count("--seconds") ||
                        drill->count("--wrong-rate");
    if (drill_stop && shaped) {
      std::fprintf(stderr, "greylane-ctl: drill --stop takes only --slot and --reason\n");
      return 2;
    }
    if (!drill_stop && (drill_seconds == 0 || !(drill_share > 0 && drill_share <= 1))) {
      std::fprintf(stderr,
                   "greylane-ctl: drill needs --seconds 1..3600 and --share above 0 up to 1 "
                   "(to end a drill: --stop)\n");
      return 2;
    }
    v1::InjectFaultRequest r;
    r.set_slot(drill_slot == "baseline" ? v1::BASELINE : v1::CANDIDATE);
    r.set_added_latency_ms(drill_latency);
    r.set_latency_share(drill_share);
    r.set_error_rate(drill_errors);
    r.set_wrong_answer_rate(drill_wrong);
    r.set_duration_seconds(drill_stop ? 0 : drill_seconds);
    r.set_reason(reason);
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->InjectFault(&c, r, &answer); !s.ok()) return Fail(s, true);
    PrintState(answer);
    return 0;
  }
  if (verify->parsed()) {
    grpc::ClientContext c;
    context(&c, 120);
    v1::VerifyAuditResponse v;
    if (auto s = stub->VerifyAudit(&c, {}, &v); !s.ok()) return Fail(s);
    std::printf("%s%s\n", v.ok() ? "" : "BROKEN: ", TerminalSafe(v.detail()).c_str());
    // The head, to compare with an export's (`greylane-agent audit verify --file`).
    if (v.ok() && !v.head_hash().empty())
      std::printf("head %s\n", TerminalSafe(v.head_hash()).c_str());
    return v.ok() ? 0 : 1;
  }
  if (report->parsed()) {
    if (format == "pdf" && output.empty() && isatty(fileno(stdout))) {
      std::fprintf(stderr, "greylane-ctl: a PDF to a terminal: give --output FILE\n");
      return 2;
    }
    if (format == "pdf" && !pdf) {
      std::fprintf(stderr, "greylane-ctl: this build cannot print PDF; use --format html\n");
      return 2;
    }
    return WriteReport(*stub, context, conn.control, format, output, at, pdf);
  }
  if (audit->parsed() && !follow) {
    const grpc::Status s = ReadTrail(*stub, context, after, [](const AuditRecord& r) {
      std::fputs(AuditJsonLine(r).c_str(), stdout);
    });
    return s.ok() ? 0 : Fail(s);
  }
  if (audit->parsed()) {
    grpc::ClientContext c;
    context(&c, 0);
    v1::WatchAuditRequest r;
    r.set_after_sequence(after);
    auto reader = stub->WatchAudit(&c, r);
    v1::AuditEntry e;
    while (reader->Read(&e)) {
      std::fputs(AuditJsonLine(FromProto(e)).c_str(), stdout);
      std::fflush(stdout);
    }
    if (auto s = reader->Finish(); !s.ok()) return Fail(s);
    return 0;
  }
  return 2;
}

}  // namespace greylane
