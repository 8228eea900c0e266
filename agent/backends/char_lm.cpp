#include "agent/backends/char_lm.h"

#include <algorithm>
#include <cmath>

#include "common/files.h"
#include "common/text.h"

namespace greylane {
namespace {
constexpr size_t kMaxModelBytes = 64u << 20;
constexpr double kMaxPaceMillis = 60000;
}  // namespace

absl::StatusOr<std::shared_ptr<const CharLanguageModel>> CharLanguageModel::Load(
    const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadRegularFile(path, kMaxModelBytes, "the model file");
  if (!bytes.ok()) return bytes.status();
  return Parse(*bytes, path);
}

absl::StatusOr<std::shared_ptr<const CharLanguageModel>> CharLanguageModel::Parse(
    std::string_view bytes, std::string_view name) {
  absl::StatusOr<MlpModel> net = MlpModel::Parse(bytes, name);
  if (!net.ok()) return net.status();
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("model file " + Quote(name, 200) + ": " + why);
  };
  if (net->Format() != "greylane-charlm 1") {
    return bad("not a language model (greylane-charlm 1); a classifier takes backend 'builtin'");
  }
  const double context = net->Number("context");
  if (!(context >= 1 && context <= 1024) || net->EmbeddingRows() != kVocab ||
      net->OutputWidth() != kVocab ||
      net->InputWidth() != static_cast<int>(context) * net->EmbeddingWidth()) {
    return bad(
        "its sizes do not fit a character model (context x embedding width must be the "
        "input width; 96 characters in and out)");
  }
  std::shared_ptr<CharLanguageModel> model(new CharLanguageModel(std::move(*net)));
  auto pace = [&](const char* key, double scale, std::chrono::microseconds* out) {
    const double v = model->m_net.Number(key);
    if (std::isnan(v)) return true;  // unpaced: as fast as the CPU computes
    if (!(v >= 0 && v * scale <= kMaxPaceMillis * 1000)) return false;
    *out = std::chrono::microseconds(static_cast<int64_t>(v * scale));
    return true;
  };
  model->m_context = static_cast<int>(context);
  if (!pace("first_token_ms", 1000, &model->m_first_token_delay) ||
      !pace("token_ms", 1000, &model->m_token_delay) ||
      !pace("prefill_us_per_token", 1, &model->m_prefill_per_token)) {
    return bad("first_token_ms, token_ms and prefill_us_per_token must be 0..60000 ms");
  }
  return std::shared_ptr<const CharLanguageModel>(std::move(model));
}

std::chrono::microseconds CharLanguageModel::FirstTokenDelay(size_t prompt_tokens) const {
  const auto prefill =
      m_prefill_per_token * static_cast<int64_t>(std::min<size_t>(prompt_tokens, 1 << 20));
  return std::min(m_first_token_delay + prefill,
                  std::chrono::microseconds(static_cast<int64_t>(kMaxPaceMillis * 1000)));
}

std::vector<uint8_t> CharLanguageModel::Encode(std::string_view text) {
  std::vector<uint8_t> ids;
  ids.reserve(text.size());
  for (const char c : text) {
    if (c == '\n') {
      ids.push_back(0);
    } else if (c >= ' ' && c <= '~') {
      ids.push_back(static_cast<uint8_t>(c - 31));
    } else if (c == '\t') {
      ids.push_back(1);
    }
  }
  return ids;
}

uint8_t CharLanguageModel::Next(std::span<const uint8_t> history, double temperature,
                                std::mt19937_64& rng) const {
  thread_local std::vector<float> input, probabilities;
  const int width = m_net.EmbeddingWidth();
  input.assign(static_cast<size_t>(m_context) * static_cast<size_t>(width), 0.0f);
  // The training windows were padded with newlines on the left.
  for (int i = 0; i < m_context; ++i) {
    const ptrdiff_t at = static_cast<ptrdiff_t>(history.size()) - m_context + i;
    const uint8_t token =
        at >= 0 ? std::min<uint8_t>(history[static_cast<size_t>(at)], kVocab - 1) : 0;
    std::copy_n(m_net.EmbeddingRow(token), width, input.data() + static_cast<size_t>(i) * width);
  }
  probabilities.resize(kVocab);
  m_net.Predict(input.data(), 1, probabilities.data());
  if (temperature <= 0.0) {
    return static_cast<uint8_t>(std::max_element(probabilities.begin(), probabilities.end()) -
                                probabilities.begin());
  }
  // p^(1/T), renormalised by the draw.
  double total = 0;
  for (float& p : probabilities) total += (p = static_cast<float>(std::pow(p, 1.0 / temperature)));
  double draw = std::uniform_real_distribution<double>(0.0, total)(rng);
  for (int i = 0; i < kVocab; ++i) {
    draw -= probabilities[static_cast<size_t>(i)];
    if (draw <= 0) return static_cast<uint8_t>(i);
  }
  return kVocab - 1;
}

std::vector<float> CharLanguageModel::Embed(std::span<const uint8_t> tokens) const {
  const int width = m_net.EmbeddingWidth();
  std::vector<float> sum(static_cast<size_t>(width), 0.0f);
  for (const uint8_t t : tokens) {
    const float* row = m_net.EmbeddingRow(std::min<uint8_t>(t, kVocab - 1));
    for (int i = 0; i < width; ++i) sum[static_cast<size_t>(i)] += row[i];
  }
  double norm = 0;
  for (const float v : sum) norm += static_cast<double>(v) * v;
  if (norm > 0) {
    for (float& v : sum) v = static_cast<float>(v / std::sqrt(norm));
  }
  return sum;
}

}  // namespace greylane
