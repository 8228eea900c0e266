#include "agent/backends/openai_wire.h"

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace greylane {
namespace json = boost::json;

namespace {
constexpr size_t kMaxDepth = 64;

json::parse_options BoundedOptions() {
  json::parse_options options;
  options.max_depth = kMaxDepth;
  return options;
}

// Parsed into `storage`: a request body or an answer is parsed once per
// request (a stream's every event), and with the default storage its heap
// allocations were most of a parse's cost; the callers give a monotonic
// resource that starts in a buffer on their stack.
std::optional<json::value> ParseBounded(std::string_view text, std::string* problem,
                                        json::storage_ptr storage) {
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec,
                                  std::move(storage), BoundedOptions());
  if (ec) {
    if (problem) *problem = "the body is not valid JSON: " + ec.message();
    return std::nullopt;
  }
  return value;
}

// Stack room for a typical request or answer's values.
constexpr size_t kScratchBytes = 4096;

// What every SAX handler here shares: no limits past the parser's own, and
// nothing to do at the document's ends, for number fragments or comments.
struct SaxHandler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};

// Runs a whole text through a SAX parser: the error json::parse would give
// for it (extra data after the value, an incomplete one), or none.
template <typename Handler>
boost::system::error_code ReadWhole(json::basic_parser<Handler>& parser, std::string_view text) {
  boost::system::error_code ec;
  const size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (!ec && !parser.done()) ec = json::error::incomplete;
  return ec;
}

// The routed fields of a request body, read as the parser meets them,
// building no tree: every request on the HTTP plane is read so, where the
// tree and its lookups cost more than the rest of the request's own work.
// The last of a repeated key counts, as in a parsed tree; what a field
// must be is judged at the end, in the tree reading's order, so both give
// the same answer and the same message (fuzz_http_wire compares them).
class RequestFields : public SaxHandler {
 public:
  enum class Kind : uint8_t { kAbsent, kNull, kString, kBool, kInt64, kUint64, kDouble, kOther };
  enum Key : uint8_t {
    kModel,
    kUser,
    kStream,
    kMaxTokens,
    kMaxCompletionTokens,
    kN,
    kSeed,
    kTemperature,
    kTopP,
    kPresencePenalty,
    kFrequencyPenalty,
    kKeyCount,
    kStreamOptions = kKeyCount,  // read apart: only its include_usage matters
    kNone,
  };
  struct Field {
    Kind kind = Kind::kAbsent;
    bool flag = false;  // a bool's value
    int64_t number = 0;
  };

  std::array<Field, kKeyCount> fields;
  std::string model;
  std::string user;
  bool root_object = false;
  bool include_usage = false;

  bool on_object_begin(boost::system::error_code&) {
    if (m_depth == 0) root_object = true;
    const Key key = Value(Kind::kOther);
    ++m_depth;
    if (m_depth == 2 && key == kStreamOptions) m_in_stream_options = true;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    if (--m_depth == 1) m_in_stream_options = false;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    Value(Kind::kOther);
    ++m_depth;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --m_depth;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (m_depth <= 2) m_key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    std::string_view key(s.data(), s.size());
    if (!m_key.empty()) key = m_key.append(s.data(), s.size());
    if (m_depth == 1 && root_object) {
      m_next = RootKey(key);
      if (m_next == kStreamOptions) include_usage = false;  // this one's value decides
    } else if (m_depth == 2 && m_in_stream_options) {
      m_usage_next = key == "include_usage";
      if (m_usage_next) include_usage = false;
    }
    m_key.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!m_in_string) {
      m_in_string = true;
      m_string_key = Value(Kind::kString);
    }
    Text(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!m_in_string) m_string_key = Value(Kind::kString);
    m_in_string = false;
    Text(s);
    m_string_key = kNone;
    return true;
  }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    Value(Kind::kInt64, false, i);
    return true;
  }
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code&) {
    Value(Kind::kUint64);
    return true;
  }
  bool on_double(double, json::string_view, boost::system::error_code&) {
    Value(Kind::kDouble);
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    Value(Kind::kBool, b);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    Value(Kind::kNull);
    return true;
  }

 private:
  static Key RootKey(std::string_view key) {
    static constexpr std::pair<std::string_view, Key> kKeys[] = {
        {"model", kModel},
        {"user", kUser},
        {"stream", kStream},
        {"max_tokens", kMaxTokens},
        {"max_completion_tokens", kMaxCompletionTokens},
        {"n", kN},
        {"seed", kSeed},
        {"temperature", kTemperature},
        {"top_p", kTopP},
        {"presence_penalty", kPresencePenalty},
        {"frequency_penalty", kFrequencyPenalty},
        {"stream_options", kStreamOptions},
    };
    for (const auto& [name, k] : kKeys) {
      if (key == name) return k;
    }
    return kNone;
  }

  // A value starts: the root key it belongs to (kNone for any other).
  Key Value(Kind kind, bool flag = false, int64_t number = 0) {
    if (m_depth == 2 && m_usage_next) {
      m_usage_next = false;
      if (kind == Kind::kBool) include_usage = flag;
    }
    if (m_depth != 1) return kNone;
    const Key key = std::exchange(m_next, kNone);
    if (key < kKeyCount) fields[key] = {kind, flag, number};
    if (key == kModel) model.clear();
    if (key == kUser) user.clear();
    return key;
  }
  void Text(json::string_view s) {
    if (m_string_key == kModel) model.append(s.data(), s.size());
    if (m_string_key == kUser) user.append(s.data(), s.size());
  }

  std::string m_key;
  size_t m_depth = 0;
  Key m_next = kNone;  // the root key whose value comes next
  Key m_string_key = kNone;
  bool m_in_string = false;
  bool m_in_stream_options = false;  // inside the root's (last) stream_options object
  bool m_usage_next = false;         // its include_usage value comes next
};

// The same reading through a parsed tree: for when the request log wants
// the input as JSON text.
std::optional<OpenAiRequest> ParseOpenAiRequestTree(std::string_view body, std::string* problem) {
  unsigned char scratch[kScratchBytes];
  json::monotonic_resource resource(scratch, sizeof scratch);
  std::optional<json::value> value = ParseBounded(body, problem, &resource);
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

}  // namespace

std::optional<OpenAiRequest> ParseOpenAiRequest(std::string_view body, std::string* problem,
                                                bool with_input) {
  if (with_input) return ParseOpenAiRequestTree(body, problem);
  json::basic_parser<RequestFields> parser(BoundedOptions());
  if (const boost::system::error_code ec = ReadWhole(parser, body)) {
    *problem = "the body is not valid JSON: " + ec.message();
    return std::nullopt;
  }
  RequestFields& f = parser.handler();
  if (!f.root_object) {
    *problem = "the body must be a JSON object";
    return std::nullopt;
  }
  using Kind = RequestFields::Kind;
  auto given = [&](RequestFields::Key k) {
    return f.fields[k].kind != Kind::kAbsent && f.fields[k].kind != Kind::kNull;
  };
  auto refuse = [&](std::string_view key, std::string_view what) {
    *problem = "'" + std::string(key) + "' " + std::string(what);
    return std::nullopt;
  };
  OpenAiRequest request;
  if (given(RequestFields::kModel) && f.fields[RequestFields::kModel].kind != Kind::kString) {
    return refuse("model", "must be a string");
  }
  if (given(RequestFields::kUser) && f.fields[RequestFields::kUser].kind != Kind::kString) {
    return refuse("user", "must be a string");
  }
  if (given(RequestFields::kModel)) request.model = std::move(f.model);
  if (given(RequestFields::kUser)) request.user = std::move(f.user);
  if (given(RequestFields::kStream)) {
    if (f.fields[RequestFields::kStream].kind != Kind::kBool) {
      *problem = "'stream' must be true or false";
      return std::nullopt;
    }
    request.stream = f.fields[RequestFields::kStream].flag;
  }
  static constexpr std::pair<std::string_view, RequestFields::Key> kWhole[] = {
      {"max_tokens", RequestFields::kMaxTokens},
      {"max_completion_tokens", RequestFields::kMaxCompletionTokens},
      {"n", RequestFields::kN},
      {"seed", RequestFields::kSeed}};
  for (const auto& [name, k] : kWhole) {
    const Kind kind = f.fields[k].kind;
    if (given(k) && kind != Kind::kInt64 && kind != Kind::kUint64) {
      return refuse(name, "must be a whole number");
    }
  }
  for (const auto& [name, k] : std::span(kWhole).first(3)) {
    if (f.fields[k].kind == Kind::kInt64 && f.fields[k].number < 0) {
      return refuse(name, "must not be negative");
    }
  }
  static constexpr std::pair<std::string_view, RequestFields::Key> kNumbers[] = {
      {"temperature", RequestFields::kTemperature},
      {"top_p", RequestFields::kTopP},
      {"presence_penalty", RequestFields::kPresencePenalty},
      {"frequency_penalty", RequestFields::kFrequencyPenalty}};
  for (const auto& [name, k] : kNumbers) {
    const Kind kind = f.fields[k].kind;
    if (given(k) && kind != Kind::kInt64 && kind != Kind::kUint64 && kind != Kind::kDouble) {
      return refuse(name, "must be a number");
    }
  }
  request.include_usage = f.include_usage;
  return request;
}

std::string WithModel(std::string_view body, std::string_view model) {
  std::optional<json::value> value = ParseBounded(body, nullptr, {});
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

namespace {

// Reads the figures of an answer or a stream event as the parser meets
// them, building nothing: it runs for every answer and every event of
// every stream, where a parsed tree cost more than the rest of the relay.
// Places are the few spots of an OpenAI answer that matter here. A key
// read twice counts as its last value, as in a parsed tree.
class AnswerFigures : public SaxHandler {
 public:
  // User-provided: the parser value-initializes its handler, which would
  // otherwise zero the whole frame stack first (a fifth of a small
  // answer's read); frames are written as they are pushed.
  AnswerFigures() {}  // NOLINT(modernize-use-equals-default)

  StreamEvent out;

  // The figures, once the whole text is read.
  StreamEvent Result() {
    out.content = m_delta_content || m_delta_reasoning || m_tool_calls || m_choice_text;
    return std::move(out);
  }

  bool on_object_begin(boost::system::error_code&) {
    const Place place = Take();
    if (place == Place::kRoot) out.object = true;
    Mark(place, false);
    return Push(place == Place::kRoot || place == Place::kUsage || place == Place::kChoice ||
                        place == Place::kDelta
                    ? place
                    : Place::kOther,
                false);
  }
  bool on_object_end(std::size_t, boost::system::error_code&) { return Pop(); }
  bool on_array_begin(boost::system::error_code&) {
    const Place place = Take();
    Mark(place, false);
    return Push(place == Place::kChoices ? place : Place::kOther, true);
  }
  bool on_array_end(std::size_t, boost::system::error_code&) { return Pop(); }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    m_key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    std::string_view key(s.data(), s.size());
    if (!m_key.empty()) key = m_key.append(s.data(), s.size());
    if (m_depth > 0) {
      Frame& f = m_frames[m_depth - 1];
      const Place place = KeyPlace(f.place, key);
      f.next = place;
      Forget(place);
    }
    m_key.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!m_in_string) {
      m_in_string = true;
      m_string_place = Take();
    }
    if (m_string_place == Place::kFinishReason) m_text.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, boost::system::error_code&) {
    const Place place = m_in_string ? m_string_place : Take();
    m_in_string = false;
    if (place == Place::kFinishReason) {
      out.finish_reason = m_text.append(s.data(), s.size());
    } else if (n > 0) {
      if (place == Place::kDeltaContent) m_delta_content = true;
      if (place == Place::kDeltaReasoning) m_delta_reasoning = true;
      if (place == Place::kChoiceText) m_choice_text = true;
    }
    m_text.clear();
    Mark(place, false);
    return true;
  }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    Count(Take(), i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    Count(Take(), u <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(u) : -1);
    return true;
  }
  bool on_double(double, json::string_view, boost::system::error_code&) {
    Count(Take(), -1);  // a token count is a whole number
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) {
    Mark(Take(), false);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    Mark(Take(), true);
    return true;
  }

 private:
  enum class Place : uint8_t {
    kOther,
    kRoot,
    kUsage,
    kChoices,
    kChoice,  // the first of the choices
    kDelta,
    kError,
    kPromptTokens,
    kCompletionTokens,
    kDeltaContent,
    kDeltaReasoning,  // delta.reasoning_content
    kToolCalls,
    kChoiceText,
    kFinishReason,
  };
  struct Frame {  // no initializers: the stack is not cleared on every read
    Place place;
    bool array;
    Place next;    // in an object: the place of the value after the key read
    size_t index;  // in an array: which element comes next
  };

  static Place KeyPlace(Place in, std::string_view key) {
    switch (in) {
      case Place::kRoot:
        return key == "error"     ? Place::kError
               : key == "usage"   ? Place::kUsage
               : key == "choices" ? Place::kChoices
                                  : Place::kOther;
      case Place::kUsage:
        return key == "prompt_tokens"       ? Place::kPromptTokens
               : key == "completion_tokens" ? Place::kCompletionTokens
                                            : Place::kOther;
      case Place::kChoice:
        return key == "delta"           ? Place::kDelta
               : key == "text"          ? Place::kChoiceText
               : key == "finish_reason" ? Place::kFinishReason
                                        : Place::kOther;
      case Place::kDelta:
        return key == "content"             ? Place::kDeltaContent
               : key == "reasoning_content" ? Place::kDeltaReasoning
               : key == "tool_calls"        ? Place::kToolCalls
                                            : Place::kOther;
      default:
        return Place::kOther;
    }
  }

  // Where the value that starts now sits.
  Place Take() {
    if (m_depth == 0) return Place::kRoot;
    Frame& f = m_frames[m_depth - 1];
    if (f.array) {
      const bool first = f.index++ == 0;
      return f.place == Place::kChoices && first ? Place::kChoice : Place::kOther;
    }
    return std::exchange(f.next, Place::kOther);
  }
  // A key met again: what its earlier value set no longer holds.
  void Forget(Place place) {
    switch (place) {
      case Place::kUsage:
        out.prompt_tokens = out.completion_tokens = -1;
        break;
      case Place::kChoices:
        m_choice_text = false;
        out.finish_reason.clear();
        [[fallthrough]];
      case Place::kDelta:
        m_delta_content = m_delta_reasoning = m_tool_calls = false;
        break;
      case Place::kPromptTokens:
        out.prompt_tokens = -1;
        break;
      case Place::kCompletionTokens:
        out.completion_tokens = -1;
        break;
      case Place::kDeltaContent:
        m_delta_content = false;
        break;
      case Place::kDeltaReasoning:
        m_delta_reasoning = false;
        break;
      case Place::kToolCalls:
        m_tool_calls = false;
        break;
      case Place::kChoiceText:
        m_choice_text = false;
        break;
      case Place::kFinishReason:
        out.finish_reason.clear();
        break;
      default:
        break;
    }
  }
  // Any value under "error" (null too) is an error; tool calls count as content unless null.
  void Mark(Place place, bool null) {
    if (place == Place::kError) out.error = true;
    if (place == Place::kToolCalls && !null) m_tool_calls = true;
  }
  void Count(Place place, int64_t n) {
    // No answer has a billion tokens: a count past that is an upstream's
    // garbage, and would swamp the version's token totals for good.
    if (n > kMaxTokenCount) n = -1;
    if (place == Place::kPromptTokens) out.prompt_tokens = n;
    if (place == Place::kCompletionTokens) out.completion_tokens = n;
    Mark(place, false);
  }
  bool Push(Place place, bool array) {
    // Only the root's usage, first choice and its delta are read: a
    // frame anywhere else stays kOther, and so does all beneath it.
    if (m_depth > 0 && m_frames[m_depth - 1].place == Place::kOther) place = Place::kOther;
    if (m_depth == m_frames.size()) return false;  // never: the parser's depth limit comes first
    m_frames[m_depth++] = {place, array, Place::kOther, 0};
    return true;
  }
  bool Pop() {
    --m_depth;
    return true;
  }

  // The parser stops past kMaxDepth, so a fixed stack does (no allocation).
  std::array<Frame, kMaxDepth + 1> m_frames;
  size_t m_depth = 0;
  std::string m_key;
  std::string m_text;
  Place m_string_place = Place::kOther;
  bool m_in_string = false;
  bool m_delta_content = false;
  bool m_delta_reasoning = false;
  bool m_tool_calls = false;
  bool m_choice_text = false;
};

}  // namespace

StreamEvent ReadAnswer(std::string_view data) {
  // The answer is relayed as its bytes are, so text that is not UTF-8 is
  // the upstream's business, not a reason to refuse the answer (and
  // checking it was a quarter of this parse's cost).
  json::parse_options options = BoundedOptions();
  options.allow_invalid_utf8 = true;
  json::basic_parser<AnswerFigures> parser(options);
  if (ReadWhole(parser, data)) return {};
  StreamEvent out = parser.handler().Result();
  if (!out.object) return {};  // a bare string or number is no answer
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
