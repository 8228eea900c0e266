#include "agent/ctl/control_cli.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "agent/audit/audit_log.h"
#include "agent/audit/audit_proto.h"
#include "agent/auth/client_token.h"
#include "agent/load/metrics_watch.h"
#include "greylane/v1/agent.grpc.pb.h"

namespace greylane {
namespace {

constexpr char kUsage[] = R"(usage: greylane-ctl [connection] COMMAND [options]

connection:
  --control HOST:PORT   the agent's control API        (default 127.0.0.1:7070)
  --token-file FILE     a token, or the demo file (lines `role identity token`)
  --as ROLE             which line of a demo file       (default operator)
  --ca FILE             TLS: trust this CA (enables TLS)
  --cert FILE --key FILE  mutual TLS: this client certificate

commands:
  whoami
  state
  split PERCENT --reason TEXT [--revision N]      e.g. split 5 or split 0.25
  rollback --reason TEXT                          100 % back to the baseline
  promote --reason TEXT [--revision N]
  load-candidate --version V (--model-file F | --address HOST:PORT --upstream-model M
                 [--upstream-version X]) --reason TEXT [--revision N]
  audit [--after N] [--follow]                    rows as JSON lines
  verify                                          recompute the hash chain on the agent

Without --revision a change is based on the revision read just before it;
if someone changes the split in between, the agent refuses (ABORTED).
)";

struct Options {
  std::string control = "127.0.0.1:7070";
  std::string token_file, role = "operator", ca, cert, key;
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  bool follow = false;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Fail(const grpc::Status& status) {
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
  const int code = status.error_code();
  std::fprintf(stderr, "greylane-ctl: %s: %s\n", code >= 0 && code <= 16 ? kNames[code] : "ERROR",
               status.error_message().c_str());
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
  std::printf("%s\n", FormatState(s).c_str());
  const auto& c = s.last_change();
  if (c.time_unix_ms()) {
    std::printf("  last change: %s by %s at %s: \"%s\" (audit #%llu", c.action().c_str(),
                c.actor().c_str(), When(c.time_unix_ms()).c_str(), c.reason().c_str(),
                static_cast<unsigned long long>(c.audit_sequence()));
    if (c.apply_micros() > 0) {
      std::printf(", in force %.2f ms after the request arrived", c.apply_micros() / 1000.0);
    }
    std::printf(")\n");
  }
}

bool ParsePercent(const std::string& text, uint32_t* bp) {
  char* end = nullptr;
  const double percent = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(percent >= 0 && percent <= 100)) return false;
  *bp = static_cast<uint32_t>(std::lround(percent * 100));
  return true;
}

}  // namespace

int RunControlCli(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string { return i + 1 < args.size() ? args[++i] : std::string(); };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--control")
      o.control = value();
    else if (a == "--token-file")
      o.token_file = value();
    else if (a == "--as")
      o.role = value();
    else if (a == "--ca")
      o.ca = value();
    else if (a == "--cert")
      o.cert = value();
    else if (a == "--key")
      o.key = value();
    else if (a == "--follow")
      o.follow = true;
    else if (a.rfind("--", 0) == 0) {
      const std::string v = value();
      if (v.empty()) {
        std::fprintf(stderr, "greylane-ctl: %s needs a value\n", a.c_str());
        return 2;
      }
      o.values[a.substr(2)] = v;
    } else if (o.command.empty())
      o.command = a;
    else
      o.positional.push_back(a);
  }
  if (o.command.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string error;
  const auto token = ReadTokenFile(o.token_file, o.role, &error);
  if (!token) {
    std::fprintf(stderr, "greylane-ctl: %s (give --token-file)\n", error.c_str());
    return 2;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!o.ca.empty()) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = Slurp(o.ca);
    if (!o.cert.empty()) {
      tls.pem_cert_chain = Slurp(o.cert);
      tls.pem_private_key = Slurp(o.key);
    }
    credentials = grpc::SslCredentials(tls);
  }
  auto stub = v1::Agent::NewStub(grpc::CreateChannel(o.control, credentials));
  auto context = [&](grpc::ClientContext* c, int seconds = 10) {
    c->AddMetadata("authorization", "Bearer " + token->token);
    if (seconds) c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  };
  auto reason = [&]() -> std::string { return o.values.count("reason") ? o.values["reason"] : ""; };
  auto revision = [&](uint64_t* out) -> grpc::Status {
    if (o.values.count("revision")) {
      *out = std::stoull(o.values["revision"]);
      return grpc::Status::OK;
    }
    grpc::ClientContext c;
    context(&c);
    v1::AgentState state;
    grpc::Status s = stub->GetState(&c, {}, &state);
    *out = state.split().revision();
    return s;
  };
  const std::string& cmd = o.command;
  v1::AgentState state;

  if (cmd == "whoami") {
    grpc::ClientContext c;
    context(&c);
    v1::Identity identity;
    if (auto s = stub->WhoAmI(&c, {}, &identity); !s.ok()) return Fail(s);
    std::printf("%s (%s) from %s\n", identity.identity().c_str(),
                v1::Role_Name(identity.role()).c_str(), identity.peer().c_str());
    return 0;
  }
  if (cmd == "state") {
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->GetState(&c, {}, &state); !s.ok()) return Fail(s);
    PrintState(state);
    return 0;
  }
  if (cmd == "split") {
    uint32_t bp = 0;
    if (o.positional.size() != 1 || !ParsePercent(o.positional[0], &bp)) {
      std::fprintf(stderr,
                   "greylane-ctl: split takes the candidate's share in percent, 0..100 "
                   "(0.01 steps), e.g. `split 5 --reason \"...\"`\n");
      return 2;
    }
    uint64_t rev = 0;
    if (auto s = revision(&rev); !s.ok()) return Fail(s);
    v1::SetSplitRequest r;
    r.set_expected_revision(rev);
    r.set_candidate_basis_points(bp);
    r.set_reason(reason());
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->SetSplit(&c, r, &state); !s.ok()) return Fail(s);
    PrintState(state);
    return 0;
  }
  if (cmd == "rollback") {
    v1::RollbackRequest r;
    r.set_reason(reason());
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->Rollback(&c, r, &state); !s.ok()) return Fail(s);
    PrintState(state);
    return 0;
  }
  if (cmd == "promote") {
    uint64_t rev = 0;
    if (auto s = revision(&rev); !s.ok()) return Fail(s);
    v1::PromoteRequest r;
    r.set_expected_revision(rev);
    r.set_reason(reason());
    grpc::ClientContext c;
    context(&c);
    if (auto s = stub->Promote(&c, r, &state); !s.ok()) return Fail(s);
    PrintState(state);
    return 0;
  }
  if (cmd == "load-candidate") {
    uint64_t rev = 0;
    if (auto s = revision(&rev); !s.ok()) return Fail(s);
    v1::LoadCandidateRequest r;
    auto* spec = r.mutable_spec();
    spec->set_version(o.values["version"]);
    spec->set_backend(o.values.count("address") ? "oip-grpc" : "builtin");
    spec->set_model_file(o.values["model-file"]);
    spec->set_address(o.values["address"]);
    spec->set_upstream_model(o.values["upstream-model"]);
    spec->set_upstream_version(o.values["upstream-version"]);
    r.set_expected_revision(rev);
    r.set_reason(reason());
    grpc::ClientContext c;
    context(&c, 30);
    if (auto s = stub->LoadCandidate(&c, r, &state); !s.ok()) return Fail(s);
    PrintState(state);
    return 0;
  }
  if (cmd == "verify") {
    grpc::ClientContext c;
    context(&c, 60);
    v1::VerifyAuditResponse v;
    if (auto s = stub->VerifyAudit(&c, {}, &v); !s.ok()) return Fail(s);
    std::printf("%s%s\n", v.ok() ? "" : "BROKEN: ", v.detail().c_str());
    return v.ok() ? 0 : 1;
  }
  if (cmd == "audit") {
    const uint64_t after = o.values.count("after") ? std::stoull(o.values["after"]) : 0;
    grpc::ClientContext c;
    context(&c, o.follow ? 0 : 30);
    v1::WatchAuditRequest r;
    r.set_after_sequence(after);
    if (!o.follow) {
      v1::ListAuditRequest list;
      list.set_after_sequence(after);
      list.set_limit(1000);
      v1::ListAuditResponse rows;
      if (auto s = stub->ListAudit(&c, list, &rows); !s.ok()) return Fail(s);
      for (const auto& e : rows.entries()) std::fputs(AuditJsonLine(FromProto(e)).c_str(), stdout);
      return 0;
    }
    auto reader = stub->WatchAudit(&c, r);
    v1::AuditEntry e;
    while (reader->Read(&e)) {
      std::fputs(AuditJsonLine(FromProto(e)).c_str(), stdout);
      std::fflush(stdout);
    }
    if (auto s = reader->Finish(); !s.ok()) return Fail(s);
    return 0;
  }
  std::fprintf(stderr, "greylane-ctl: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}

}  // namespace greylane
