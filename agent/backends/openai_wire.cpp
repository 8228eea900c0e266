#include "agent/backends/openai_wire.h"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

namespace greylane {
namespace json = boost::json;

namespace {
constexpr size_t kMaxDepth = 64;

std::optional<json::value> ParseBounded(std::string_view text, std::string* problem) {
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value value =
      json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), options);
  if (ec) {
    if (problem) *problem = "the body is not valid JSON: " + ec.message();
    return std::nullopt;
  }
  return value;
}
}  // namespace

std::optional<OpenAiRequest> ParseOpenAiRequest(std::string_view body, std::string* problem,
                                                bool with_input) {
  std::optional<json::value> value = ParseBounded(body, problem);
  if (!value) return std::nullopt;
  if (!value->is_object()) {
    *problem = "the body must be a JSON object";
    return std::nullopt;
  }
  const json::object& o = value->as_object();
  OpenAiRequest request;
  auto text = [&](const char* key, std::string* out) {
    const json::value* v = o.if_contains(key);
    if (!v || v->is_null()) return true;
    if (!v->is_string()) {
      *problem = std::string("'") + key + "' must be a string";
      return false;
    }
    *out = std::string(v->as_string());
    return true;
  };
  if (!text("model", &request.model) || !text("user", &request.user)) return std::nullopt;
  if (const json::value* v = o.if_contains("stream"); v && !v->is_null()) {
    if (!v->is_bool()) {
      *problem = "'stream' must be true or false";
      return std::nullopt;
    }
    request.stream = v->as_bool();
  }
  // Sampling settings of the wrong type are refused, not ignored: a client
  // sending "max_tokens": "50" would otherwise get an answer it did not ask for.
  for (const char* key : {"max_tokens", "max_completion_tokens", "n", "seed"}) {
    const json::value* v = o.if_contains(key);
    if (v && !v->is_null() && !v->is_int64() && !v->is_uint64()) {
      *problem = std::string("'") + key + "' must be a whole number";
      return std::nullopt;
    }
  }
  for (const char* key : {"max_tokens", "max_completion_tokens", "n"}) {
    const json::value* v = o.if_contains(key);
    if (v && v->is_int64() && v->as_int64() < 0) {
      *problem = std::string("'") + key + "' must not be negative";
      return std::nullopt;
    }
  }
  for (const char* key : {"temperature", "top_p", "presence_penalty", "frequency_penalty"}) {
    const json::value* v = o.if_contains(key);
    if (v && !v->is_null() && !v->is_number()) {
      *problem = std::string("'") + key + "' must be a number";
      return std::nullopt;
    }
  }
  for (const char* key : {"messages", "prompt", "input"}) {
    if (!with_input) break;
    if (const json::value* v = o.if_contains(key)) {
      request.input = json::serialize(*v);
      break;
    }
  }
  if (const json::value* v = o.if_contains("stream_options"); v && v->is_object()) {
    if (const json::value* u = v->as_object().if_contains("include_usage"); u && u->is_bool()) {
      request.include_usage = u->as_bool();
    }
  }
  return request;
}

std::string WithModel(std::string_view body, std::string_view model) {
  std::optional<json::value> value = ParseBounded(body, nullptr);
  if (!value || !value->is_object()) return std::string(body);
  value->as_object()["model"] = json::string(model.data(), model.size());
  return json::serialize(*value);
}

std::string OpenAiErrorBody(std::string_view message, std::string_view type,
                            std::string_view code) {
  json::object error;
  error["message"] = json::string(message.data(), message.size());
  error["type"] = json::string(type.data(), type.size());
  error["param"] = nullptr;
  error["code"] = json::string(code.data(), code.size());
  json::object body;
  body["error"] = std::move(error);
  return json::serialize(body);
}

std::string OpenAiErrorEvent(std::string_view message, std::string_view type) {
  return "data: " + OpenAiErrorBody(message, type, type) + "\n\n";
}

StreamEvent ReadStreamEvent(std::string_view event) {
  StreamEvent out;
  std::string data;
  bool any_data = false;
  for (size_t at = 0; at < event.size();) {
    size_t end = event.find('\n', at);
    if (end == std::string_view::npos) end = event.size();
    std::string_view line = event.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    at = end + 1;
    if (line.empty()) continue;
    if (line.front() == ':') {
      out.comment = true;
      continue;
    }
    if (line.substr(0, 5) == "data:") {
      std::string_view d = line.substr(5);
      if (!d.empty() && d.front() == ' ') d.remove_prefix(1);
      if (any_data) data += '\n';
      data.append(d);
      any_data = true;
    }
  }
  if (!any_data) return out;
  if (data == "[DONE]") {
    out.done = true;
    return out;
  }
  return ReadAnswer(data);
}

StreamEvent ReadAnswer(std::string_view data) {
  StreamEvent out;
  std::optional<json::value> value = ParseBounded(data, nullptr);
  if (!value || !value->is_object()) return out;
  out.object = true;
  const json::object& o = value->as_object();
  out.error = o.contains("error");
  if (const json::value* usage = o.if_contains("usage"); usage && usage->is_object()) {
    out.prompt_tokens = JsonInt(usage->as_object(), "prompt_tokens", -1);
    out.completion_tokens = JsonInt(usage->as_object(), "completion_tokens", -1);
  }
  const json::value* choices = o.if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty()) return out;
  const json::value& first = choices->as_array().front();
  if (!first.is_object()) return out;
  const json::object& choice = first.as_object();
  auto has_text = [](const json::value* v) {
    return v && v->is_string() && !v->as_string().empty();
  };
  if (const json::value* delta = choice.if_contains("delta"); delta && delta->is_object()) {
    const json::object& d = delta->as_object();
    out.content = has_text(d.if_contains("content")) ||
                  has_text(d.if_contains("reasoning_content")) ||
                  (d.contains("tool_calls") && !d.at("tool_calls").is_null());
  }
  out.content = out.content || has_text(choice.if_contains("text"));
  if (const json::value* f = choice.if_contains("finish_reason"); f && f->is_string()) {
    out.finish_reason = std::string(f->as_string());
  }
  return out;
}

bool SseSplitter::Feed(std::string_view bytes, std::vector<std::string>* events) {
  m_pending.append(bytes);
  while (true) {
    // Start a little back so a blank line split across two reads is found.
    const size_t from = m_scanned >= 3 ? m_scanned - 3 : 0;
    const size_t lf = m_pending.find("\n\n", from);
    const size_t crlf = m_pending.find("\r\n\r\n", from);
    const size_t end = std::min(lf == std::string::npos ? lf : lf + 2,
                                crlf == std::string::npos ? crlf : crlf + 4);
    if (end == std::string::npos) {
      m_scanned = m_pending.size();
      return m_pending.size() <= kMaxEventBytes;
    }
    events->push_back(m_pending.substr(0, end));
    m_pending.erase(0, end);
    m_scanned = 0;
  }
}

std::string SseSplitter::TakeRest() {
  m_scanned = 0;
  return std::exchange(m_pending, {});
}

int64_t JsonInt(const json::object& o, std::string_view key, int64_t fallback) {
  const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
  if (!v) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v->as_uint64());
  return fallback;
}

double JsonDouble(const json::object& o, std::string_view key, double fallback) {
  const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
  if (!v) return fallback;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return fallback;
}

}  // namespace greylane
