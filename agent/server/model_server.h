#pragma once
// `greylane-agent serve-model`: one built-in language model served alone
// over the OpenAI API, as vLLM or llama.cpp would serve a real one — the
// upstream that proxy tests and demos put behind an agent's openai-http
// backend. No routing, no metrics, no audit: a model server, nothing more.
#include <memory>
#include <string>
#include <vector>

#include "agent/backends/backend.h"
#include "agent/http/http_server.h"

namespace greylane {

class ModelServer final : public HttpHandler {
 public:
  explicit ModelServer(std::shared_ptr<Backend> backend) : m_backend(std::move(backend)) {}
  void Handle(std::shared_ptr<HttpExchange> exchange) override;

 private:
  std::shared_ptr<Backend> m_backend;
};

// The subcommand: args after "serve-model". Returns the exit status.
int RunServeModel(const std::vector<std::string>& args);

}  // namespace greylane
