#pragma once
// What Greylane reads and writes of the OpenAI HTTP API: the few fields of a
// request the data plane routes and measures by, the error body, and the
// server-sent events of a stream.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace greylane {

// The fields of a POST /v1/... body the data plane uses. The body stays
// the client's; only "model" is rewritten for the upstream.
struct OpenAiRequest {
  std::string model;
  std::string user;  // the sticky key when no x-user-id header
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // What the model is asked (messages, prompt or input) as compact JSON,
  // for the request log's input hash: equal prompts hash alike whatever
  // else the requests say.
  std::string input;
};

// Parses a body; a message a person can act on when it is not a JSON object
// or a routed field has the wrong type.
// `with_input` fills OpenAiRequest::input (only a request log needs it).
std::optional<OpenAiRequest> ParseOpenAiRequest(std::string_view body, std::string* problem,
                                                bool with_input = false);
// The body with "model" set to `model` (what the upstream serves).
std::string WithModel(std::string_view body, std::string_view model);

// {"error":{"message":…,"type":…,"param":null,"code":…}}
std::string OpenAiErrorBody(std::string_view message, std::string_view type, std::string_view code);
// A stream's error event (what a client sees when the stream is cut).
std::string OpenAiErrorEvent(std::string_view message, std::string_view type);

// What one server-sent event of a completion stream says, for the meters.
// Token counts above this are not believed (read as absent).
inline constexpr int64_t kMaxTokenCount = 1'000'000'000;

struct StreamEvent {
  bool done = false;           // data: [DONE]
  bool comment = false;        // ": ping" and other comments
  bool content = false;        // carries generated text (delta.content or text)
  bool error = false;          // an "error" object
  bool object = false;         // the data is one JSON object
  int64_t prompt_tokens = -1;  // from a usage object
  int64_t completion_tokens = -1;
  std::string finish_reason;  // the first choice's, when set
};
// `event` is one whole event, blank line included.
StreamEvent ReadStreamEvent(std::string_view event);
// The same figures from a whole (not streamed) JSON answer.
StreamEvent ReadAnswer(std::string_view json);

// Cuts a byte stream into server-sent events as the bytes arrive. An event
// ends at a blank line ("\n\n" or "\r\n\r\n"); each comes out whole, with
// its blank line, exactly as received. An event longer than the bound is an
// error (an upstream that never ends one must not fill memory).
class SseSplitter {
 public:
  static constexpr size_t kMaxEventBytes = 1u << 20;
  // Adds bytes; appends each completed event to `events`. False when an
  // event grew past the bound.
  bool Feed(std::string_view bytes, std::vector<std::string>* events);
  // What is left (an unfinished event), taken.
  std::string TakeRest();

 private:
  std::string m_pending;
  size_t m_scanned = 0;  // bytes of m_pending already searched
};

// Reads a JSON integer/double/bool member of an object, or the fallback.
int64_t JsonInt(const boost::json::object& o, std::string_view key, int64_t fallback);
double JsonDouble(const boost::json::object& o, std::string_view key, double fallback);

}  // namespace greylane
