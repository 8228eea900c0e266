#include "agent/server/http_data_plane.h"

#include <algorithm>
#include <mutex>

#include <boost/asio/steady_timer.hpp>

#include "agent/backends/network_threads.h"
#include "agent/backends/oip_rest_json.h"
#include "agent/backends/openai_wire.h"
#include "agent/routing/router.h"
#include "agent/server/slot_admission.h"
#include "common/text.h"

namespace greylane {
namespace {

// An answer read whole (not streamed) is bounded: a runaway upstream must
// not fill the agent's memory.
constexpr size_t kMaxBufferedAnswerBytes = 64u << 20;
constexpr size_t kMaxClientRequestIdBytes = 128;
constexpr char kOipRoutes[] =
    "the Open Inference Protocol routes here are /v2, /v2/health/live, /v2/health/ready, "
    "/v2/models/{model}[/versions/{version}][/ready] and POST .../infer";

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// A path with its %XX escapes decoded (clients such as tritonclient quote
// model names), except %2F: an encoded slash stays, so a name cannot
// become two segments. False for a broken escape or an encoded NUL.
bool DecodePath(std::string_view path, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  out->reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') {
      out->push_back(path[i]);
      continue;
    }
    if (i + 2 >= path.size()) return false;
    const int high = hex(path[i + 1]), low = hex(path[i + 2]);
    if (high < 0 || low < 0) return false;
    const char c = static_cast<char>(high * 16 + low);
    if (c == '\0') return false;
    if (c == '/') {
      out->append(path.substr(i, 3));
    } else {
      out->push_back(c);
    }
    i += 2;
  }
  return true;
}

bool HeaderToken(std::string_view text) {
  return !text.empty() && text.size() <= kMaxClientRequestIdBytes &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

HttpResponse OpenAiError(int status, std::string_view message, std::string_view type,
                         std::string_view code) {
  HttpResponse r;
  r.status = status;
  r.body = OpenAiErrorBody(message, type, code);
  return r;
}

bool JsonContentType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  return type.size() == kJson.size() &&
         std::equal(type.begin(), type.end(), kJson.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b;
         });
}

// An event with an empty data line and nothing else: never relayed.
bool EmptyDataFrame(std::string_view event) {
  while (!event.empty() && (event.back() == '\n' || event.back() == '\r')) event.remove_suffix(1);
  return event == "data:" || event == "data: ";
}

HttpResponse RestError(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = RestErrorBody(message);
  return r;
}

// ModelInfer in the Open Inference Protocol's REST form: the same routing,
// admission, drills, backends and counting as gRPC ModelInfer (InferCall),
// answered as JSON with the version and slot in headers.
class HttpInferCall final : public InferCall {
 public:
  HttpInferCall(InferenceService& service, std::shared_ptr<HttpExchange> exchange)
      : InferCall(service), m_exchange(std::move(exchange)) {}

  void Begin(std::string model, std::string version) {
    const HttpRequest& r = m_exchange->Request();
    // The content type is not checked: Triton and KServe read the body as
    // JSON whatever a client labels it (curl --data says form-urlencoded).
    std::string problem;
    if (!r.Header("inference-header-content-length").empty()) {
      problem =
          "the binary-data extension (Inference-Header-Content-Length) is not read here; "
          "send the tensors as JSON 'data', or ModelInfer over gRPC";
    } else {
      problem = ReadRestInferRequest(r.body, &m_request);
    }
    // The body's id, else the header's (as on the OpenAI routes).
    if (const std::string_view header = r.Header("x-request-id");
        m_request.id().empty() && HeaderToken(header)) {
      m_request.set_id(std::string(header));
    }
    m_request.set_model_name(std::move(model));
    m_request.set_model_version(std::move(version));
    Start(std::move(problem));
  }

 private:
  std::string_view Header(std::string_view key) const override {
    return m_exchange->Request().Header(key);
  }

  std::string_view Protocol() const override { return "oip-rest"; }
  std::string_view Route() const override { return m_exchange->Request().path; }

  void Answer(const grpc::Status& status, Ending ending) override {
    HttpResponse r;
    if (status.ok()) {
      std::string problem;
      r.body = RestInferResponse(m_response, &problem);
      if (!problem.empty()) {
        ending = Ending::kServerError;
        r = RestError(502, "version " + Quote(Version()->version) +
                               " answered a malformed tensor: " + problem);
      }
    } else {
      r = RestError(HttpStatusOf(status.error_code(), ending, status.error_message()),
                    status.error_message());
      if (ending == Ending::kRefused) {
        r.headers.emplace_back("Retry-After", std::to_string(RetryAfterSeconds()));
      }
    }
    if (Version()) r.headers.emplace_back(kVersionHeader, Version()->version);
    r.headers.emplace_back(kSlotHeader, ReleaseRoleName(Role()));
    const std::string& id = RequestId();
    if (HeaderToken(id)) r.headers.emplace_back("x-request-id", id);
    Log(r.status, ending, status.error_message());
    m_exchange->Reply(std::move(r));
    delete this;
  }

  static int HttpStatusOf(grpc::StatusCode code, Ending ending, const std::string& message) {
    switch (code) {
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return 429;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return 504;
      case grpc::StatusCode::FAILED_PRECONDITION:
        if (ending != Ending::kClientError) return 502;
        return message.rfind("forwarding loop", 0) == 0 ? 508 : 400;
      case grpc::StatusCode::NOT_FOUND:
        return 404;
      case grpc::StatusCode::UNAVAILABLE:
        if (ending == Ending::kRefused) return 503;
        break;
      default:
        if (ending == Ending::kClientError) return 400;
    }
    return ending == Ending::kRefused ? 503 : 502;
  }

  const std::shared_ptr<HttpExchange> m_exchange;
};

}  // namespace

// One OpenAI request from routing to its last byte: relays what the backend
// answers, times each event and records the version's figures once.
class HttpDataPlane::Relay final : public GenerationSink,
                                   public std::enable_shared_from_this<Relay> {
 public:
  Relay(CanaryPair& pair, std::shared_ptr<HttpExchange> exchange, SlotIndex slot,
        const SlotVersion* version, ReleaseRole role, bool trial, const OpenAiRequest& ask,
        std::string request_id, std::chrono::milliseconds ping_interval, Clock::time_point start,
        RequestLog* log, std::string user)
      : m_log(log),
        m_user(std::move(user)),
        m_input(ask.input),
        m_pair(pair),
        m_exchange(std::move(exchange)),
        m_slot(slot),
        m_version(version),
        m_role(role),
        m_trial(trial),
        m_stream(ask.stream),
        m_include_usage(ask.include_usage),
        m_request_id(std::move(request_id)),
        m_ping_interval(ping_interval),
        m_start(start) {}

  void Begin(std::shared_ptr<GenerationCall> call) {
    std::lock_guard lock(m_mutex);
    m_call = std::move(call);
    if (m_ended) {
      m_call.reset();
      return;
    }
    std::weak_ptr<Relay> weak = shared_from_this();
    m_exchange->OnClientGone([weak] {
      if (auto self = weak.lock()) self->ClientGone();
    });
    if (m_stream) ArmPing();
  }

  void OnHead(GenerationHead head) override {
    std::lock_guard lock(m_mutex);
    if (m_ended) return;
    m_head = std::move(head);
    m_have_head = true;
    const bool events = m_head.content_type.rfind("text/event-stream", 0) == 0;
    if (m_stream && m_head.status < 300 && events) StartStream();
  }

  void OnData(std::string bytes) override {
    std::lock_guard lock(m_mutex);
    if (m_ended) return;
    if (!m_relaying) {
      if (m_buffer.size() + bytes.size() > kMaxBufferedAnswerBytes) {
        m_overflow = true;
        return;
      }
      if (m_buffer.empty()) {
        m_buffer = std::move(bytes);  // a whole answer usually comes in one piece
      } else {
        m_buffer += bytes;
      }
      return;
    }
    if (EmptyDataFrame(bytes)) return;
    Meter(bytes);
    m_exchange->SendChunk(std::move(bytes));
    m_last_sent = Clock::now();
  }

  void OnEnd(GenerationEnd end) override {
    std::lock_guard lock(m_mutex);
    if (m_ended) return;
    m_ended = true;
    if (m_ping) m_ping->cancel();
    m_call.reset();
    Finish(end);
  }

 private:
  void ClientGone() {
    std::shared_ptr<GenerationCall> call;
    {
      std::lock_guard lock(m_mutex);
      if (m_ended) return;
      m_ended = true;
      m_client_gone = true;
      if (m_ping) m_ping->cancel();
      call = std::move(m_call);
      // Not the version's doing: neither a success nor a server error.
      Record(ServedAs::kClientError, "the client went away");
    }
    if (call) call->Cancel();
  }

  // With room for the upstream's and a few more, added after.
  std::vector<std::pair<std::string, std::string>> OurHeaders() const {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.reserve(5 + m_head.headers.size());
    headers.emplace_back(kVersionHeader, m_version->version);
    headers.emplace_back(kSlotHeader, ReleaseRoleName(m_role));
    headers.emplace_back("x-request-id", m_request_id);
    return headers;
  }

  // An upstream agent's own x-greylane-* headers would contradict ours.
  void AddUpstreamHeaders(std::vector<std::pair<std::string, std::string>>* out) const {
    for (const auto& h : m_head.headers) {
      if (h.first.size() < 11 || h.first.compare(0, 11, "x-greylane-") != 0) out->push_back(h);
    }
  }

  void StartStream() {
    if (m_relaying) return;
    m_relaying = true;
    HttpResponse head;
    head.status = 200;
    head.content_type = "text/event-stream; charset=utf-8";
    head.headers = OurHeaders();
    head.headers.emplace_back("Cache-Control", "no-cache");
    head.headers.emplace_back("X-Accel-Buffering", "no");
    AddUpstreamHeaders(&head.headers);
    m_exchange->BeginStream(std::move(head));
    m_last_sent = Clock::now();
  }

  void ArmPing() {
    // Only a stream has one: an answer read whole needs no timer.
    if (!m_ping) m_ping.emplace(NetworkContext());
    m_ping->expires_after(m_ping_interval);
    std::weak_ptr<Relay> weak = shared_from_this();
    m_ping->async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      std::lock_guard lock(self->m_mutex);
      if (self->m_ended) return;
      // No head from the backend yet: the stream starts as 200 now, and a
      // later failure arrives as an error event.
      if (!self->m_relaying && (!self->m_have_head || self->m_head.status < 300)) {
        self->StartStream();
      }
      if (self->m_relaying && Clock::now() - self->m_last_sent >= self->m_ping_interval / 2) {
        self->m_exchange->SendChunk(": ping\n\n");
        self->m_last_sent = Clock::now();
      }
      self->ArmPing();
    });
  }

  void Meter(std::string_view event) {
    const StreamEvent e = ReadStreamEvent(event);
    const Clock::time_point now = Clock::now();
    if (e.content) {
      ++m_content_events;
      if (m_first_token_ns < 0) {
        m_first_token_ns = NanosSince(m_start);
      } else {
        m_pair.RecorderAt(m_slot).RecordInterToken(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - m_last_token).count());
      }
      m_last_token = now;
    }
    m_saw_done = m_saw_done || e.done;
    m_saw_error = m_saw_error || e.error;
    if (e.completion_tokens >= 0) {
      m_saw_usage = true;
      m_completion_tokens = e.completion_tokens;
      m_prompt_tokens = std::max<int64_t>(e.prompt_tokens, 0);
    }
    if (!e.finish_reason.empty()) m_finish = e.finish_reason;
  }

  void Finish(const GenerationEnd& end) {
    const std::string& v = m_version->version;
    if (end.failure == GenerationFailure::kRefused) {
      return Fail(400, ServedAs::kClientError, end.error, "invalid_request_error",
                  "invalid_request");
    }
    if (end.failure != GenerationFailure::kNone) {
      const bool timeout = end.failure == GenerationFailure::kTimeout;
      return Fail(timeout ? 504 : 502, ServedAs::kServerError,
                  "version " + Quote(v) + " failed: " + end.error, "upstream_error",
                  timeout ? "upstream_timeout" : "upstream_error");
    }
    if (m_overflow) {
      return Fail(502, ServedAs::kServerError,
                  "version " + Quote(v) + " answered more than " +
                      std::to_string(kMaxBufferedAnswerBytes >> 20) + " MiB",
                  "upstream_error", "upstream_error");
    }
    if (!m_have_head) {
      return Fail(502, ServedAs::kServerError, "version " + Quote(v) + " ended without an answer",
                  "upstream_error", "upstream_error");
    }
    if (m_head.status >= 500) {
      // The upstream's own words stay out of the client's answer (they may
      // name its internals).
      return Fail(502, ServedAs::kServerError,
                  "version " + Quote(v) + " answered HTTP " + std::to_string(m_head.status),
                  "upstream_error", "upstream_error");
    }
    // A whole answer is read once: its shape, and its usage and finish.
    StreamEvent answer;
    const bool whole_success = m_head.status < 300 && !m_relaying;
    if (whole_success) answer = ReadAnswer(m_buffer);
    if (whole_success && !answer.object &&
        (!m_stream || m_head.content_type.rfind("text/event-stream", 0) != 0)) {
      // A success that is no answer (HTML, garbage) is the version failing.
      return Fail(502, ServedAs::kServerError,
                  "version " + Quote(v) + " answered HTTP " + std::to_string(m_head.status) +
                      " with a body that is not a JSON object",
                  "upstream_error", "upstream_error");
    }
    if (m_relaying) {
      if (m_saw_error) {
        // The upstream reported a failure inside its stream.
        Record(ServedAs::kServerError, "an error event in the stream");
      } else {
        Record(ServedAs::kOk, {});
      }
      m_exchange->EndStream();
      return;
    }
    // A whole answer (not streamed, a 4xx, or a stream that never began).
    HttpResponse r{.status = m_head.status,
                   .content_type = std::move(m_head.content_type),
                   .headers = OurHeaders(),
                   .body = {}};
    AddUpstreamHeaders(&r.headers);
    if (whole_success) {
      if (answer.completion_tokens >= 0) {
        m_saw_usage = true;
        m_completion_tokens = answer.completion_tokens;
        m_prompt_tokens = std::max<int64_t>(answer.prompt_tokens, 0);
      }
      m_finish = answer.finish_reason;
    }
    m_status = m_head.status;
    Record(m_head.status < 400 ? ServedAs::kOk : ServedAs::kClientError, {});
    r.body = std::move(m_buffer);
    m_exchange->Reply(std::move(r));
  }

  void Fail(int status, ServedAs how, const std::string& message, std::string_view type,
            std::string_view code) {
    if (!m_relaying) m_status = status;
    Record(how, message);
    if (m_relaying) {
      m_exchange->SendChunk(OpenAiErrorEvent(message, type));
      m_exchange->EndStream();
      return;
    }
    HttpResponse r = OpenAiError(status, message, type, code);
    r.headers = OurHeaders();
    m_exchange->Reply(std::move(r));
  }

  // Once per request: the version's counters, its breaker, its figures.
  void Record(ServedAs how, const std::string& error) {
    if (m_recorded) return;
    m_recorded = true;
    VersionRecorder& recorder = m_pair.RecorderAt(m_slot);
    if (how == ServedAs::kOk) {
      recorder.RecordOk(static_cast<uint64_t>(NanosSince(m_start)));
    } else if (how == ServedAs::kClientError) {
      recorder.RecordClientError();
    } else {
      recorder.RecordServerError();
    }
    if (how == ServedAs::kOk || m_relaying) {
      GenerationRecord g;
      g.streamed = m_relaying;
      g.ttft_ns = m_first_token_ns;
      g.prompt_tokens = m_prompt_tokens;
      g.generation_tokens = m_saw_usage ? m_completion_tokens : m_content_events;
      g.finish_reason = m_client_gone && m_finish.empty() ? std::string_view("abort") : m_finish;
      if (m_relaying && !m_client_gone) {
        g.missing_done = !m_saw_done;
        g.missing_usage = m_include_usage && !m_saw_usage;
        g.truncated = m_finish.empty();
      }
      if (how == ServedAs::kOk || !m_client_gone) recorder.RecordGeneration(g);
    }
    SettleBreaker(m_pair, m_slot, m_version, m_trial, how, error);
    recorder.EndRequest();
    if (m_log && m_log->Wanted(how == ServedAs::kOk)) {
      RequestLogEntry e;
      e.protocol = "openai";
      e.route = m_exchange->Request().path;
      e.request_id = m_request_id;
      e.version = m_version->version;
      e.slot = ReleaseRoleName(m_role);
      e.user_key = m_user;
      if (!m_input.empty()) e.input_hash = InputHash(m_input);
      e.status = m_client_gone ? 499 : m_status;  // 499: nginx's "client closed request"
      e.outcome = how == ServedAs::kOk            ? "ok"
                  : how == ServedAs::kClientError ? "client_error"
                                                  : "server_error";
      e.latency_ms = static_cast<double>(NanosSince(m_start)) / 1e6;
      if (m_first_token_ns >= 0) e.ttft_ms = static_cast<double>(m_first_token_ns) / 1e6;
      if (m_saw_usage) e.prompt_tokens = m_prompt_tokens;
      if (how == ServedAs::kOk || m_relaying) {
        e.completion_tokens = m_saw_usage ? m_completion_tokens : m_content_events;
      }
      e.finish_reason = m_finish;
      e.error = error;
      m_log->Write(e);
    }
  }

  RequestLog* const m_log;
  const std::string m_user;   // the sticky key, hashed when logged
  const std::string m_input;  // OpenAiRequest::input
  int m_status = 200;         // what the client was answered
  CanaryPair& m_pair;
  const std::shared_ptr<HttpExchange> m_exchange;
  const SlotIndex m_slot;
  const SlotVersion* const m_version;
  const ReleaseRole m_role;
  const bool m_trial;
  const bool m_stream;
  const bool m_include_usage;
  const std::string m_request_id;
  const std::chrono::milliseconds m_ping_interval;
  const Clock::time_point m_start;

  std::mutex m_mutex;
  std::optional<boost::asio::steady_timer> m_ping;  // guarded by m_mutex
  std::shared_ptr<GenerationCall> m_call;
  GenerationHead m_head;
  bool m_have_head = false;
  bool m_relaying = false;  // the client's stream has begun
  bool m_ended = false;
  bool m_recorded = false;
  bool m_client_gone = false;
  bool m_overflow = false;
  bool m_saw_done = false;
  bool m_saw_usage = false;
  bool m_saw_error = false;
  std::string m_buffer;
  std::string m_finish;
  int64_t m_first_token_ns = -1;
  int64_t m_content_events = 0;
  int64_t m_completion_tokens = 0;
  int64_t m_prompt_tokens = 0;
  Clock::time_point m_last_token;
  Clock::time_point m_last_sent;
};

HttpDataPlane::HttpDataPlane(CanaryPair& pair, InferenceService& inference,
                             HttpDataPlaneOptions options,
                             std::function<std::shared_ptr<const v1::MetricsFrame>()> latest_frame)
    : m_pair(pair),
      m_inference(inference),
      m_options(std::move(options)),
      m_latest_frame(std::move(latest_frame)) {}

HttpDataPlane::~HttpDataPlane() = default;

void HttpDataPlane::Handle(std::shared_ptr<HttpExchange> exchange) {
  const HttpRequest& r = exchange->Request();
  if (r.path.rfind("/v1/", 0) == 0) return ServeOpenAi(exchange);
  if (r.path == "/metrics") {
    if (r.method != "GET" && r.method != "HEAD") {
      HttpResponse e = OpenAiError(405, "GET /metrics", "invalid_request_error", "method");
      e.headers.emplace_back("Allow", "GET");
      return exchange->Reply(std::move(e));
    }
    HttpResponse m;
    m.content_type = "text/plain; version=0.0.4; charset=utf-8";
    const std::shared_ptr<const v1::MetricsFrame> latest =
        m_latest_frame ? m_latest_frame() : nullptr;
    m.body = PrometheusText(m_pair, m_inference.Identity(), latest.get());
    if (const RequestLog* log = m_inference.Log()) {
      m.body +=
          "# HELP greylane_request_log_lines_total Lines written to the request log.\n"
          "# TYPE greylane_request_log_lines_total counter\n"
          "greylane_request_log_lines_total " +
          std::to_string(log->Lines()) +
          "\n# HELP greylane_request_log_dropped_total Request-log lines lost (queue full, "
          "disk full).\n# TYPE greylane_request_log_dropped_total counter\n"
          "greylane_request_log_dropped_total " +
          std::to_string(log->Dropped()) + "\n";
    }
    return exchange->Reply(std::move(m));
  }
  if (r.path == "/v2" || r.path.rfind("/v2/", 0) == 0) return ServeOip(exchange);
  exchange->Reply(OpenAiError(404,
                              "no route " + Quote(r.path, 200) +
                                  "; this agent serves /v1/chat/completions, /v1/completions, "
                                  "/v1/embeddings, /v1/models, /v2/... and /metrics",
                              "invalid_request_error", "not_found"));
}

void HttpDataPlane::ServeOip(const std::shared_ptr<HttpExchange>& exchange) {
  const HttpRequest& r = exchange->Request();
  const std::string& model = m_inference.Identity().model_name;
  std::string decoded;
  if (r.path.find('%') != std::string::npos && !DecodePath(r.path, &decoded)) {
    return exchange->Reply(
        RestError(400, "the path " + Quote(r.path, 200) + " has a broken %XX escape"));
  }
  const std::string& path = decoded.empty() ? r.path : decoded;
  auto plain = [&](int status) {
    HttpResponse ok;
    ok.status = status;
    ok.content_type.clear();
    exchange->Reply(std::move(ok));
  };
  constexpr std::string_view kInfer = "/infer";
  const bool infer = path.size() > kInfer.size() &&
                     path.compare(path.size() - kInfer.size(), kInfer.size(), kInfer) == 0;
  const char* method = infer ? "POST" : "GET";
  if (r.method != method && !(r.method == "HEAD" && !infer)) {
    HttpResponse e = RestError(405, std::string("use ") + method + " " + Quote(path, 200));
    e.headers.emplace_back("Allow", method);
    return exchange->Reply(std::move(e));
  }
  // POST /v2/models/{m}[/versions/{v}]/infer: an unknown model or version is
  // counted where the request would have gone, as on the gRPC plane.
  if (infer && path.rfind("/v2/models/", 0) == 0) {
    std::string rest = path.substr(11, path.size() - 11 - kInfer.size());
    std::string version;
    if (const size_t at = rest.find("/versions/"); at != std::string::npos) {
      version = rest.substr(at + 10);
      rest.resize(at);
    }
    const bool versioned = path.find("/versions/") != std::string::npos;
    if (!rest.empty() && rest.find('/') == std::string::npos &&
        version.find('/') == std::string::npos && (!versioned || !version.empty())) {
      auto* call = new HttpInferCall(m_inference, exchange);
      return call->Begin(std::move(rest), std::move(version));  // deletes itself
    }
  }
  if (path == "/v2/health/live") return plain(200);
  // The node serves while its baseline does: a dead canary is diverted
  // from, and must not pull the whole node out of a load balancer.
  if (path == "/v2/health/ready") {
    return plain(m_pair.Health(ReleaseRole::kBaseline).health == v1::HEALTHY ? 200 : 400);
  }
  if (path == "/v2") {
    HttpResponse m;
    m.body = "{\"name\":\"greylane-agent\",\"version\":" +
             JsonString(m_inference.Identity().server_version) + ",\"extensions\":[]}";
    return exchange->Reply(std::move(m));
  }
  const std::string prefix = "/v2/models/" + model;
  if (path.rfind("/v2/models/", 0) == 0 &&
      (path.rfind(prefix, 0) != 0 || (path.size() > prefix.size() && path[prefix.size()] != '/'))) {
    const std::string name = path.substr(11, path.find('/', 11) - 11);
    return exchange->Reply(RestError(404, m_inference.UnknownModel(name)));
  }
  if (path.rfind(prefix, 0) != 0) {
    return exchange->Reply(RestError(404, "no route " + Quote(path, 200) + "; " + kOipRoutes));
  }
  std::string rest = path.substr(prefix.size());
  ReleaseRole role = ReleaseRole::kBaseline;
  bool versioned = false;
  if (rest.rfind("/versions/", 0) == 0) {
    const size_t end = rest.find('/', 10);
    const std::string version = rest.substr(10, end == std::string::npos ? end : end - 10);
    if (!m_inference.ResolvePin(version, m_pair.Split().Load(), &role)) {
      return exchange->Reply(RestError(404, "version " + Quote(version) + " is not served here; " +
                                                m_inference.ServedVersionsText()));
    }
    versioned = true;
    rest = end == std::string::npos ? std::string() : rest.substr(end);
  }
  if (rest == "/ready") {
    const bool ready = versioned ? m_pair.Health(role).health == v1::HEALTHY : m_pair.Ready();
    return plain(ready ? 200 : 400);
  }
  if (rest.empty()) {
    const BackendDescription d = m_pair.Version(role).backend->Description();
    std::string body = "{\"name\":" + JsonString(model) + ",\"versions\":[";
    if (versioned) {
      body += JsonString(m_pair.Version(role).version);
    } else {
      body += JsonString(m_pair.Version(ReleaseRole::kBaseline).version) + "," +
              JsonString(m_pair.Version(ReleaseRole::kCandidate).version);
    }
    body += "],\"platform\":" + JsonString(d.platform);
    for (const auto& [key, tensors] :
         {std::pair{"inputs", &d.inputs}, std::pair{"outputs", &d.outputs}}) {
      body += std::string(",\"") + key + "\":[";
      for (size_t i = 0; i < tensors->size(); ++i) {
        const TensorSpec& t = (*tensors)[i];
        body += (i ? "," : "") + std::string("{\"name\":") + JsonString(t.name) +
                ",\"datatype\":" + JsonString(t.datatype) + ",\"shape\":[";
        for (size_t k = 0; k < t.shape.size(); ++k)
          body += (k ? "," : "") + std::to_string(t.shape[k]);
        body += "]}";
      }
      body += "]";
    }
    HttpResponse m;
    m.body = body + "}";
    return exchange->Reply(std::move(m));
  }
  exchange->Reply(RestError(404, "no route " + Quote(path, 200) + "; " + kOipRoutes));
}

void HttpDataPlane::ServeOpenAi(const std::shared_ptr<HttpExchange>& exchange) {
  const Clock::time_point start = Clock::now();
  const HttpRequest& r = exchange->Request();
  const bool models = r.path == "/v1/models";
  if (!models && r.path != "/v1/chat/completions" && r.path != "/v1/completions" &&
      r.path != "/v1/embeddings") {
    return exchange->Reply(OpenAiError(404,
                                       "no route " + Quote(r.path, 200) +
                                           "; the OpenAI routes here are /v1/chat/completions, "
                                           "/v1/completions, /v1/embeddings and /v1/models",
                                       "invalid_request_error", "not_found"));
  }
  const char* method = models ? "GET" : "POST";
  if (r.method != method && !(models && r.method == "HEAD")) {
    HttpResponse e = OpenAiError(405, std::string("use ") + method + " " + r.path,
                                 "invalid_request_error", "method_not_allowed");
    e.headers.emplace_back("Allow", method);
    return exchange->Reply(std::move(e));
  }

  const SplitValue split = m_pair.Split().Load();
  std::string problem;
  int status = 400;
  const char* code = "invalid_request";
  OpenAiRequest ask;
  if (!models) {
    if (!JsonContentType(r.Header("content-type"))) {
      status = 415;
      problem = "the body must be JSON (Content-Type: application/json), not " +
                Quote(r.Header("content-type"), 100);
    } else if (std::optional<OpenAiRequest> parsed =
                   ParseOpenAiRequest(r.body, &problem, m_inference.Log() != nullptr)) {
      ask = std::move(*parsed);
    }
  }
  std::string_view key = r.Header(m_inference.Identity().sticky_header);
  if (key.empty()) key = ask.user;
  if (key.empty()) key = r.Header(m_options.session_header);
  RouteDecision route = Router::Route(key, split.candidate_basis_points);
  std::string_view pin = r.Header(kPinHeader);
  if (problem.empty() && !ask.model.empty() && ask.model != m_inference.Identity().model_name) {
    if (pin.empty()) pin = ask.model;
    ReleaseRole named;
    if (!m_inference.ResolvePin(ask.model, split, &named)) {
      status = 404;
      code = "model_not_found";
      problem = "the model " + Quote(ask.model) + " does not exist here; this agent serves " +
                Quote(m_inference.Identity().model_name) + " (" + m_inference.ServedVersionsText() +
                ")";
    }
  }
  if (problem.empty() && !pin.empty()) {
    ReleaseRole pinned;
    if (m_inference.ResolvePin(pin, split, &pinned)) {
      route = Router::Pinned(pinned);
    } else {
      status = 404;
      code = "version_not_found";
      problem =
          "version " + Quote(pin) + " is not served here; " + m_inference.ServedVersionsText();
    }
  }
  std::string via;
  if (problem.empty()) {
    problem = m_inference.ForwardingProblem(r.Header(kForwardedViaHeader), &via);
    if (!problem.empty()) {
      status = 508;
      code = "loop_detected";
    }
  }
  const std::string_view client_id = r.Header("x-request-id");
  std::string request_id =
      HeaderToken(client_id) ? std::string(client_id) : m_inference.NextRequestId();
  // A request refused before it reached a version: answered with its id,
  // and logged like any other.
  auto refuse = [&](HttpResponse e, ReleaseRole role, std::string_view outcome,
                    const std::string& why) {
    const std::string& version = m_pair.VersionAt(CanaryPair::SlotOf(role, split)).version;
    e.headers.emplace_back(kVersionHeader, version);
    e.headers.emplace_back(kSlotHeader, ReleaseRoleName(role));
    e.headers.emplace_back("x-request-id", request_id);
    if (RequestLog* log = m_inference.Log(); log && log->Wanted(false)) {
      RequestLogEntry entry;
      entry.protocol = "openai";
      entry.route = r.path;
      entry.request_id = request_id;
      entry.version = version;
      entry.slot = ReleaseRoleName(role);
      entry.user_key = key;
      if (!ask.input.empty()) entry.input_hash = InputHash(ask.input);
      entry.status = e.status;
      entry.outcome = outcome;
      entry.latency_ms = static_cast<double>(NanosSince(start)) / 1e6;
      entry.error = why;
      log->Write(entry);
    }
    exchange->Reply(std::move(e));
  };
  if (!problem.empty()) {
    // Counted as a client error where it would have gone, as on the gRPC plane.
    m_pair.RecorderAt(CanaryPair::SlotOf(route.role, split)).RecordClientError();
    return refuse(OpenAiError(status, problem, "invalid_request_error", code), route.role,
                  "client_error", problem);
  }
  const SlotAdmission admission =
      AdmitRequest(m_pair, split, route.role, route.basis == RouteBasis::kPinned);
  if (!admission.admitted) {
    const bool limited = admission.refusal_code == grpc::StatusCode::RESOURCE_EXHAUSTED;
    HttpResponse e = OpenAiError(limited ? 429 : 503, admission.refusal,
                                 limited ? "rate_limit_error" : "server_error",
                                 limited ? "rate_limit_exceeded" : "circuit_open");
    e.headers.emplace_back("Retry-After", std::to_string(admission.retry_after_s));
    return refuse(std::move(e), admission.role, "refused", admission.refusal);
  }
  const SlotIndex slot = CanaryPair::SlotOf(admission.role, split);
  const SlotVersion* version = &m_pair.VersionAt(slot);
  m_pair.RecorderAt(slot).BeginRequest();
  auto relay = std::make_shared<Relay>(m_pair, exchange, slot, version, admission.role,
                                       admission.trial, ask, request_id, m_options.ping_interval,
                                       start, m_inference.Log(), std::string(key));

  // What the upstream is sent: the target and body are moved out of the
  // request (nothing reads them after), not copied.
  HttpRequest& mutable_request = exchange->MutableRequest();
  GenerationRequest g;
  g.method = r.method;
  g.path = std::move(mutable_request.target);
  g.request_id = std::move(request_id);
  g.via = std::move(via);
  g.stream = ask.stream;
  g.include_usage = ask.include_usage;
  g.authorization = std::string(r.Header("authorization"));
  const std::string& upstream_model = version->spec.upstream.model;
  if (!models && !upstream_model.empty() && upstream_model != ask.model) {
    g.body = WithModel(r.body, upstream_model);
  } else {
    g.body = std::move(mutable_request.body);
  }

  const FaultDecision fault = m_pair.DrillAt(slot).Decide();
  if (fault.fail) {
    relay->Begin(nullptr);
    relay->OnEnd({GenerationFailure::kUpstream,
                  "injected fault: a drill fails this share of its requests (InjectFault)"});
    return;
  }
  if (fault.delay_ms > 0) {
    m_inference.Delays().Schedule(Clock::now() + std::chrono::milliseconds(fault.delay_ms),
                                  [relay, version, g = std::move(g)]() mutable {
                                    relay->Begin(version->backend->Generate(std::move(g), relay));
                                  });
    return;
  }
  relay->Begin(version->backend->Generate(std::move(g), relay));
}

}  // namespace greylane
