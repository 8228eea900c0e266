#pragma once
// Serves a built-in character language model (CharLanguageModel) with the
// OpenAI API: /v1/chat/completions, /v1/completions (streaming or not),
// /v1/embeddings and /v1/models. Tokens come one at a time at the pace the
// model file asks for, on timers of the network threads, so a thousand
// streams cost no thread each. The gRPC plane is refused: this model takes
// text over HTTP.
#include <atomic>
#include <memory>
#include <string>

#include "agent/backends/backend.h"
#include "agent/backends/char_lm.h"
#include "agent/backends/generation.h"

namespace greylane {

class BuiltinLmBackend final : public Backend {
 public:
  // Generations at once; past it a request gets 503 (a full batch).
  static constexpr int kMaxConcurrent = 512;
  static constexpr int64_t kMaxTokens = 4096;
  static constexpr int64_t kDefaultMaxTokens = 64;

  static absl::StatusOr<std::unique_ptr<BuiltinLmBackend>> Open(const std::string& model_file);

  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             InferCompletion* done, const std::string& via) override;
  grpc::Status Probe(std::chrono::milliseconds deadline, const std::string& via) override;
  BackendDescription Description() const override;
  bool Generative() const override { return true; }
  std::shared_ptr<GenerationCall> Generate(GenerationRequest request,
                                           std::shared_ptr<GenerationSink> sink) override;

  const CharLanguageModel& Model() const { return *m_model; }

 private:
  BuiltinLmBackend(std::shared_ptr<const CharLanguageModel> model, std::string file);
  std::shared_ptr<const CharLanguageModel> m_model;
  std::string m_file;
  std::shared_ptr<std::atomic<int>> m_running = std::make_shared<std::atomic<int>>(0);
};

}  // namespace greylane
