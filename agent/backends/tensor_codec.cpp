#include "agent/backends/tensor_codec.h"

#include <cstring>
#include <utility>

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

namespace {
// A score read or written where it lies, whatever the alignment.
template <typename T>
T ScoreAt(const char* bytes, size_t index) {
  T value;
  std::memcpy(&value, bytes + index * sizeof(T), sizeof(T));
  return value;
}
}  // namespace

ClassScores FindClassScores(const inference::ModelInferResponse& response) {
  ClassScores s;
  if (response.outputs_size() < 1) return s;
  const auto& out = response.outputs(0);
  const bool fp64 = out.datatype() == "FP64";
  if (!fp64 && out.datatype() != "FP32") return s;
  int64_t rows = 1, classes = 0;
  if (out.shape_size() == 2) {
    rows = out.shape(0);
    classes = out.shape(1);
  } else if (out.shape_size() == 1) {
    classes = out.shape(0);
  }
  if (rows < 1 || classes < 2 || rows > (int64_t{1} << 24) || classes > (int64_t{1} << 24))
    return s;
  const size_t count = static_cast<size_t>(rows * classes);
  if (response.raw_output_contents_size() > 0) {
    const std::string& raw = response.raw_output_contents(0);
    if (raw.size() != count * (fp64 ? sizeof(double) : sizeof(float))) return s;
    s.bytes = raw.data();
  } else {
    const size_t have = fp64 ? static_cast<size_t>(out.contents().fp64_contents_size())
                             : static_cast<size_t>(out.contents().fp32_contents_size());
    if (have != count) return s;
  }
  s.rows = rows;
  s.classes = classes;
  s.fp64 = fp64;
  return s;
}

int TopClass(const inference::ModelInferResponse& response, const ClassScores& s, int64_t row) {
  const auto& contents = response.outputs(0).contents();
  auto score = [&](int64_t c) -> double {
    const size_t i = static_cast<size_t>(row * s.classes + c);
    if (s.bytes) return s.fp64 ? ScoreAt<double>(s.bytes, i) : ScoreAt<float>(s.bytes, i);
    return s.fp64 ? contents.fp64_contents(static_cast<int>(i))
                  : contents.fp32_contents(static_cast<int>(i));
  };
  int64_t best = 0;
  double best_score = score(0);
  for (int64_t c = 1; c < s.classes; ++c) {
    const double v = score(c);
    if (v > best_score) {  // a NaN never wins
      best = c;
      best_score = v;
    }
  }
  return static_cast<int>(best);
}

void MoveTopClass(inference::ModelInferResponse* response, const ClassScores& s, int64_t row) {
  const int64_t top = TopClass(*response, s, row);
  const size_t a = static_cast<size_t>(row * s.classes + top);
  const size_t b = static_cast<size_t>(row * s.classes + (top + 1) % s.classes);
  if (s.bytes) {
    // The scores are in raw_output_contents(0), which `s.bytes` points into.
    char* bytes = response->mutable_raw_output_contents(0)->data();
    const size_t width = s.fp64 ? sizeof(double) : sizeof(float);
    char swap[sizeof(double)];
    std::memcpy(swap, bytes + a * width, width);
    std::memcpy(bytes + a * width, bytes + b * width, width);
    std::memcpy(bytes + b * width, swap, width);
    return;
  }
  auto* contents = response->mutable_outputs(0)->mutable_contents();
  if (s.fp64) {
    auto* v = contents->mutable_fp64_contents();
    std::swap(*v->Mutable(static_cast<int>(a)), *v->Mutable(static_cast<int>(b)));
  } else {
    auto* v = contents->mutable_fp32_contents();
    std::swap(*v->Mutable(static_cast<int>(a)), *v->Mutable(static_cast<int>(b)));
  }
}

}  // namespace greylane
