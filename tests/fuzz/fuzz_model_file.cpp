// libFuzzer: a built-in model file. Parsing never allocates more than the
// bytes present justify (a header declaring a huge layer once ended in
// std::bad_alloc), and a model that loads can predict.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "agent/backends/mlp_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto model = greylane::MlpModel::Parse(bytes, "fuzz.glm");
  if (!model.ok()) return 0;
  if (model->ParameterCount() * sizeof(float) > size) __builtin_trap();
  std::vector<float> input(static_cast<size_t>(model->InputWidth()), 1.0f);
  std::vector<float> output(static_cast<size_t>(model->OutputWidth()));
  model->Predict(input.data(), 1, output.data());
  return 0;
}
