#pragma once
// What Greylane reads and writes of the OpenAI HTTP API: the few fields of a
// request the data plane routes and measures by, the error body, and the
// server-sent events of a stream.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace greylane {

// The fields of a POST /v1/... body the data plane uses. The body stays
// the client's; only "model" is rewritten for the upstream.
struct OpenAiRequest {
  std::string model;
  std::string user;  // the sticky key when no x-user-id header
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Parses a body; a message a person can act on when it is not a JSON object
// or a routed field has the wrong type.
std::optional<OpenAiRequest> ParseOpenAiRequest(std::string_view body, std::string* problem);
// The body with "model" set to `model` (what the upstream serves).
std::string WithModel(std::string_view body, std::string_view model);

// {"error":{"message":…,"type":…,"param":null,"code":…}}
std::string OpenAiErrorBody(std::string_view message, std::string_view type, std::string_view code);
// A stream's error event (what a client sees when the stream is cut).
std::string OpenAiErrorEvent(std::string_view message, std::string_view type);

// What one server-sent event of a completion stream says, for the meters.
struct StreamEvent {
  bool done = false;           // data: [DONE]
  bool comment = false;        // ": ping" and other comments
  bool content = false;        // carries generated text (delta.content or text)
  bool error = false;          // an "error" object
  int64_t prompt_tokens = -1;  // from a usage object
  int64_t completion_tokens = -1;
  std::string finish_reason;  // the first choice's, when set
};
// `event` is one whole event, blank line included.
StreamEvent ReadStreamEvent(std::string_view event);

// Reads a JSON integer/double/bool member of an object, or the fallback.
int64_t JsonInt(const boost::json::object& o, std::string_view key, int64_t fallback);
double JsonDouble(const boost::json::object& o, std::string_view key, double fallback);

}  // namespace greylane
