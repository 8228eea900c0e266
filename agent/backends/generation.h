#pragma once
// The OpenAI-compatible side of a backend: an HTTP exchange handed over
// whole (method, path, JSON body) and answered as a head, body bytes and an
// end. A stream's body arrives as whole server-sent events, one OnData per
// event, so the data plane can time and relay each as it comes.
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace greylane {

struct GenerationRequest {
  std::string method;  // "GET" | "POST"
  std::string path;    // "/v1/chat/completions", query included
  std::string body;    // JSON, "model" already set to what the upstream serves
  std::string request_id;
  std::string via;            // the forwarding path, this agent included (kForwardedViaHeader)
  std::string authorization;  // the client's Authorization header, for the upstream
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct GenerationHead {
  int status = 200;
  // Every backend sets it; no default, which would cost each request an
  // allocation for the sinks' heads made before one comes.
  std::string content_type;
  // Headers worth relaying (upstream request ids, rate-limit hints).
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class GenerationFailure {
  kNone,
  kUpstream,  // unreachable, reset, 5xx, malformed: the version's fault
  kTimeout,   // connect, first byte, idle or total timeout: also the version's
  kRefused,   // the request itself is wrong for this backend (a client error)
};

struct GenerationEnd {
  GenerationFailure failure = GenerationFailure::kNone;
  std::string error;  // what happened, for a person
};

// Called in this order, never two at once, from any thread: OnHead at most
// once, OnData after it, OnEnd exactly once (a failure before OnHead is
// reported by OnEnd alone).
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  virtual void OnHead(GenerationHead head) = 0;
  virtual void OnData(std::string bytes) = 0;
  virtual void OnEnd(GenerationEnd end) = 0;
};

// A generation in progress. Cancel stops it (the client went away); OnEnd
// still follows, once.
class GenerationCall {
 public:
  virtual ~GenerationCall() = default;
  virtual void Cancel() = 0;
};

// The handle of a call that ended before it started (refused, answered at once).
std::shared_ptr<GenerationCall> FinishedCall();

}  // namespace greylane
