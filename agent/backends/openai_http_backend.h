#pragma once
// Forwards a slot's OpenAI-API requests to an upstream HTTP server (vLLM,
// SGLang, TGI, llama.cpp, LiteLLM, another greylane-agent): keep-alive
// connections pooled per version, and four deadlines — connect, first byte
// (the response head), idle (between two reads of the body) and total. A
// stream's body is cut into server-sent events as it arrives and handed on
// one event at a time, never held back.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/backends/backend.h"

namespace greylane {

struct OpenAiHttpOptions {
  std::string base_url;  // http://host:port[/prefix]
  std::string model;     // what the upstream serves ("model" is rewritten to it)
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds first_byte_timeout{60000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds total_timeout{600000};
  int connections = 16;  // idle keep-alive connections kept for reuse
};

// "http://host:port/prefix" -> host, port, prefix; a message when it is not
// such a URL (https is refused: put a TLS proxy on the node, or use the
// upstream's plain port on loopback).
struct HttpUrl {
  std::string host;
  std::string port;
  std::string prefix;  // "" or "/something", no trailing slash
};
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);

// GET of a whole URL ("http://host:port/path") within `deadline`: the
// status code, or 0 with `error` set when there was no answer. Blocks.
int HttpStatusOf(const std::string& url, std::chrono::milliseconds deadline, std::string* error);

class OpenAiHttpBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> Create(OpenAiHttpOptions options);
  ~OpenAiHttpBackend() override;

  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             InferCompletion* done, const std::string& via) override;
  // GET <base>/v1/models answers 200 within the deadline.
  grpc::Status Probe(std::chrono::milliseconds deadline, const std::string& via) override;
  BackendDescription Description() const override;
  bool Generative() const override { return true; }
  std::shared_ptr<GenerationCall> Generate(GenerationRequest request,
                                           std::shared_ptr<GenerationSink> sink) override;

  class Upstream;

 private:
  OpenAiHttpBackend(OpenAiHttpOptions options, HttpUrl url);
  const std::shared_ptr<Upstream> m_upstream;  // shared with the calls in flight
};

}  // namespace greylane
