#pragma once
// A small dense network (ReLU or tanh hidden layers, softmax output),
// optionally fed by an embedding table, computed on the CPU: the built-in
// models behind the demo pairs. The file formats are written by
// scripts/train_digits.py ("greylane-mlp 1") and scripts/train_charlm.py
// ("greylane-charlm 1": an embedding table first) and described there. Files come from outside,
// so the header is bounded line by line and the layer sizes it declares
// must add up to exactly the bytes that follow before anything is
// allocated for them.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace greylane {

class MlpModel {
 public:
  static constexpr int kMaxLayerWidth = 65536;
  static constexpr size_t kMaxLayers = 64;
  static constexpr size_t kMaxHeaderLineBytes = 256;

  // Reads a model file (regular files only, bounded in size).
  static absl::StatusOr<MlpModel> Load(const std::string& path);
  // Parses a model file's bytes; `name` says which file in errors.
  static absl::StatusOr<MlpModel> Parse(std::string_view bytes, std::string_view name);

  const std::string& Format() const { return m_format; }  // "greylane-mlp 1" | ...
  const std::string& ModelName() const { return m_model; }
  const std::string& Version() const { return m_version; }
  int InputWidth() const { return m_layers.empty() ? 0 : m_layers.front().in; }
  int OutputWidth() const { return m_layers.empty() ? 0 : m_layers.back().out; }
  bool Loaded() const { return !m_layers.empty(); }
  size_t ParameterCount() const;
  // The embedding table (vocab x dim), empty for a greylane-mlp file.
  int EmbeddingRows() const { return m_embedding_rows; }
  int EmbeddingWidth() const { return m_embedding_width; }
  const float* EmbeddingRow(int row) const {
    return m_embedding.data() + static_cast<size_t>(row) * static_cast<size_t>(m_embedding_width);
  }
  // Header lines with one number this class does not use itself
  // ("context 8"), for the model built on it; NaN when absent.
  double Number(const std::string& key) const;

  // rows x InputWidth() in, rows x OutputWidth() probabilities out.
  void Predict(const float* input, int64_t rows, float* output) const;

 private:
  struct Layer {
    int in = 0;
    int out = 0;
    enum class Activation { kRelu, kTanh, kSoftmax } activation = Activation::kRelu;
    std::vector<float> weights_in_major;  // in x out: inner loop is a vectorisable axpy
    std::vector<float> bias;
  };
  std::string m_format;
  std::string m_model;
  std::string m_version;
  float m_input_scale = 1.0f;
  std::vector<Layer> m_layers;
  int m_widest = 0;
  int m_embedding_rows = 0;
  int m_embedding_width = 0;
  std::vector<float> m_embedding;
  std::map<std::string, double> m_numbers;
};

}  // namespace greylane
