// libFuzzer: what the HTTP data plane reads from outside besides the HTTP
// framing (which Boost.Beast parses): request bodies (ParseOpenAiRequest,
// WithModel), upstream streams (SseSplitter, ReadStreamEvent) and upstream
// URLs (ParseHttpUrl), and OIP REST inference bodies (ReadRestInferRequest,
// then the tensors written back by RestInferResponse). For any bytes:
// nothing crashes; the splitter hands back every byte it was fed, in order,
// however the bytes are cut; no event it returns lacks its blank line;
// WithModel keeps a JSON object an object; a REST request that is read has
// one raw input per tensor, and its tensors echoed back write as JSON;
// ReadAnswer and ParseOpenAiRequest (which read without building a tree)
// find exactly what a reading of the parsed tree finds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "agent/backends/oip_rest_json.h"
#include "agent/backends/openai_http_backend.h"
#include "agent/backends/openai_wire.h"

namespace {
namespace json = boost::json;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// The oracle: the same figures read from a parsed tree (duplicate keys:
// the last one stays, as Boost.JSON keeps it).
greylane::StreamEvent TreeAnswer(std::string_view text) {
  greylane::StreamEvent out;
  json::parse_options options;
  options.max_depth = 64;
  options.allow_invalid_utf8 = true;  // an answer's text is relayed as it is
  boost::system::error_code ec;
  const json::value value =
      json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec || !value.is_object()) return out;
  out.object = true;
  const json::object& o = value.as_object();
  out.error = o.contains("error");
  auto count = [](const json::value* v) -> int64_t {
    int64_t n = -1;
    if (v && v->is_int64()) n = v->as_int64();
    if (v && v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
      n = static_cast<int64_t>(v->as_uint64());
    return n > greylane::kMaxTokenCount ? -1 : n;
  };
  if (const json::value* usage = o.if_contains("usage"); usage && usage->is_object()) {
    out.prompt_tokens = count(usage->as_object().if_contains("prompt_tokens"));
    out.completion_tokens = count(usage->as_object().if_contains("completion_tokens"));
  }
  const json::value* choices = o.if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty() ||
      !choices->as_array().front().is_object())
    return out;
  const json::object& choice = choices->as_array().front().as_object();
  auto text_in = [](const json::value* v) {
    return v && v->is_string() && !v->as_string().empty();
  };
  if (const json::value* delta = choice.if_contains("delta"); delta && delta->is_object()) {
    const json::object& d = delta->as_object();
    const json::value* tools = d.if_contains("tool_calls");
    out.content = text_in(d.if_contains("content")) ||
                  text_in(d.if_contains("reasoning_content")) || (tools && !tools->is_null());
  }
  out.content = out.content || text_in(choice.if_contains("text"));
  if (const json::value* f = choice.if_contains("finish_reason"); f && f->is_string()) {
    out.finish_reason = std::string(f->as_string());
  }
  return out;
}

void CheckAnswer(std::string_view text) {
  const greylane::StreamEvent read = greylane::ReadAnswer(text);
  const greylane::StreamEvent tree = TreeAnswer(text);
  Check(read.object == tree.object && read.content == tree.content && read.error == tree.error &&
        read.prompt_tokens == tree.prompt_tokens &&
        read.completion_tokens == tree.completion_tokens &&
        read.finish_reason == tree.finish_reason);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string problem;
  const auto request = greylane::ParseOpenAiRequest(text, &problem);
  if (request) {
    const std::string rewritten = greylane::WithModel(text, "m");
    std::string again;
    Check(greylane::ParseOpenAiRequest(rewritten, &again).has_value());
  } else {
    Check(!problem.empty());
  }
  // Read without a tree (no input wanted) and through one (input wanted):
  // the same fields, or the same message.
  std::string tree_problem;
  const auto tree = greylane::ParseOpenAiRequest(text, &tree_problem, true);
  Check(request.has_value() == tree.has_value());
  if (request) {
    Check(request->model == tree->model && request->user == tree->user &&
          request->stream == tree->stream && request->include_usage == tree->include_usage);
  } else {
    Check(problem == tree_problem);
  }
  (void)greylane::ParseHttpUrl(text);
  CheckAnswer(text);

  inference::ModelInferRequest infer;
  if (greylane::ReadRestInferRequest(text, &infer).empty()) {
    Check(infer.inputs_size() == infer.raw_input_contents_size());
    inference::ModelInferResponse echo;
    for (int i = 0; i < infer.inputs_size(); ++i) {
      auto* out = echo.add_outputs();
      out->set_name(infer.inputs(i).name());
      out->set_datatype(infer.inputs(i).datatype());
      *out->mutable_shape() = infer.inputs(i).shape();
      echo.add_raw_output_contents(infer.raw_input_contents(i));
    }
    std::string wrong;
    Check(!greylane::RestInferResponse(echo, &wrong).empty() && wrong.empty());
  }

  // The same bytes cut at a step taken from the first byte.
  const size_t step = size == 0 ? 1 : 1 + data[0] % 17;
  greylane::SseSplitter splitter;
  std::vector<std::string> events;
  std::string joined;
  bool bounded = true;
  for (size_t at = 0; at < size && bounded; at += step) {
    bounded = splitter.Feed(std::string_view(text).substr(at, step), &events);
  }
  for (const std::string& e : events) {
    Check(e.size() >= 2 && e.back() == '\n');
    (void)greylane::ReadStreamEvent(e);
    joined += e;
  }
  joined += splitter.TakeRest();
  if (bounded) Check(joined == text);
  return 0;
}
