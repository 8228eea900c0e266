#include "agent/backends/mlp_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "common/files.h"
#include "common/text.h"

namespace greylane {
namespace {
// The built-in backend serves small CPU models; a larger file is a mistake.
constexpr size_t kMaxModelBytes = 256u << 20;
}  // namespace

absl::StatusOr<MlpModel> MlpModel::Load(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadRegularFile(path, kMaxModelBytes, "the model file");
  if (!bytes.ok()) return bytes.status();
  return Parse(*bytes, path);
}

absl::StatusOr<MlpModel> MlpModel::Parse(std::string_view bytes, std::string_view name) {
  const std::string where = Quote(name, 200);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("model file " + where + ": " + why);
  };
  // The header: short text lines up to "end".
  size_t at = 0;
  auto next_line = [&](std::string_view* line) {
    if (at >= bytes.size()) return false;
    const size_t newline = bytes.find('\n', at);
    const size_t end = newline == std::string_view::npos ? bytes.size() : newline;
    *line = bytes.substr(at, end - at);
    at = newline == std::string_view::npos ? bytes.size() : newline + 1;
    return true;
  };
  std::string_view line;
  if (!next_line(&line) || (line != "greylane-mlp 1" && line != "greylane-charlm 1")) {
    return bad("not a greylane-mlp 1 or greylane-charlm 1 model file");
  }
  MlpModel model;
  model.m_format = std::string(line);
  size_t declared_layers = 0;
  bool ended = false;
  for (size_t n = 0; !ended && next_line(&line); ++n) {
    if (line.size() > kMaxHeaderLineBytes || n > kMaxLayers + 8) {
      return bad("the header is malformed (a line over " + std::to_string(kMaxHeaderLineBytes) +
                 " bytes, or too many lines)");
    }
    if (std::string problem =
            TextProblem("a header line", line, kMaxHeaderLineBytes, TextKind::kName);
        !problem.empty()) {
      return bad(problem);
    }
    if (line == "end") {
      ended = true;
      break;
    }
    std::istringstream in{std::string(line)};
    std::string key, rest;
    in >> key;
    if (key == "model") {
      in >> model.m_model;
    } else if (key == "version") {
      in >> model.m_version;
    } else if (key == "input_scale") {
      in >> model.m_input_scale;
      if (!std::isfinite(model.m_input_scale)) return bad("input_scale is not a finite number");
    } else if (key == "layers") {
      in >> declared_layers;
      if (declared_layers > kMaxLayers) {
        return bad("it declares " + std::to_string(declared_layers) + " layers; at most " +
                   std::to_string(kMaxLayers));
      }
    } else if (key == "dense") {
      Layer layer;
      std::string activation;
      in >> layer.in >> layer.out >> activation;
      if (in.fail() || layer.in <= 0 || layer.out <= 0 || layer.in > kMaxLayerWidth ||
          layer.out > kMaxLayerWidth ||
          (activation != "relu" && activation != "tanh" && activation != "softmax")) {
        return bad("bad layer line " + Quote(line) +
                   " (expected `dense IN OUT relu|tanh|softmax`, widths 1.." +
                   std::to_string(kMaxLayerWidth) + ")");
      }
      if (model.m_layers.size() >= kMaxLayers) return bad("too many dense lines");
      layer.activation = activation == "softmax" ? Layer::Activation::kSoftmax
                         : activation == "tanh"  ? Layer::Activation::kTanh
                                                 : Layer::Activation::kRelu;
      model.m_layers.push_back(std::move(layer));
    } else if (key == "embedding") {
      in >> model.m_embedding_rows >> model.m_embedding_width;
      if (in.fail() || model.m_embedding_rows <= 0 || model.m_embedding_width <= 0 ||
          model.m_embedding_rows > kMaxLayerWidth || model.m_embedding_width > kMaxLayerWidth) {
        return bad("bad embedding line " + Quote(line) + " (expected `embedding ROWS WIDTH`)");
      }
    }
    // Unknown keys with one number are kept for the model built on this
    // one; others are skipped (newer writers may add some); known ones must
    // parse whole.
    const bool known = key == "model" || key == "version" || key == "input_scale" ||
                       key == "layers" || key == "dense" || key == "embedding";
    if (known && (in.fail() || (in >> rest))) {
      return bad("cannot parse header line " + Quote(line));
    }
    if (!known) {
      double number = 0;
      if ((in >> number) && !(in >> rest) && std::isfinite(number)) model.m_numbers[key] = number;
    }
  }
  if (!ended || model.m_layers.empty() || declared_layers != model.m_layers.size()) {
    return bad("the header is incomplete (layers, dense lines, end)");
  }
  for (size_t i = 1; i < model.m_layers.size(); ++i) {
    if (model.m_layers[i].in != model.m_layers[i - 1].out) {
      return bad("layer " + std::to_string(i) + " does not fit the previous one");
    }
  }
  // The declared sizes must account for exactly the bytes that follow,
  // before a single weight is allocated.
  uint64_t floats = static_cast<uint64_t>(model.m_embedding_rows) *
                    static_cast<uint64_t>(model.m_embedding_width);
  for (const Layer& layer : model.m_layers) {
    floats += static_cast<uint64_t>(layer.in) * static_cast<uint64_t>(layer.out) +
              static_cast<uint64_t>(layer.out);
  }
  const uint64_t remaining = bytes.size() - at;
  if (floats * sizeof(float) != remaining) {
    return bad("the header declares " + std::to_string(floats * sizeof(float)) +
               " bytes of weights but " + std::to_string(remaining) + " follow");
  }
  const char* data = bytes.data() + at;
  model.m_embedding.resize(static_cast<size_t>(model.m_embedding_rows) *
                           static_cast<size_t>(model.m_embedding_width));
  std::memcpy(model.m_embedding.data(), data, model.m_embedding.size() * sizeof(float));
  data += model.m_embedding.size() * sizeof(float);
  for (Layer& layer : model.m_layers) {
    const size_t count = static_cast<size_t>(layer.in) * static_cast<size_t>(layer.out);
    std::vector<float> out_major(count);
    std::memcpy(out_major.data(), data, count * sizeof(float));
    data += count * sizeof(float);
    layer.bias.resize(static_cast<size_t>(layer.out));
    std::memcpy(layer.bias.data(), data, layer.bias.size() * sizeof(float));
    data += layer.bias.size() * sizeof(float);
    layer.weights_in_major.resize(count);
    for (int o = 0; o < layer.out; ++o) {
      for (int i = 0; i < layer.in; ++i) {
        layer.weights_in_major[static_cast<size_t>(i) * layer.out + o] =
            out_major[static_cast<size_t>(o) * layer.in + i];
      }
    }
    model.m_widest = std::max({model.m_widest, layer.in, layer.out});
  }
  return model;
}

double MlpModel::Number(const std::string& key) const {
  const auto it = m_numbers.find(key);
  return it == m_numbers.end() ? std::nan("") : it->second;
}

size_t MlpModel::ParameterCount() const {
  size_t n = m_embedding.size();
  for (const Layer& layer : m_layers) n += layer.weights_in_major.size() + layer.bias.size();
  return n;
}

void MlpModel::Predict(const float* input, int64_t rows, float* output) const {
  thread_local std::vector<float> a, b;
  a.resize(static_cast<size_t>(m_widest));
  b.resize(static_cast<size_t>(m_widest));
  const int in_width = InputWidth();
  const int out_width = OutputWidth();
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = input + r * in_width;
    for (int i = 0; i < in_width; ++i) a[static_cast<size_t>(i)] = x[i] * m_input_scale;
    for (const Layer& layer : m_layers) {
      float* y = b.data();
      std::memcpy(y, layer.bias.data(), layer.bias.size() * sizeof(float));
      for (int i = 0; i < layer.in; ++i) {
        const float xi = a[static_cast<size_t>(i)];
        if (xi == 0.0f) continue;  // ReLU outputs and blank pixels are often zero
        const float* w = layer.weights_in_major.data() + static_cast<size_t>(i) * layer.out;
        for (int o = 0; o < layer.out; ++o) y[o] += xi * w[o];
      }
      if (layer.activation == Layer::Activation::kSoftmax) {
        const float top = *std::max_element(y, y + layer.out);
        float sum = 0.0f;
        for (int o = 0; o < layer.out; ++o) sum += (y[o] = std::exp(y[o] - top));
        for (int o = 0; o < layer.out; ++o) y[o] /= sum;
      } else if (layer.activation == Layer::Activation::kTanh) {
        for (int o = 0; o < layer.out; ++o) y[o] = std::tanh(y[o]);
      } else {
        for (int o = 0; o < layer.out; ++o) y[o] = std::max(y[o], 0.0f);
      }
      std::swap(a, b);
    }
    std::memcpy(output + r * out_width, a.data(), static_cast<size_t>(out_width) * sizeof(float));
  }
}

}  // namespace greylane
