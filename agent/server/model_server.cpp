#include "agent/server/model_server.h"

#include <cstdio>
#include <fstream>
#include <mutex>

#include <CLI/CLI.hpp>

#include "agent/backends/builtin_lm_backend.h"
#include "agent/backends/openai_wire.h"
#include "agent/server/process_tuning.h"
#include "common/text.h"

namespace greylane {
namespace {

// Writes what the model generates straight to the client.
class DirectSink final : public GenerationSink {
 public:
  explicit DirectSink(std::shared_ptr<HttpExchange> exchange) : m_exchange(std::move(exchange)) {}
  void OnHead(GenerationHead head) override {
    std::lock_guard lock(m_mutex);
    m_head = std::move(head);
    m_streaming = m_head.content_type.rfind("text/event-stream", 0) == 0;
    if (m_streaming) {
      HttpResponse r;
      r.status = m_head.status;
      r.content_type = m_head.content_type;
      r.headers = m_head.headers;
      r.headers.emplace_back("Cache-Control", "no-cache");
      m_exchange->BeginStream(std::move(r));
    }
  }
  void OnData(std::string bytes) override {
    std::lock_guard lock(m_mutex);
    if (m_streaming) {
      m_exchange->SendChunk(std::move(bytes));
    } else {
      m_body += bytes;
    }
  }
  void OnEnd(GenerationEnd end) override {
    std::lock_guard lock(m_mutex);
    if (m_streaming) {
      if (end.failure != GenerationFailure::kNone) {
        m_exchange->SendChunk(OpenAiErrorEvent(end.error, "server_error"));
      }
      m_exchange->EndStream();
      return;
    }
    HttpResponse r;
    if (end.failure == GenerationFailure::kRefused) {
      r.status = 400;
      r.body = OpenAiErrorBody(end.error, "invalid_request_error", "invalid_request");
    } else if (end.failure != GenerationFailure::kNone) {
      r.status = 503;
      r.body = OpenAiErrorBody(end.error, "server_error", "overloaded");
    } else {
      r.status = m_head.status;
      if (!m_head.content_type.empty()) r.content_type = m_head.content_type;
      r.headers = m_head.headers;
      r.body = std::move(m_body);
    }
    m_exchange->Reply(std::move(r));
  }

 private:
  std::mutex m_mutex;
  const std::shared_ptr<HttpExchange> m_exchange;
  GenerationHead m_head;
  bool m_streaming = false;
  std::string m_body;
};

}  // namespace

void ModelServer::Handle(std::shared_ptr<HttpExchange> exchange) {
  const HttpRequest& r = exchange->Request();
  if (r.path == "/health") {
    HttpResponse ok;
    ok.content_type.clear();
    return exchange->Reply(std::move(ok));
  }
  GenerationRequest g;
  g.method = r.method;
  g.path = r.target;
  g.body = r.body;
  g.request_id = std::string(r.Header("x-request-id"));
  if (g.request_id.empty()) g.request_id = "local";
  std::string problem;
  if (r.method == "POST") {
    if (const std::optional<OpenAiRequest> ask = ParseOpenAiRequest(r.body, &problem)) {
      g.stream = ask->stream;
      g.include_usage = ask->include_usage;
    }
  }
  if (!problem.empty() || (r.method != "POST" && r.path != "/v1/models")) {
    HttpResponse e;
    e.status = problem.empty() ? 404 : 400;
    e.body = OpenAiErrorBody(problem.empty() ? "no route " + Quote(r.path, 200) : problem,
                             "invalid_request_error", "invalid_request");
    return exchange->Reply(std::move(e));
  }
  auto sink = std::make_shared<DirectSink>(exchange);
  std::shared_ptr<GenerationCall> call = m_backend->Generate(std::move(g), sink);
  exchange->OnClientGone([call] { call->Cancel(); });
}

int RunServeModel(const std::vector<std::string>& args) {
  std::string model_file, listen = "127.0.0.1:8100", ready_file;
  bool help = false;
  CLI::App app("greylane-agent serve-model");
  app.set_help_flag();
  app.add_flag("--help,-h", help);
  app.add_option("--model", model_file);
  app.add_option("--listen", listen);
  app.add_option("--ready-file", ready_file);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "greylane-agent serve-model: %s (see --help)\n", e.what());
    return 2;
  }
  if (help || model_file.empty()) {
    std::fputs(
        "usage: greylane-agent serve-model --model FILE.glm [--listen ADDR] [--ready-file F]\n\n"
        "Serves one built-in language model (resources/models/lm-v1.glm, lm-v2.glm) over\n"
        "the OpenAI API (/v1/chat/completions, /v1/completions, /v1/embeddings,\n"
        "/v1/models, /health), as a model server would: the upstream for an agent's\n"
        "openai-http backend. --listen defaults to 127.0.0.1:8100 (port 0 picks one).\n",
        help ? stdout : stderr);
    return help ? 0 : 2;
  }
  absl::StatusOr<std::unique_ptr<BuiltinLmBackend>> backend = BuiltinLmBackend::Open(model_file);
  if (!backend.ok()) {
    std::fprintf(stderr, "greylane-agent serve-model: %s\n",
                 TerminalSafe(std::string(backend.status().message()), true).c_str());
    return 1;
  }
  BlockStopSignals();
  ModelServer handler(std::shared_ptr<Backend>(std::move(*backend)));
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(listen, HttpLimits{}, handler);
  if (!server.ok()) {
    std::fprintf(stderr, "greylane-agent serve-model: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("greylane-agent serve-model: %s on http://%s (OpenAI API)\n", model_file.c_str(),
              (*server)->Address().c_str());
  std::fflush(stdout);
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    std::ofstream(tmp) << "http=" << (*server)->Address() << "\n";
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  WaitForStopSignal();
  (*server)->Shutdown(std::chrono::seconds(2));
  return 0;
}

}  // namespace greylane
