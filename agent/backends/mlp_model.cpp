#include "agent/backends/mlp_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace greylane {

MlpModel MlpModel::Load(const std::string& path, std::string* error) {
  MlpModel model;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = "cannot open model file '" + path + "'";
    return {};
  }
  std::string line;
  if (!std::getline(file, line) || line != "greylane-mlp 1") {
    *error = "'" + path + "' is not a greylane-mlp 1 model file";
    return {};
  }
  size_t declared_layers = 0;
  while (std::getline(file, line) && line != "end") {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "model") {
      in >> model.m_model;
    } else if (key == "version") {
      in >> model.m_version;
    } else if (key == "input_scale") {
      in >> model.m_input_scale;
    } else if (key == "layers") {
      in >> declared_layers;
    } else if (key == "dense") {
      Layer layer;
      std::string activation;
      in >> layer.in >> layer.out >> activation;
      if (layer.in <= 0 || layer.out <= 0 || layer.in > 65536 || layer.out > 65536 ||
          (activation != "relu" && activation != "softmax")) {
        *error = "'" + path + "': bad layer line '" + line + "'";
        return {};
      }
      layer.softmax = activation == "softmax";
      model.m_layers.push_back(std::move(layer));
    }
    if (in.fail()) {
      *error = "'" + path + "': cannot parse header line '" + line + "'";
      return {};
    }
  }
  if (line != "end" || model.m_layers.empty() || declared_layers != model.m_layers.size()) {
    *error = "'" + path + "': header is incomplete (layers, dense lines, end)";
    return {};
  }
  for (size_t i = 1; i < model.m_layers.size(); ++i) {
    if (model.m_layers[i].in != model.m_layers[i - 1].out) {
      *error = "'" + path + "': layer " + std::to_string(i) + " does not fit the previous one";
      return {};
    }
  }
  for (Layer& layer : model.m_layers) {
    std::vector<float> out_major(static_cast<size_t>(layer.in) * layer.out);
    layer.bias.resize(static_cast<size_t>(layer.out));
    file.read(reinterpret_cast<char*>(out_major.data()),
              static_cast<std::streamsize>(out_major.size() * sizeof(float)));
    file.read(reinterpret_cast<char*>(layer.bias.data()),
              static_cast<std::streamsize>(layer.bias.size() * sizeof(float)));
    if (!file) {
      *error = "'" + path + "': weights are truncated";
      return {};
    }
    layer.weights_in_major.resize(out_major.size());
    for (int o = 0; o < layer.out; ++o) {
      for (int i = 0; i < layer.in; ++i) {
        layer.weights_in_major[static_cast<size_t>(i) * layer.out + o] =
            out_major[static_cast<size_t>(o) * layer.in + i];
      }
    }
    model.m_widest = std::max({model.m_widest, layer.in, layer.out});
  }
  if (file.peek() != std::char_traits<char>::eof()) {
    *error = "'" + path + "': unexpected bytes after the weights";
    return {};
  }
  error->clear();
  return model;
}

size_t MlpModel::ParameterCount() const {
  size_t n = 0;
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
      if (layer.softmax) {
        const float top = *std::max_element(y, y + layer.out);
        float sum = 0.0f;
        for (int o = 0; o < layer.out; ++o) sum += (y[o] = std::exp(y[o] - top));
        for (int o = 0; o < layer.out; ++o) y[o] /= sum;
      } else {
        for (int o = 0; o < layer.out; ++o) y[o] = std::max(y[o], 0.0f);
      }
      std::swap(a, b);
    }
    std::memcpy(output + r * out_width, a.data(), static_cast<size_t>(out_width) * sizeof(float));
  }
}

}  // namespace greylane
