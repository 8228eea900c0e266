#pragma once
// A character-level language model (scripts/train_charlm.py): the built-in
// generative model behind the `lm` demo pair. One "token" is one character
// of newline or printable ASCII. Written here because the demo and the tests
// need a real generator that runs anywhere with no model server.
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/backends/mlp_model.h"

namespace greylane {

class CharLanguageModel {
 public:
  static constexpr int kVocab = 96;  // 0 = newline, 1..95 = ' '..'~'

  static absl::StatusOr<std::shared_ptr<const CharLanguageModel>> Load(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const CharLanguageModel>> Parse(std::string_view bytes,
                                                                        std::string_view name);

  const std::string& ModelName() const { return m_net.ModelName(); }
  const std::string& Version() const { return m_net.Version(); }
  int Context() const { return m_context; }
  size_t ParameterCount() const { return m_net.ParameterCount(); }

  // The pace a model server of this size keeps on a GPU (from the file):
  // the first token after reading the prompt, then one token per TokenDelay.
  std::chrono::microseconds FirstTokenDelay(size_t prompt_tokens) const;
  std::chrono::microseconds TokenDelay() const { return m_token_delay; }

  // Characters it cannot write (a tab reads as a space) are left out.
  static std::vector<uint8_t> Encode(std::string_view text);
  static char Decode(uint8_t token) { return token == 0 ? '\n' : static_cast<char>(token + 31); }

  // The next token after `history`; temperature 0 picks the likeliest.
  uint8_t Next(std::span<const uint8_t> history, double temperature, std::mt19937_64& rng) const;
  // A unit vector for a text: its characters' embeddings averaged.
  std::vector<float> Embed(std::span<const uint8_t> tokens) const;

 private:
  explicit CharLanguageModel(MlpModel net) : m_net(std::move(net)) {}
  MlpModel m_net;
  int m_context = 0;
  std::chrono::microseconds m_first_token_delay{0};
  std::chrono::microseconds m_prefill_per_token{0};
  std::chrono::microseconds m_token_delay{0};
};

}  // namespace greylane
