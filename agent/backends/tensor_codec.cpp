#include "agent/backends/tensor_codec.h"

#include <cstring>

namespace greylane {
namespace {
std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape) {
  std::string text = "[";
  for (int i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}
}  // namespace

std::string DecodeFp32Input(const inference::ModelInferRequest& request, const Fp32InputSpec& spec,
                            std::vector<float>* scratch, Fp32Matrix* out) {
  const std::string expected =
      "the model takes one input '" + spec.name + "' FP32 [-1," + std::to_string(spec.width) + "]";
  if (request.inputs_size() != 1) {
    return "expected 1 input tensor, got " + std::to_string(request.inputs_size()) + "; " +
           expected;
  }
  const auto& input = request.inputs(0);
  if (input.name() != spec.name) return "unknown input '" + input.name() + "'; " + expected;
  if (input.datatype() != "FP32") {
    return "input '" + input.name() + "' has datatype '" + input.datatype() + "'; " + expected;
  }
  const auto& shape = input.shape();
  if (shape.size() != 2 || shape[1] != spec.width || shape[0] < 1) {
    return "input '" + input.name() + "' has shape " + ShapeText(shape) + "; " + expected;
  }
  if (shape[0] > spec.max_rows) {
    return "input '" + input.name() + "' has " + std::to_string(shape[0]) + " rows; at most " +
           std::to_string(spec.max_rows) + " per request";
  }
  const int64_t rows = shape[0];
  const size_t count = static_cast<size_t>(rows * spec.width);
  const bool has_raw = request.raw_input_contents_size() > 0;
  const bool has_typed = input.has_contents() && (input.contents().fp32_contents_size() > 0 ||
                                                  input.contents().ByteSizeLong() > 0);
  if (has_raw && has_typed) {
    return "input '" + input.name() +
           "' has both raw_input_contents and contents; send the data one way";
  }
  if (has_raw) {
    if (request.raw_input_contents_size() != 1) {
      return "raw_input_contents has " + std::to_string(request.raw_input_contents_size()) +
             " entries for 1 input";
    }
    const std::string& raw = request.raw_input_contents(0);
    if (raw.size() != count * sizeof(float)) {
      return "input '" + input.name() + "' with shape " + ShapeText(shape) + " needs " +
             std::to_string(count * sizeof(float)) + " bytes of raw data, got " +
             std::to_string(raw.size());
    }
    if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(float) == 0) {
      out->data = reinterpret_cast<const float*>(raw.data());
    } else {
      scratch->resize(count);
      std::memcpy(scratch->data(), raw.data(), raw.size());
      out->data = scratch->data();
    }
    out->raw = true;
  } else {
    const auto& values = input.contents().fp32_contents();
    if (values.empty()) return "input '" + input.name() + "' has no data";
    if (static_cast<size_t>(values.size()) != count) {
      return "input '" + input.name() + "' with shape " + ShapeText(shape) + " needs " +
             std::to_string(count) + " FP32 values, got " + std::to_string(values.size());
    }
    out->data = values.data();
    out->raw = false;
  }
  out->rows = rows;
  return {};
}

std::string CheckRequestedOutputs(const inference::ModelInferRequest& request,
                                  const std::string& output_name) {
  for (const auto& output : request.outputs()) {
    if (output.name() != output_name) {
      return "unknown output '" + output.name() + "'; the model's output is '" + output_name + "'";
    }
  }
  return {};
}

float* AddFp32Output(inference::ModelInferResponse* response, const std::string& name, int64_t rows,
                     int64_t width, bool raw) {
  auto* tensor = response->add_outputs();
  tensor->set_name(name);
  tensor->set_datatype("FP32");
  tensor->add_shape(rows);
  tensor->add_shape(width);
  const size_t count = static_cast<size_t>(rows * width);
  if (raw) {
    std::string* bytes = response->add_raw_output_contents();
    bytes->resize(count * sizeof(float));
    return reinterpret_cast<float*>(bytes->data());
  }
  auto* values = tensor->mutable_contents()->mutable_fp32_contents();
  values->Resize(static_cast<int>(count), 0.0f);
  return values->mutable_data();
}

}  // namespace greylane
