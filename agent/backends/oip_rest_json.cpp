#include "agent/backends/oip_rest_json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include <boost/json.hpp>

#include "common/text.h"

namespace greylane {
namespace json = boost::json;

namespace {

constexpr size_t kMaxDepth = 64;
// Elements in one request's tensors together: an 8 MiB body cannot hold
// more than about 4 M numbers, so a shape claiming more is a mistake.
constexpr uint64_t kMaxElements = 16u << 20;

enum class Kind { kBool, kSigned, kUnsigned, kFloat, kBytes };

struct DataType {
  const char* name;
  Kind kind;
  int bytes;  // per element (0 for BYTES)
};

constexpr DataType kDataTypes[] = {
    {"BOOL", Kind::kBool, 1},       {"INT8", Kind::kSigned, 1},     {"INT16", Kind::kSigned, 2},
    {"INT32", Kind::kSigned, 4},    {"INT64", Kind::kSigned, 8},    {"UINT8", Kind::kUnsigned, 1},
    {"UINT16", Kind::kUnsigned, 2}, {"UINT32", Kind::kUnsigned, 4}, {"UINT64", Kind::kUnsigned, 8},
    {"FP16", Kind::kFloat, 2},      {"BF16", Kind::kFloat, 2},      {"FP32", Kind::kFloat, 4},
    {"FP64", Kind::kFloat, 8},      {"BYTES", Kind::kBytes, 0},
};

const DataType* FindDataType(std::string_view name) {
  for (const DataType& t : kDataTypes) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

std::string TypeNames() {
  std::string out;
  for (const DataType& t : kDataTypes) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t ReadLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return value;
}

// Row-major leaves of `data`: either flat (one array of values) or nested
// exactly as the shape says. Ragged or mis-nested data is refused: it
// would silently move row boundaries. Empty when it is neither.
bool Leaves(const json::value& v, const google::protobuf::RepeatedField<int64_t>& shape, int depth,
            std::vector<const json::value*>* out) {
  if (depth == shape.size()) {
    if (v.is_array()) return false;
    out->push_back(&v);
    return true;
  }
  if (!v.is_array() || static_cast<int64_t>(v.as_array().size()) != shape[depth]) return false;
  for (const json::value& e : v.as_array()) {
    if (!Leaves(e, shape, depth + 1, out)) return false;
  }
  return true;
}

bool FlatLeaves(const json::value& v, std::vector<const json::value*>* out) {
  if (!v.is_array()) {
    out->push_back(&v);  // a scalar: one element
    return true;
  }
  for (const json::value& e : v.as_array()) {
    if (e.is_array()) return false;
    out->push_back(&e);
  }
  return true;
}

std::string Shown(const json::value& v) {
  std::string text = json::serialize(v);
  return Quote(text, 40);
}

// One element as raw bytes, or why it cannot be.
std::string EncodeElement(const json::value& v, const DataType& type, std::string* raw) {
  switch (type.kind) {
    case Kind::kBool:
      if (!v.is_bool()) return Shown(v) + " is not true or false";
      raw->push_back(v.as_bool() ? 1 : 0);
      return {};
    case Kind::kSigned: {
      int64_t n;
      if (v.is_int64()) {
        n = v.as_int64();
      } else if (v.is_uint64() && v.as_uint64() <= uint64_t(std::numeric_limits<int64_t>::max())) {
        n = static_cast<int64_t>(v.as_uint64());
      } else {
        return Shown(v) + " is not an integer " + type.name + " holds";
      }
      const int bits = 8 * type.bytes;
      if (bits < 64 && (n < -(int64_t{1} << (bits - 1)) || n >= (int64_t{1} << (bits - 1)))) {
        return Shown(v) + " is outside " + type.name + "'s range";
      }
      AppendLittleEndian(static_cast<uint64_t>(n), type.bytes, raw);
      return {};
    }
    case Kind::kUnsigned: {
      uint64_t n;
      if (v.is_uint64()) {
        n = v.as_uint64();
      } else if (v.is_int64() && v.as_int64() >= 0) {
        n = static_cast<uint64_t>(v.as_int64());
      } else {
        return Shown(v) + " is not an integer " + type.name + " holds";
      }
      if (type.bytes < 8 && n >= (uint64_t{1} << (8 * type.bytes))) {
        return Shown(v) + " is outside " + type.name + "'s range";
      }
      AppendLittleEndian(n, type.bytes, raw);
      return {};
    }
    case Kind::kFloat: {
      if (!v.is_number()) return Shown(v) + " is not a number";
      const double d = v.to_number<double>();
      // JSON has no infinity: a number that rounds to one in the type is a
      // mistake, not a value.
      const float f = static_cast<float>(d);
      const bool bf16 = std::strcmp(type.name, "BF16") == 0;
      const bool fits = type.bytes == 8   ? std::isfinite(d)
                        : type.bytes == 4 ? std::isfinite(f)
                        : bf16            ? (Bfloat16Bits(f) & 0x7f80) != 0x7f80
                                          : (HalfBits(f) & 0x7c00) != 0x7c00;
      if (!fits) return Shown(v) + " is outside " + type.name + "'s range";
      if (type.bytes == 8) {
        uint64_t bits;
        std::memcpy(&bits, &d, 8);
        AppendLittleEndian(bits, 8, raw);
      } else if (type.bytes == 4) {
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        AppendLittleEndian(bits, 4, raw);
      } else {
        AppendLittleEndian(bf16 ? Bfloat16Bits(f) : HalfBits(f), 2, raw);
      }
      return {};
    }
    case Kind::kBytes: {
      if (!v.is_string()) return Shown(v) + " is not a string";
      const json::string& s = v.as_string();
      AppendLittleEndian(s.size(), 4, raw);
      raw->append(s.data(), s.size());
      return {};
    }
  }
  return "unknown type";
}

std::string ReadParameters(const json::value* v, std::string_view where,
                           google::protobuf::Map<std::string, inference::InferParameter>* out) {
  if (!v || v->is_null()) return {};
  if (!v->is_object()) return std::string(where) + "'parameters' must be an object";
  for (const auto& [key, value] : v->as_object()) {
    inference::InferParameter p;
    if (value.is_bool()) {
      p.set_bool_param(value.as_bool());
    } else if (value.is_int64()) {
      p.set_int64_param(value.as_int64());
    } else if (value.is_uint64()) {
      p.set_uint64_param(value.as_uint64());
    } else if (value.is_double()) {
      p.set_double_param(value.as_double());
    } else if (value.is_string()) {
      p.set_string_param(std::string(value.as_string()));
    } else {
      return std::string(where) + "parameter " + Quote(std::string(key)) +
             " must be a string, number or boolean";
    }
    (*out)[std::string(key)] = std::move(p);
  }
  return {};
}

bool AskedBinary(const json::value* parameters) {
  if (!parameters || !parameters->is_object()) return false;
  const json::object& o = parameters->as_object();
  const json::value* b = o.if_contains("binary_data");
  return o.contains("binary_data_size") || (b && b->is_bool() && b->as_bool());
}

std::string ReadInput(const json::value& v, size_t index, uint64_t* elements,
                      inference::ModelInferRequest* out) {
  std::string where = "inputs[" + std::to_string(index) + "]";
  if (!v.is_object()) return where + " must be an object";
  const json::object& o = v.as_object();
  const json::value* name = o.if_contains("name");
  if (!name || !name->is_string() || name->as_string().empty()) {
    return where + " needs a 'name' (a non-empty string)";
  }
  where += " (" + Quote(std::string(name->as_string())) + ")";
  const json::value* datatype = o.if_contains("datatype");
  if (!datatype || !datatype->is_string()) return where + " needs a 'datatype' string";
  const DataType* type = FindDataType(std::string_view(datatype->as_string()));
  if (!type) {
    return where + ": datatype " + Quote(std::string(datatype->as_string())) + " is not one of " +
           TypeNames();
  }
  if (AskedBinary(o.if_contains("parameters"))) {
    return where +
           " uses the binary-data extension; this agent reads tensors as JSON 'data' "
           "only (or send ModelInfer over gRPC)";
  }
  auto* tensor = out->add_inputs();
  tensor->set_name(std::string(name->as_string()));
  tensor->set_datatype(type->name);
  const json::value* shape = o.if_contains("shape");
  if (!shape || !shape->is_array()) return where + " needs a 'shape' (an array of sizes)";
  uint64_t count = 1;
  for (const json::value& d : shape->as_array()) {
    if (!d.is_int64() || d.as_int64() < 0) {
      return where + ": the shape holds " + Shown(d) + "; sizes are whole numbers >= 0";
    }
    const uint64_t dim = static_cast<uint64_t>(d.as_int64());
    if (dim != 0 && count > kMaxElements / dim) {
      return where + ": the shape holds more than " + std::to_string(kMaxElements) + " elements";
    }
    count *= dim;
    tensor->add_shape(d.as_int64());
  }
  *elements += count;
  if (*elements > kMaxElements) {
    return "the inputs hold more than " + std::to_string(kMaxElements) + " elements";
  }
  if (std::string problem =
          ReadParameters(o.if_contains("parameters"), where + ": ", tensor->mutable_parameters());
      !problem.empty()) {
    return problem;
  }
  const json::value* data = o.if_contains("data");
  if (!data) return where + " needs 'data'";
  std::vector<const json::value*> leaves;
  if (!FlatLeaves(*data, &leaves)) {
    leaves.clear();
    if (!Leaves(*data, tensor->shape(), 0, &leaves)) {
      return where +
             ": 'data' is nested unlike the shape; give it flat (row-major) or nested "
             "exactly as the shape";
    }
  }
  if (leaves.size() != count) {
    return where + ": 'data' holds " + std::to_string(leaves.size()) +
           " elements; the shape says " + std::to_string(count);
  }
  std::string* raw = out->add_raw_input_contents();
  raw->reserve(count * static_cast<size_t>(type->bytes ? type->bytes : 8));
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (std::string problem = EncodeElement(*leaves[i], *type, raw); !problem.empty()) {
      return where + ": element " + std::to_string(i) + " " + problem;
    }
  }
  return {};
}

void AppendNumber(double value, bool single, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");  // JSON has no NaN or infinity
    return;
  }
  char text[32];
  const auto end = single ? std::to_chars(text, text + sizeof(text), static_cast<float>(value)).ptr
                          : std::to_chars(text, text + sizeof(text), value).ptr;
  out->append(text, end);
}

template <typename T>
void AppendInteger(T value, std::string* out) {
  char text[24];
  out->append(text, std::to_chars(text, text + sizeof(text), value).ptr);
}

// One raw element as JSON; `p` points at its bytes.
void AppendRawElement(const DataType& type, const char* p, std::string* out) {
  const uint64_t bits = ReadLittleEndian(p, type.bytes);
  switch (type.kind) {
    case Kind::kBool:
      out->append(bits ? "true" : "false");
      return;
    case Kind::kSigned: {
      const int shift = 64 - 8 * type.bytes;
      // Sign-extends the element's top bit.
      AppendInteger(static_cast<int64_t>(bits << shift) >> shift, out);
      return;
    }
    case Kind::kUnsigned:
      AppendInteger(bits, out);
      return;
    case Kind::kFloat:
      if (type.bytes == 8) {
        double d;
        std::memcpy(&d, &bits, 8);
        AppendNumber(d, false, out);
      } else if (type.bytes == 4) {
        const uint32_t b = static_cast<uint32_t>(bits);
        float f;
        std::memcpy(&f, &b, 4);
        AppendNumber(f, true, out);
      } else {
        const auto b = static_cast<uint16_t>(bits);
        AppendNumber(std::strcmp(type.name, "BF16") == 0 ? Bfloat16Value(b) : HalfValue(b), true,
                     out);
      }
      return;
    case Kind::kBytes:
      return;
  }
}

std::string AppendRawData(const DataType& type, std::string_view raw, uint64_t count,
                          std::string* out) {
  if (type.kind == Kind::kBytes) {
    uint64_t seen = 0;
    while (!raw.empty()) {
      if (raw.size() < 4) return "a BYTES element's length is cut short";
      const uint64_t size = ReadLittleEndian(raw.data(), 4);
      raw.remove_prefix(4);
      if (size > raw.size()) return "a BYTES element runs past the end of the output";
      out->append(seen ? "," : "");
      out->append(JsonString(ToValidUtf8(raw.substr(0, size))));
      raw.remove_prefix(size);
      ++seen;
    }
    if (seen != count)
      return std::to_string(seen) + " BYTES elements for a shape of " + std::to_string(count);
    return {};
  }
  if (raw.size() != count * static_cast<uint64_t>(type.bytes)) {
    return std::to_string(raw.size()) + " bytes for " + std::to_string(count) + " " + type.name +
           " elements";
  }
  for (uint64_t i = 0; i < count; ++i) {
    if (i) out->push_back(',');
    AppendRawElement(type, raw.data() + i * type.bytes, out);
  }
  return {};
}

template <typename Repeated, typename Append>
std::string AppendTyped(const Repeated& values, uint64_t count, Append append, std::string* out) {
  if (static_cast<uint64_t>(values.size()) != count) {
    return std::to_string(values.size()) + " values for a shape of " + std::to_string(count);
  }
  for (int i = 0; i < values.size(); ++i) {
    if (i) out->push_back(',');
    append(values.Get(i));
  }
  return {};
}

std::string AppendTypedData(const DataType& type, const inference::InferTensorContents& c,
                            uint64_t count, std::string* out) {
  switch (type.kind) {
    case Kind::kBool:
      return AppendTyped(
          c.bool_contents(), count, [&](bool b) { out->append(b ? "true" : "false"); }, out);
    case Kind::kSigned:
      if (type.bytes == 8) {
        return AppendTyped(
            c.int64_contents(), count, [&](int64_t v) { AppendInteger(v, out); }, out);
      }
      return AppendTyped(
          c.int_contents(), count, [&](int32_t v) { AppendInteger(v, out); }, out);
    case Kind::kUnsigned:
      if (type.bytes == 8) {
        return AppendTyped(
            c.uint64_contents(), count, [&](uint64_t v) { AppendInteger(v, out); }, out);
      }
      return AppendTyped(
          c.uint_contents(), count, [&](uint32_t v) { AppendInteger(v, out); }, out);
    case Kind::kFloat:
      if (type.bytes == 8) {
        return AppendTyped(
            c.fp64_contents(), count, [&](double v) { AppendNumber(v, false, out); }, out);
      }
      if (type.bytes == 4) {
        return AppendTyped(
            c.fp32_contents(), count, [&](float v) { AppendNumber(v, true, out); }, out);
      }
      return std::string(type.name) + " has no typed contents; it must be sent raw";
    case Kind::kBytes:
      return AppendTyped(
          c.bytes_contents(), count,
          [&](const std::string& s) { out->append(JsonString(ToValidUtf8(s))); }, out);
  }
  return "unknown type";
}

void AppendParameters(const google::protobuf::Map<std::string, inference::InferParameter>& map,
                      std::string* out) {
  if (map.empty()) return;
  out->append(",\"parameters\":{");
  bool first = true;
  for (const auto& [key, p] : map) {
    out->append(first ? "" : ",");
    first = false;
    out->append(JsonString(key)).push_back(':');
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        out->append(p.bool_param() ? "true" : "false");
        break;
      case inference::InferParameter::kInt64Param:
        AppendInteger(p.int64_param(), out);
        break;
      case inference::InferParameter::kUint64Param:
        AppendInteger(p.uint64_param(), out);
        break;
      case inference::InferParameter::kDoubleParam:
        AppendNumber(p.double_param(), false, out);
        break;
      case inference::InferParameter::kStringParam:
        out->append(JsonString(p.string_param()));
        break;
      default:
        out->append("null");
    }
  }
  out->push_back('}');
}

}  // namespace

std::string ReadRestInferRequest(std::string_view body, inference::ModelInferRequest* out) {
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value value =
      json::parse(json::string_view(body.data(), body.size()), ec, json::storage_ptr(), options);
  if (ec) return "the body is not valid JSON: " + ec.message();
  if (!value.is_object()) return "the body must be a JSON object";
  const json::object& o = value.as_object();
  if (const json::value* id = o.if_contains("id"); id && !id->is_null()) {
    if (!id->is_string()) return "'id' must be a string";
    out->set_id(std::string(id->as_string()));
  }
  if (std::string problem =
          ReadParameters(o.if_contains("parameters"), "", out->mutable_parameters());
      !problem.empty()) {
    return problem;
  }
  const json::value* inputs = o.if_contains("inputs");
  if (!inputs || !inputs->is_array() || inputs->as_array().empty()) {
    return "'inputs' must be a non-empty array of tensors";
  }
  uint64_t elements = 0;
  for (size_t i = 0; i < inputs->as_array().size(); ++i) {
    if (std::string problem = ReadInput(inputs->as_array()[i], i, &elements, out);
        !problem.empty()) {
      return problem;
    }
  }
  if (const json::value* outputs = o.if_contains("outputs"); outputs && !outputs->is_null()) {
    if (!outputs->is_array()) return "'outputs' must be an array";
    for (size_t i = 0; i < outputs->as_array().size(); ++i) {
      const json::value& v = outputs->as_array()[i];
      const std::string where = "outputs[" + std::to_string(i) + "]";
      const json::value* name = v.is_object() ? v.as_object().if_contains("name") : nullptr;
      if (!name || !name->is_string() || name->as_string().empty()) {
        return where + " needs a 'name' (a non-empty string)";
      }
      const json::value* parameters = v.as_object().if_contains("parameters");
      if (AskedBinary(parameters)) {
        return where + " asks for binary data; this agent answers outputs as JSON only";
      }
      auto* requested = out->add_outputs();
      requested->set_name(std::string(name->as_string()));
      if (std::string problem =
              ReadParameters(parameters, where + ": ", requested->mutable_parameters());
          !problem.empty()) {
        return problem;
      }
    }
  }
  return {};
}

std::string RestInferResponse(const inference::ModelInferResponse& response, std::string* problem) {
  std::string out = "{\"model_name\":" + JsonString(response.model_name()) +
                    ",\"model_version\":" + JsonString(response.model_version());
  if (!response.id().empty()) out += ",\"id\":" + JsonString(response.id());
  AppendParameters(response.parameters(), &out);
  out += ",\"outputs\":[";
  const bool raw = response.raw_output_contents_size() > 0;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& t = response.outputs(i);
    const std::string where = "output " + Quote(t.name()) + ": ";
    const DataType* type = FindDataType(t.datatype());
    if (!type) {
      *problem = where + "datatype " + Quote(t.datatype()) + " is not one the protocol defines";
      return {};
    }
    uint64_t count = 1;
    out += std::string(i ? "," : "") + "{\"name\":" + JsonString(t.name()) +
           ",\"datatype\":" + JsonString(type->name) + ",\"shape\":[";
    for (int k = 0; k < t.shape_size(); ++k) {
      const int64_t dim = t.shape(k);
      if (dim < 0 || (dim != 0 && count > kMaxElements / static_cast<uint64_t>(dim))) {
        *problem = where + "its shape is not a size (" + std::to_string(dim) + ")";
        return {};
      }
      count *= static_cast<uint64_t>(dim);
      if (k) out.push_back(',');
      AppendInteger(dim, &out);
    }
    out += "]";
    AppendParameters(t.parameters(), &out);
    out += ",\"data\":[";
    std::string wrong;
    if (raw) {
      wrong = i < response.raw_output_contents_size()
                  ? AppendRawData(*type, response.raw_output_contents(i), count, &out)
                  : "no raw contents";
    } else {
      wrong = AppendTypedData(*type, t.contents(), count, &out);
    }
    if (!wrong.empty()) {
      *problem = where + wrong;
      return {};
    }
    out += "]}";
  }
  return out + "]}";
}

std::string RestErrorBody(std::string_view message) {
  return "{\"error\":" + JsonString(message) + "}";
}

uint16_t HalfBits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t exponent = (x >> 23) & 0xff;
  uint32_t mantissa = x & 0x7fffff;
  if (exponent == 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);  // inf, NaN
  const int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31) return sign | 0x7c00;  // too large: infinity
  if (e <= 0) {
    if (e < -10) return sign;  // below the smallest subnormal: zero
    mantissa |= 0x800000;
    const int shift = 14 - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // may carry into the exponent
  return static_cast<uint16_t>(sign | half);
}

float HalfValue(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  const uint32_t mantissa = bits & 0x3ff;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    value =
        mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400), static_cast<int>(exponent) - 25);
  }
  uint32_t x;
  std::memcpy(&x, &value, 4);
  x |= sign;
  std::memcpy(&value, &x, 4);
  return value;
}

uint16_t Bfloat16Bits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // NaN
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

float Bfloat16Value(uint16_t bits) {
  const uint32_t x = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &x, 4);
  return value;
}

}  // namespace greylane
