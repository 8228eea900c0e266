#include "agent/backends/openai_http_backend.h"

#include <future>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "agent/backends/network_threads.h"
#include "agent/backends/openai_wire.h"

namespace greylane {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// A whole (not streamed) answer larger than this is a broken upstream.
constexpr size_t kMaxAnswerBytes = 64u << 20;
constexpr uint32_t kMaxUpstreamHeaderBytes = 64 * 1024;

// Upstream headers worth passing to the client.
bool RelayedHeader(std::string_view name) {
  static constexpr std::string_view kKept[] = {"x-request-id",       "openai-processing-ms",
                                               "retry-after",        "openai-version",
                                               "x-greylane-version", "x-greylane-slot"};
  for (const std::string_view k : kKept) {
    if (beast::iequals(name, k)) return true;
  }
  return name.size() > 12 && beast::iequals(name.substr(0, 12), "x-ratelimit-");
}
}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("the upstream URL '" + std::string(url.substr(0, 200)) +
                                      "' " + why);
  };
  if (url.substr(0, 8) == "https://") {
    return bad(
        "is https, which is not supported yet: point it at the upstream's plain-HTTP "
        "port on this node, or at a local TLS proxy");
  }
  if (url.substr(0, 7) != "http://") return bad("must start with http://");
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string_view::npos) {
    out.prefix = std::string(rest.substr(slash));
    while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  }
  if (out.prefix.find_first_of("?# \r\n") != std::string::npos) return bad("has a query or spaces");
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed [IPv6] host");
    out.host = std::string(authority.substr(1, close - 1));
    colon = close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1
                                                                        : std::string_view::npos;
  } else {
    out.host = std::string(authority.substr(0, colon));
  }
  out.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (out.host.empty() || out.port.empty() ||
      out.port.find_first_not_of("0123456789") != std::string::npos || out.port.size() > 5 ||
      std::stoi(out.port) < 1 || std::stoi(out.port) > 65535) {
    return bad("needs a host and a port 1..65535 (http://host:port)");
  }
  return out;
}

// Idle keep-alive connections to one upstream, newest first.
class OpenAiHttpBackend::Pool {
 public:
  explicit Pool(size_t max) : m_max(max) {}
  std::optional<tcp::socket> Take() {
    std::lock_guard lock(m_mutex);
    if (m_idle.empty()) return std::nullopt;
    tcp::socket s = std::move(m_idle.back());
    m_idle.pop_back();
    return s;
  }
  void Give(tcp::socket socket) {
    std::lock_guard lock(m_mutex);
    if (m_closed || m_idle.size() >= m_max) return;  // closed as it goes out of scope
    m_idle.push_back(std::move(socket));
  }
  void Close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    m_idle.clear();
  }

 private:
  const size_t m_max;
  std::mutex m_mutex;
  std::vector<tcp::socket> m_idle;
  bool m_closed = false;
};

namespace {

// One request to the upstream, from connect to the last byte, on its strand.
class UpstreamCall final : public GenerationCall,
                           public std::enable_shared_from_this<UpstreamCall> {
 public:
  UpstreamCall(const OpenAiHttpOptions& options, const HttpUrl& url,
               std::shared_ptr<OpenAiHttpBackend::Pool> pool, GenerationRequest request,
               std::shared_ptr<GenerationSink> sink)
      : m_options(options),
        m_url(url),
        m_pool(std::move(pool)),
        m_request(std::move(request)),
        m_sink(std::move(sink)),
        m_strand(asio::make_strand(NetworkContext())),
        m_socket(m_strand),
        m_resolver(m_strand),
        m_phase_timer(m_strand),
        m_total_timer(m_strand) {}

  void Start() {
    asio::post(m_strand, [self = shared_from_this()] {
      self->m_total_timer.expires_after(self->m_options.total_timeout);
      self->m_total_timer.async_wait([self](boost::system::error_code ec) {  // on the strand
        if (!ec)
          self->Fail(GenerationFailure::kTimeout,
                     "no complete answer within the total timeout of " +
                         std::to_string(self->m_options.total_timeout.count()) + " ms");
      });
      self->Connect(true);
    });
  }

  void Cancel() override {
    asio::post(m_strand, [self = shared_from_this()] {
      self->End({GenerationFailure::kNone, "cancelled: the client went away"});
    });
  }

 private:
  std::string Where() const { return "http://" + m_url.host + ":" + m_url.port + m_url.prefix; }

  void Connect(bool may_reuse) {
    if (m_ended) return;
    if (may_reuse) {
      if (std::optional<tcp::socket> pooled = m_pool->Take()) {
        // Every handler is bound to this call's strand, whatever the socket's executor.
        m_socket = std::move(*pooled);
        m_reused = true;
        return Send();
      }
    }
    m_reused = false;
    Arm(m_options.connect_timeout, "no connection within the connect timeout of " +
                                       std::to_string(m_options.connect_timeout.count()) + " ms");
    m_resolver.async_resolve(
        m_url.host, m_url.port,
        asio::bind_executor(
            m_strand, [self = shared_from_this()](boost::system::error_code ec,
                                                  tcp::resolver::results_type results) {
              if (self->m_ended) return;
              if (ec)
                return self->Fail(GenerationFailure::kUpstream,
                                  "cannot resolve " + self->Where() + ": " + ec.message());
              asio::async_connect(
                  self->m_socket, results,
                  asio::bind_executor(self->m_strand, [self](boost::system::error_code connected,
                                                             const tcp::endpoint&) {
                    if (self->m_ended) return;
                    if (connected) {
                      return self->Fail(
                          GenerationFailure::kUpstream,
                          "cannot connect to " + self->Where() + ": " + connected.message());
                    }
                    boost::system::error_code ignored;
                    self->m_socket.set_option(tcp::no_delay(true), ignored);
                    self->Send();
                  }));
            }));
  }

  void Send() {
    std::string& out = m_wire;
    out = m_request.method + " " + m_url.prefix + m_request.path +
          " HTTP/1.1\r\nHost: " + m_url.host + ":" + m_url.port +
          "\r\nAccept: " + (m_request.stream ? "text/event-stream" : "application/json") +
          "\r\nUser-Agent: greylane-agent\r\nx-greylane-via: " + m_request.via +
          "\r\nx-request-id: " + m_request.request_id + "\r\n";
    if (!m_request.authorization.empty())
      out += "Authorization: " + m_request.authorization + "\r\n";
    if (m_request.method == "POST") {
      out += "Content-Type: application/json\r\nContent-Length: " +
             std::to_string(m_request.body.size()) + "\r\n\r\n" + m_request.body;
    } else {
      out += "\r\n";
    }
    Arm(m_options.first_byte_timeout, "no answer within the first-byte timeout of " +
                                          std::to_string(m_options.first_byte_timeout.count()) +
                                          " ms");
    asio::async_write(
        m_socket, asio::buffer(m_wire),
        asio::bind_executor(
            m_strand, [self = shared_from_this()](boost::system::error_code ec, size_t) {
              if (self->m_ended) return;
              if (ec) return self->Retry("cannot send to " + self->Where() + ": " + ec.message());
              self->ReadHead();
            }));
  }

  // A pooled connection the upstream closed meanwhile fails at once: try
  // once more on a new one, before anything of the answer has come.
  void Retry(const std::string& why) {
    if (m_reused && !m_got_bytes) {
      boost::system::error_code ignored;
      m_socket.close(ignored);
      return Connect(false);
    }
    Fail(GenerationFailure::kUpstream, why);
  }

  void ReadHead() {
    m_parser.emplace();
    m_parser->header_limit(kMaxUpstreamHeaderBytes);
    m_parser->body_limit(boost::none);
    http::async_read_header(
        m_socket, m_buffer, *m_parser,
        asio::bind_executor(m_strand, [self = shared_from_this()](beast::error_code ec, size_t n) {
          if (self->m_ended) return;
          self->m_got_bytes = self->m_got_bytes || n > 0;
          if (ec) {
            return self->Retry("the upstream " + self->Where() +
                               " closed or broke the connection before answering: " + ec.message());
          }
          self->Head();
        }));
  }

  void Head() {
    const auto& response = m_parser->get();
    GenerationHead head;
    head.status = static_cast<int>(response.result_int());
    head.content_type = std::string(response[http::field::content_type]);
    for (const auto& field : response) {
      if (RelayedHeader(field.name_string())) {
        head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
    }
    m_events = head.status < 300 && head.content_type.rfind("text/event-stream", 0) == 0;
    m_sink->OnHead(std::move(head));
    ReadBody();
  }

  void ReadBody() {
    if (m_parser->is_done()) return Done();
    ++m_phase;  // the previous phase's deadline no longer applies
    Arm(m_options.idle_timeout, "the upstream stopped sending for the idle timeout of " +
                                    std::to_string(m_options.idle_timeout.count()) + " ms");
    http::async_read_some(
        m_socket, m_buffer, *m_parser,
        asio::bind_executor(m_strand, [self = shared_from_this()](beast::error_code ec, size_t) {
          if (self->m_ended) return;
          self->TakeBody();
          if (self->m_ended) return;
          if (ec) {
            return self->Fail(GenerationFailure::kUpstream,
                              "the upstream " + self->Where() + " cut the answer: " + ec.message());
          }
          self->ReadBody();
        }));
  }

  void TakeBody() {
    std::string& body = m_parser->get().body();
    if (body.empty()) return;
    if (!m_events) {
      m_answer_bytes += body.size();
      if (m_answer_bytes > kMaxAnswerBytes) {
        return Fail(GenerationFailure::kUpstream, "the upstream's answer exceeds 64 MiB");
      }
      m_sink->OnData(std::move(body));
      body.clear();
      return;
    }
    std::vector<std::string> events;
    const bool ok = m_splitter.Feed(body, &events);
    body.clear();
    for (std::string& e : events) m_sink->OnData(std::move(e));
    if (!ok) Fail(GenerationFailure::kUpstream, "an event of the upstream's stream exceeds 1 MiB");
  }

  void Done() {
    if (std::string rest = m_splitter.TakeRest(); !rest.empty()) m_sink->OnData(std::move(rest));
    const bool keep = m_parser->keep_alive() && m_buffer.size() == 0;
    m_phase_timer.cancel();
    m_total_timer.cancel();
    if (keep) {
      m_pool->Give(std::move(m_socket));
      m_socket = tcp::socket(m_strand);
    }
    End({});
  }

  void Arm(std::chrono::milliseconds after, std::string why) {
    // A wait already expired when re-armed still runs: the serial tells it it is stale.
    const uint64_t serial = ++m_phase;
    m_phase_timer.expires_after(after);
    m_phase_timer.async_wait(asio::bind_executor(
        m_strand,
        [self = shared_from_this(), why = std::move(why), serial](boost::system::error_code ec) {
          if (!ec && serial == self->m_phase) self->Fail(GenerationFailure::kTimeout, why);
        }));
  }

  void Fail(GenerationFailure failure, std::string why) { End({failure, std::move(why)}); }

  void End(GenerationEnd end) {
    if (m_ended) return;
    m_ended = true;
    boost::system::error_code ignored;
    m_resolver.cancel();
    m_phase_timer.cancel();
    m_total_timer.cancel();
    if (m_socket.is_open()) m_socket.close(ignored);
    m_sink->OnEnd(std::move(end));
    m_sink.reset();
  }

  const OpenAiHttpOptions m_options;
  const HttpUrl m_url;
  std::shared_ptr<OpenAiHttpBackend::Pool> m_pool;
  const GenerationRequest m_request;
  std::shared_ptr<GenerationSink> m_sink;
  asio::strand<asio::io_context::executor_type> m_strand;
  tcp::socket m_socket;
  tcp::resolver m_resolver;
  asio::steady_timer m_phase_timer;
  asio::steady_timer m_total_timer;
  beast::flat_buffer m_buffer;
  std::optional<http::response_parser<http::string_body>> m_parser;
  SseSplitter m_splitter;
  std::string m_wire;
  size_t m_answer_bytes = 0;
  uint64_t m_phase = 0;
  bool m_events = false;
  bool m_reused = false;
  bool m_got_bytes = false;
  bool m_ended = false;
};

// The probe's sink: remembers the status, wakes the waiting prober.
class ProbeSink final : public GenerationSink {
 public:
  void OnHead(GenerationHead head) override { m_status = head.status; }
  void OnData(std::string) override {}
  void OnEnd(GenerationEnd end) override {
    m_done.set_value(end.failure == GenerationFailure::kNone ? std::string()
                     : end.error.empty()                     ? "failed"
                                                             : end.error);
  }
  std::future<std::string> Result() { return m_done.get_future(); }
  int Status() const { return m_status; }

 private:
  std::promise<std::string> m_done;
  std::atomic<int> m_status{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> OpenAiHttpBackend::Create(
    OpenAiHttpOptions options) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(options.base_url);
  if (!url.ok()) return url.status();
  // A base URL given as ".../v1" (as OpenAI clients take it): the client's
  // paths already start with /v1.
  if (url->prefix.size() >= 3 && url->prefix.compare(url->prefix.size() - 3, 3, "/v1") == 0) {
    url->prefix.resize(url->prefix.size() - 3);
  }
  return std::unique_ptr<OpenAiHttpBackend>(
      new OpenAiHttpBackend(std::move(options), std::move(*url)));
}

OpenAiHttpBackend::OpenAiHttpBackend(OpenAiHttpOptions options, HttpUrl url)
    : m_options(std::move(options)),
      m_url(std::move(url)),
      m_pool(std::make_shared<Pool>(static_cast<size_t>(std::max(m_options.connections, 1)))) {}

OpenAiHttpBackend::~OpenAiHttpBackend() {
  m_pool->Close();
}

void OpenAiHttpBackend::Infer(const inference::ModelInferRequest&, inference::ModelInferResponse*,
                              InferCompletion* done, const std::string&) {
  done->OnInferDone({grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                  "this version is an OpenAI-API upstream (" + m_options.base_url +
                                      "): send it the OpenAI API on the agent's HTTP data plane "
                                      "(--http-listen), not ModelInfer"),
                     true});
}

std::shared_ptr<GenerationCall> OpenAiHttpBackend::Generate(GenerationRequest request,
                                                            std::shared_ptr<GenerationSink> sink) {
  auto call =
      std::make_shared<UpstreamCall>(m_options, m_url, m_pool, std::move(request), std::move(sink));
  call->Start();
  return call;
}

namespace {
// One GET, waited for: the status, or 0 and why not.
int BlockingGet(const OpenAiHttpOptions& options, const HttpUrl& url,
                const std::shared_ptr<OpenAiHttpBackend::Pool>& pool, const std::string& path,
                const std::string& via, std::chrono::milliseconds deadline, std::string* error) {
  GenerationRequest request;
  request.method = "GET";
  request.path = path;
  request.via = via;
  request.request_id = "greylane-probe";
  auto sink = std::make_shared<ProbeSink>();
  std::future<std::string> result = sink->Result();
  auto call = std::make_shared<UpstreamCall>(options, url, pool, std::move(request), sink);
  call->Start();
  if (result.wait_for(deadline) != std::future_status::ready) {
    call->Cancel();
    *error = "GET " + path + " did not answer within " + std::to_string(deadline.count()) + " ms";
    return 0;
  }
  *error = result.get();
  return error->empty() ? sink->Status() : 0;
}
}  // namespace

int HttpStatusOf(const std::string& url, std::chrono::milliseconds deadline, std::string* error) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return 0;
  }
  // The URL's path is the path asked for, not a prefix.
  const std::string path = parsed->prefix.empty() ? "/" : parsed->prefix;
  parsed->prefix.clear();
  OpenAiHttpOptions options;
  options.connect_timeout = options.first_byte_timeout = options.idle_timeout =
      options.total_timeout = deadline;
  return BlockingGet(options, *parsed, std::make_shared<OpenAiHttpBackend::Pool>(0), path, {},
                     deadline, error);
}

grpc::Status OpenAiHttpBackend::Probe(std::chrono::milliseconds deadline, const std::string& via) {
  std::string error;
  const int status = BlockingGet(m_options, m_url, m_pool, "/v1/models", via, deadline, &error);
  const std::string url = "http://" + m_url.host + ":" + m_url.port + m_url.prefix + "/v1/models";
  if (status == 0) return {grpc::StatusCode::UNAVAILABLE, url + ": " + error};
  if (status != 200) {
    return {grpc::StatusCode::UNAVAILABLE,
            "GET " + url + " answered HTTP " + std::to_string(status)};
  }
  return grpc::Status::OK;
}

BackendDescription OpenAiHttpBackend::Description() const {
  BackendDescription d;
  d.kind = "openai-http";
  d.target = m_options.base_url;
  d.platform = "openai_http";
  return d;
}

}  // namespace greylane
