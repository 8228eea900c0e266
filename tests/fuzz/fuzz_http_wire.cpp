// libFuzzer: what the HTTP data plane reads from outside besides the HTTP
// framing (which Boost.Beast parses): request bodies (ParseOpenAiRequest,
// WithModel), upstream streams (SseSplitter, ReadStreamEvent) and upstream
// URLs (ParseHttpUrl), and OIP REST inference bodies (ReadRestInferRequest,
// then the tensors written back by RestInferResponse). For any bytes:
// nothing crashes; the splitter hands back every byte it was fed, in order,
// however the bytes are cut; no event it returns lacks its blank line;
// WithModel keeps a JSON object an object; a REST request that is read has
// one raw input per tensor, and its tensors echoed back write as JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/backends/oip_rest_json.h"
#include "agent/backends/openai_http_backend.h"
#include "agent/backends/openai_wire.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string problem;
  if (const auto request = greylane::ParseOpenAiRequest(text, &problem)) {
    const std::string rewritten = greylane::WithModel(text, "m");
    std::string again;
    Check(greylane::ParseOpenAiRequest(rewritten, &again).has_value());
  } else {
    Check(!problem.empty());
  }
  (void)greylane::ParseHttpUrl(text);

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
