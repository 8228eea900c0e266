#include "agent/backends/openai_http_backend.h"

#include <future>
#include <optional>
#include <utility>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "agent/backends/network_threads.h"
#include "agent/backends/openai_wire.h"
#include "agent/backends/socket_drain.h"
#include "agent/backends/wire_text.h"

namespace greylane {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::string_view_literals;
using Clock = std::chrono::steady_clock;

namespace {
// A whole (not streamed) answer larger than this is a broken upstream.
constexpr size_t kMaxAnswerBytes = 64u << 20;
constexpr uint32_t kMaxUpstreamHeaderBytes = 64 * 1024;
constexpr size_t kMaxUpstreamBufferBytes = 2 * kMaxUpstreamHeaderBytes;

// Upstream headers worth passing to the client.
bool RelayedHeader(std::string_view name) {
  // Not x-request-id: the agent sends its own with the request and answers
  // with it, and a second, different one would leave the client guessing.
  static constexpr std::string_view kKept[] = {"openai-processing-ms", "retry-after",
                                               "openai-version", "x-greylane-version",
                                               "x-greylane-slot"};
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

namespace {
// host:port as a Host field has it: an IPv6 address in brackets.
std::string HostPort(const HttpUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" + url.port;
}

using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;
using Resolver = asio::ip::basic_resolver<tcp, Executor>;
constexpr size_t kKeptWireBytes = 64 * 1024;

// What a call keeps of an upstream's answer, in strings the connection
// owns (reused, so a kept connection's answers allocate nothing for them).
struct AnswerParts {
  int status = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> relayed;  // RelayedHeader's
  std::string body;  // what has come of it and not been taken yet
  void Clear() {
    status = 0;
    content_type.clear();
    relayed.clear();
    body.clear();
  }
};

// Beast's parser (framing, limits, chunked coding, keep-alive) with the
// answer's fields read as they are parsed: the few a call uses are kept,
// the rest never stored (Beast's own message keeps every field in a
// container, a third of this parse's cost).
class AnswerParser final : public http::basic_parser<false> {
 public:
  explicit AnswerParser(AnswerParts& parts) : m_parts(parts) { m_parts.Clear(); }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code& ec) override {
    ec = http::error::bad_method;  // never called for a response parser
  }
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    m_parts.status = code;
  }
  void on_field_impl(http::field f, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    if (is_header_done()) return;  // a trailer: fields after the body are not the head's
    if (f == http::field::content_type) {
      if (m_parts.content_type.empty()) m_parts.content_type.assign(value.data(), value.size());
    } else if (RelayedHeader({name.data(), name.size()})) {
      m_parts.relayed.emplace_back(std::string(name), std::string(value));
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    m_parts.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    m_parts.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  AnswerParts& m_parts;
};
}  // namespace

// The call using a connection: told when its deadline passes and when a
// read of the connection ends.
class ConnectionUser {
 public:
  virtual void DeadlinePassed() = 0;
  virtual void Received(boost::system::error_code ec, size_t bytes) = 0;

 protected:
  ~ConnectionUser() = default;
};

// One upstream: where it is, its deadlines (shared by every call to it, not
// copied into each), and its idle keep-alive connections, newest first,
// kept per network loop: a connection is registered with its loop's reactor, and a
// call runs on the loop of the request that made it, so each loop reuses
// its own (and never waits for another's lock holder).
class OpenAiHttpBackend::Upstream {
 public:
  Upstream(OpenAiHttpOptions options_in, HttpUrl url_in, size_t max_idle)
      : options(std::move(options_in)),
        url(std::move(url_in)),
        m_loops(NetworkLoopCount()),
        m_max_per_loop((max_idle + m_loops.size() - 1) / m_loops.size()) {}

  const OpenAiHttpOptions options;
  const HttpUrl url;
  // The request line's end, the Host field and the Accept field's name:
  // the same in every request.
  const std::string host_field = " HTTP/1.1\r\nHost: " + HostPort(url) + "\r\nAccept: ";

  // Where it is, for messages: http://host:port/prefix
  std::string Where() const { return "http://" + url.host + ":" + url.port + url.prefix; }

  // A connection and what a call on it needs, kept with it: a call on a
  // kept connection allocates none of it (nor looks up Asio's services).
  // Used on its loop only.
  struct Connection {
    explicit Connection(const Executor& executor)
        : socket(executor), timer(executor), buffer(kMaxUpstreamBufferBytes) {}
    Socket socket;
    ConnectionUser* user = nullptr;  // the call using it; none while it is idle
    // The deadline of the call using the connection, kept as the server's
    // sessions keep theirs: setting one moves `due`, and the timer is
    // re-armed only when `due` comes before the time it waits for; when it
    // wakes it looks at `due` then. (Arming and cancelling an Asio timer
    // per phase cost three more turns of the loop, and a tenth of a
    // proxied request's work.) Its wait holds the connection, and lets go
    // when it wakes or the connection is closed.
    Timer timer;
    Clock::time_point due = Clock::time_point::max();
    uint64_t wait = 0;  // which of the timer's waits is the live one
    bool waiting = false;
    // A read is kept going on an idle connection: it is the next answer's
    // first read, and it notices an upstream that closes the connection or
    // sends what nobody asked for (`spoiled`; such bytes would be read as
    // the next request's answer, and every answer after would go to the
    // request after its own). Checking for them when a call takes the
    // connection, and starting its read then, cost two system calls where
    // this costs one. A read holds the connection until it ends.
    uint64_t reads = 0;  // which read is the live one: closing the socket makes others stale
    bool reading = false;
    bool spoiled = false;
    // Bounded: an answer's head, a chunk header or its trailer fields must
    // fit here whole to be parsed (the header limit covers the head only);
    // unbounded, an upstream's endless trailer grew it without end, and
    // the pooled connection kept it. Bodies pass through piece by piece.
    // While a read is in flight nothing else changes it.
    beast::flat_buffer buffer;
    std::string wire;              // the request as sent
    std::shared_ptr<PeerEnd> end;  // of the socket's current connection
    AnswerParts answer;

    // `user`'s deadline is `at` from now on.
    static void Due(const std::shared_ptr<Connection>& c, Clock::time_point at) {
      c->due = at;
      if (c->waiting && c->timer.expiry() <= at) return;  // it wakes first, and looks again
      c->timer.expires_at(at);
      c->waiting = true;
      c->timer.async_wait([c, wait = ++c->wait](boost::system::error_code ec) {
        if (wait != c->wait) return;  // a later wait replaced this one
        c->waiting = false;
        if (ec || !c->user) return;
        if (Clock::now() >= c->due) return c->user->DeadlinePassed();
        Due(c, c->due);
      });
    }
    // Reads what comes next into the buffer, unless a read is in flight.
    // A read that empties the socket makes the next one wait for epoll,
    // with no recv first (DrainingBuffer); `end` tells it when that cannot
    // be so.
    static void Read(const std::shared_ptr<Connection>& c) {
      if (c->reading) return;
      c->reading = true;
      c->socket.async_read_some(
          DrainingBuffer(c->buffer.prepare(beast::read_size(c->buffer, 65536)), c->end.get()),
          [c, read = ++c->reads](boost::system::error_code ec, size_t n) {
            ReadEnded(c, read, ec, n);
          });
    }
    static void ReadEnded(const std::shared_ptr<Connection>& c, uint64_t read,
                          boost::system::error_code ec, size_t n) {
      if (read != c->reads) return;  // from a socket since closed
      c->reading = false;
      c->buffer.commit(n);
      if (c->user) return c->user->Received(ec, n);
      // While idle: closed, or bytes nobody asked for. Its socket goes
      // now (a call taking it from the pool drops it): kept, a pool of
      // connections the upstream closed held their descriptors in CLOSE_WAIT.
      c->spoiled = true;
      c->CloseSocket();
    }
    // No call uses it now (the timer may still wake, to no effect).
    void EndUse() {
      user = nullptr;
      due = Clock::time_point::max();
    }
    // Closes the socket (a read in flight is forgotten); it may connect again.
    void CloseSocket() {
      boost::system::error_code ignored;
      socket.close(ignored);
      ++reads;
      reading = false;
      buffer.consume(buffer.size());
    }
    // Closes it for good, and lets the timer's wait go.
    void Close() {
      EndUse();
      CloseSocket();
      timer.cancel();
    }
  };
  std::shared_ptr<Connection> Take(const asio::io_context& loop) {
    Idle& idle = m_loops[NetworkLoopIndex(loop)];
    while (true) {
      std::shared_ptr<Connection> c;
      {
        std::lock_guard lock(idle.mutex);
        if (idle.connections.empty()) return nullptr;
        c = std::move(idle.connections.back());
        idle.connections.pop_back();
      }
      if (c->reading && !c->spoiled) return c;
      c->Close();
    }
  }
  // On the connection's loop; the answer before has been read whole.
  void Give(std::shared_ptr<Connection> connection) {
    connection->EndUse();
    // An idle connection keeps no more than a usual request's bytes: one
    // 8 MB body would otherwise stay held by it for good.
    if (connection->wire.capacity() > kKeptWireBytes) std::string().swap(connection->wire);
    Idle& idle = m_loops[NetworkLoopIndex(connection->socket.get_executor().context())];
    {
      std::lock_guard lock(idle.mutex);
      if (!m_closed && idle.connections.size() < m_max_per_loop) {
        Connection::Read(connection);
        idle.connections.push_back(std::move(connection));
        return;
      }
    }
    connection->Close();
  }
  // From any thread: each idle connection is closed on its own loop.
  void Close() {
    m_closed = true;
    for (Idle& idle : m_loops) {
      std::vector<std::shared_ptr<Connection>> connections;
      {
        std::lock_guard lock(idle.mutex);
        connections.swap(idle.connections);
      }
      for (std::shared_ptr<Connection>& c : connections) {
        const Executor executor = c->socket.get_executor();
        asio::post(executor, [c = std::move(c)] { c->Close(); });
      }
    }
  }

 private:
  struct Idle {
    std::mutex mutex;
    std::vector<std::shared_ptr<Connection>> connections;
  };
  std::vector<Idle> m_loops;
  const size_t m_max_per_loop;
  std::atomic<bool> m_closed{false};
};

namespace {
using Connection = OpenAiHttpBackend::Upstream::Connection;

// One request to the upstream, from connect to the last byte, on one
// network loop (the calling thread's when that is one: the request's own).
class UpstreamCall final : public GenerationCall,
                           public ConnectionUser,
                           public std::enable_shared_from_this<UpstreamCall> {
 public:
  UpstreamCall(std::shared_ptr<OpenAiHttpBackend::Upstream> upstream, GenerationRequest&& request,
               std::shared_ptr<GenerationSink> sink)
      : m_upstream(std::move(upstream)),
        m_options(m_upstream->options),
        m_url(m_upstream->url),
        m_request(std::move(request)),
        m_sink(std::move(sink)),
        m_executor(NetworkContext().get_executor()) {}

  void Start() {
    m_total_deadline = Clock::now() + m_options.total_timeout;
    // Run now when already on the call's loop (a request's handler): one
    // hand-off fewer. Nothing of the sink is called before this returns
    // in a way the caller could not take: the sink sees its calls in order.
    asio::dispatch(m_executor, [self = shared_from_this()] { self->Connect(true); });
  }

  // A call let go of before it ended (only at shutdown) closes its connection:
  // the read in flight would hold it open for good.
  ~UpstreamCall() {
    if (m_conn && m_conn->user == this) m_conn->Close();
  }

  void Cancel() override {
    asio::post(m_executor, [self = shared_from_this()] {
      self->End({GenerationFailure::kNone, "cancelled: the client went away"});
    });
  }

 private:
  // Which deadline the timer is set for; its message is made only if it passes.
  enum class Phase { kConnect, kFirstByte, kIdle };  // TimedOut names them in this order

  std::string Where() const { return m_upstream->Where(); }

  void Connect(bool may_reuse) {
    if (m_ended) return;
    if (may_reuse) {
      if (std::shared_ptr<Connection> pooled = m_upstream->Take(m_executor.context())) {
        m_conn = std::move(pooled);
        m_conn->user = this;
        m_reused = true;
        return Send();
      }
    }
    m_reused = false;
    if (!m_conn) {
      m_conn = std::make_shared<Connection>(m_executor);
      m_conn->user = this;
    }
    Arm(Phase::kConnect);
    m_resolver.emplace(m_executor);
    m_resolver->async_resolve(
        m_url.host, m_url.port,
        [self = shared_from_this()](boost::system::error_code ec,
                                    tcp::resolver::results_type results) {
          if (self->m_ended) return;
          if (ec)
            return self->Fail(GenerationFailure::kUpstream,
                              "cannot resolve " + self->Where() + ": " + ec.message());
          asio::async_connect(self->m_conn->socket, results,
                              [self](boost::system::error_code connected, const tcp::endpoint&) {
                                if (self->m_ended) return;
                                if (connected) {
                                  return self->Fail(GenerationFailure::kUpstream,
                                                    "cannot connect to " + self->Where() + ": " +
                                                        connected.message());
                                }
                                boost::system::error_code ignored;
                                self->m_conn->socket.set_option(tcp::no_delay(true), ignored);
                                self->m_conn->end = PeerEndWatch::Watch(self->m_conn->socket);
                                self->Send();
                              });
        });
  }

  void Send() {
    std::string& out = m_conn->wire;
    const size_t head_room = 160 + m_request.method.size() + m_url.prefix.size() +
                             m_request.path.size() + m_upstream->host_field.size() +
                             m_request.via.size() + m_request.request_id.size() +
                             m_request.authorization.size();
    out.reserve(head_room + m_request.body.size());  // the body follows without a copy
    {
      WireText w(out, head_room);
      w.Put(m_request.method).Put(" "sv).Put(m_url.prefix).Put(m_request.path);
      w.Put(m_upstream->host_field);
      w.Put(m_request.stream ? "text/event-stream"sv : "application/json"sv);
      w.Put("\r\nUser-Agent: greylane-agent\r\nx-greylane-via: "sv).Put(m_request.via);
      w.Put("\r\nx-request-id: "sv).Put(m_request.request_id).Put("\r\n"sv);
      if (!m_request.authorization.empty())
        w.Put("Authorization: "sv).Put(m_request.authorization).Put("\r\n"sv);
      if (m_request.method == "POST") {
        w.Put("Content-Type: application/json\r\nContent-Length: "sv)
            .Number(m_request.body.size())
            .Put("\r\n\r\n"sv);
      } else {
        w.Put("\r\n"sv);
      }
    }
    out.append(m_request.body);
    Arm(Phase::kFirstByte);
    asio::async_write(m_conn->socket, asio::buffer(m_conn->wire),
                      [self = shared_from_this()](boost::system::error_code, size_t) {
                        if (self->m_ended) return;
                        // A failed send is not the end: an upstream may answer before it
                        // has read the whole request (a 413 for a body too large) and
                        // close, and that answer is the one to relay. The read finds it,
                        // or finds the connection closed (and the call is retried or
                        // fails as any broken connection does).
                        self->ReadHead();
                      });
  }

  // A pooled connection the upstream closed meanwhile fails at once: try
  // once more on a new one, before anything of the answer has come.
  void Retry(const std::string& why) {
    if (m_reused && !m_got_bytes) {
      m_parser.reset();  // it points into this connection
      m_conn->CloseSocket();
      return Connect(false);
    }
    Fail(GenerationFailure::kUpstream, why);
  }

  // The answer is read by hand, not by Beast's composed reads (which cost
  // two more operations a read): what is buffered goes to the parser at
  // once (a small answer usually comes whole with its head), and the
  // socket is read only when the parser needs more.
  void ReadHead() {
    m_parser.reset();
    m_parser.emplace(m_conn->answer);
    m_parser->header_limit(kMaxUpstreamHeaderBytes);
    m_parser->body_limit(boost::none);
    ContinueHead();
  }

  void ContinueHead() {
    if (!ParseBuffered()) return;
    if (m_parser->is_header_done()) return Head();
    Read(true);
  }

  void Head() {
    AnswerParts& answer = m_conn->answer;
    const int status = answer.status;
    // Interim answers (100 Continue, 103 Early Hints) come before the real
    // one; a 101 was never asked for.
    if (status >= 100 && status < 200) {
      if (status == 101 || ++m_interim_heads > kMaxInterimHeads) {
        return Fail(GenerationFailure::kUpstream,
                    "the upstream " + Where() + " answered HTTP " + std::to_string(status) +
                        (status == 101 ? ", switching protocols unasked" : " too many times"));
      }
      return ReadHead();
    }
    GenerationHead head;
    head.status = status;
    head.content_type = answer.content_type;
    head.headers = std::move(answer.relayed);
    answer.relayed.clear();
    m_events = head.status < 300 && head.content_type.rfind("text/event-stream", 0) == 0;
    m_sink->OnHead(std::move(head));
    if (m_ended) return;
    ContinueBody();
  }

  void ContinueBody() {
    if (!ParseBuffered()) return;
    TakeBody();
    if (m_ended) return;
    if (m_parser->is_done()) return Done();
    Arm(Phase::kIdle);
    Read(false);
  }

  // What is buffered, to the parser; false when that is a malformed
  // answer (the call has ended).
  bool ParseBuffered() {
    beast::flat_buffer& buffer = m_conn->buffer;
    while (!m_parser->is_done() && buffer.size() > 0) {
      beast::error_code ec;
      const size_t used = m_parser->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec == http::error::header_limit && !m_parser->is_header_done()) {
        Fail(GenerationFailure::kUpstream, "the upstream " + Where() + "'s answer has over " +
                                               std::to_string(kMaxUpstreamHeaderBytes) +
                                               " bytes of headers");
        return false;
      }
      if (ec) {
        Fail(GenerationFailure::kUpstream,
             "the upstream " + Where() + " sent a malformed answer: " + ec.message());
        return false;
      }
      if (used == 0) break;
    }
    return true;
  }

  // More of the answer: of its head, or of its body.
  void Read(bool head) {
    beast::flat_buffer& buffer = m_conn->buffer;
    if (buffer.size() >= buffer.max_size()) {
      // Only a chunk header or trailer fields grow it so (the head's own
      // limit is lower, and bodies pass through).
      return Fail(GenerationFailure::kUpstream,
                  "the upstream " + Where() + " sent a chunk header or trailer fields over " +
                      std::to_string(kMaxUpstreamBufferBytes) + " bytes");
    }
    m_reading_head = head;
    // A read that ended in the end of stream or an error while the request
    // was being sent: that is this read's end too (a read started now
    // would wait for an event the end will not raise again).
    if (m_send_time_end) return Received(std::exchange(m_send_time_end, {}), 0);
    // The read holds only the connection, and the caller may have let go
    // of the call (greylane-load does): the call holds itself until the
    // read ends or it does.
    m_held = shared_from_this();
    Connection::Read(m_conn);  // a kept connection's may be in flight already
  }

  // A read of the connection ended; on this call's loop.
  void Received(boost::system::error_code ec, size_t n) override {
    const auto self = m_held ? std::move(m_held) : shared_from_this();
    if (m_ended) return;
    m_got_bytes = m_got_bytes || n > 0;
    // An answer that comes while the request is still being sent waits in
    // the buffer, and the head's reading starts with it; an end or error
    // waits for it too.
    if (!m_parser) {
      if (ec) m_send_time_end = ec;
      return;
    }
    if (ec == asio::error::eof) {
      // An answer without a length ends with its connection; any other is
      // cut short (Beast's reads judge it the same way).
      ec = {};
      if (m_parser->got_some()) {
        m_parser->put_eof(ec);
      } else {
        ec = http::error::end_of_stream;
      }
    }
    if (ec && m_reading_head) {
      return Retry("the upstream " + Where() +
                   " closed or broke the connection before answering: " + ec.message());
    }
    if (ec) {
      TakeBody();
      if (m_ended) return;
      return Fail(GenerationFailure::kUpstream,
                  "the upstream " + Where() + " cut the answer: " + ec.message());
    }
    if (m_reading_head) return ContinueHead();
    ContinueBody();
  }

  void TakeBody() {
    std::string& body = m_conn->answer.body;
    if (body.empty()) return;
    if (!m_events) {
      m_answer_bytes += body.size();
      if (m_answer_bytes > kMaxAnswerBytes) {
        return Fail(GenerationFailure::kUpstream, "the upstream's answer exceeds 64 MiB");
      }
      // Taken out first: the sink may end the call, and the connection with it.
      std::string taken = std::move(body);
      body.clear();
      m_sink->OnData(std::move(taken));
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
    const bool keep = m_parser->keep_alive() && m_conn->buffer.size() == 0;
    m_parser.reset();                               // it points into the connection
    if (keep) m_upstream->Give(std::move(m_conn));  // its deadline is the next call's
    End({});
  }

  std::chrono::milliseconds Limit(Phase phase) const {
    return phase == Phase::kConnect     ? m_options.connect_timeout
           : phase == Phase::kFirstByte ? m_options.first_byte_timeout
                                        : m_options.idle_timeout;
  }

  void Arm(Phase phase) {
    const Clock::time_point at = Clock::now() + Limit(phase);
    m_phase_kind = phase;
    m_total_first = at >= m_total_deadline;
    Connection::Due(m_conn, std::min(at, m_total_deadline));
  }

  // From the connection's timer, on this call's loop.
  void DeadlinePassed() override {
    const auto self = shared_from_this();  // ending may let go of the last other owner
    TimedOut();
  }

  void TimedOut() {
    static constexpr const char* kWhat[] = {"no connection within the connect",
                                            "no answer within the first-byte",
                                            "the upstream stopped sending for the idle"};
    const char* what = m_total_first ? "no complete answer within the total"
                                     : kWhat[static_cast<int>(m_phase_kind)];
    const std::chrono::milliseconds limit =
        m_total_first ? m_options.total_timeout : Limit(m_phase_kind);
    Fail(GenerationFailure::kTimeout,
         std::string(what) + " timeout of " + std::to_string(limit.count()) + " ms");
  }

  void Fail(GenerationFailure failure, std::string why) { End({failure, std::move(why)}); }

  void End(GenerationEnd end) {
    const auto held = std::move(m_held);  // let go of when this returns, not in it
    if (m_ended) return;
    m_ended = true;
    if (m_resolver) m_resolver->cancel();
    if (m_conn) m_conn->Close();
    m_sink->OnEnd(std::move(end));
    m_sink.reset();
  }

  const std::shared_ptr<OpenAiHttpBackend::Upstream> m_upstream;
  const OpenAiHttpOptions& m_options;  // m_upstream's
  const HttpUrl& m_url;                // m_upstream's
  const GenerationRequest m_request;
  std::shared_ptr<GenerationSink> m_sink;
  const Executor m_executor;
  std::shared_ptr<Connection> m_conn;    // from Connect on, until given back or closed
  std::shared_ptr<UpstreamCall> m_held;  // itself, while a read is in flight
  std::optional<Resolver> m_resolver;    // only for a new connection
  Clock::time_point m_total_deadline;
  std::optional<AnswerParser> m_parser;  // writes into m_conn->answer
  SseSplitter m_splitter;
  size_t m_answer_bytes = 0;
  Phase m_phase_kind = Phase::kConnect;
  bool m_total_first = false;  // the total deadline comes before the phase's
  bool m_events = false;
  bool m_reused = false;
  bool m_got_bytes = false;
  bool m_reading_head = true;                 // what the read in flight is for
  boost::system::error_code m_send_time_end;  // see Read
  static constexpr int kMaxInterimHeads = 8;
  int m_interim_heads = 0;
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
    : m_upstream([&] {
        const auto idle = static_cast<size_t>(std::max(options.connections, 1));
        return std::make_shared<Upstream>(std::move(options), std::move(url), idle);
      }()) {}

OpenAiHttpBackend::~OpenAiHttpBackend() {
  m_upstream->Close();
}

void OpenAiHttpBackend::Infer(const inference::ModelInferRequest&, inference::ModelInferResponse*,
                              InferCompletion* done, const std::string&) {
  done->OnInferDone(
      {grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                    "this version is an OpenAI-API upstream (" + m_upstream->options.base_url +
                        "): send it the OpenAI API on the agent's HTTP data plane "
                        "(--http-listen), not ModelInfer"),
       true});
}

std::shared_ptr<GenerationCall> OpenAiHttpBackend::Generate(GenerationRequest request,
                                                            std::shared_ptr<GenerationSink> sink) {
  auto call = std::make_shared<UpstreamCall>(m_upstream, std::move(request), std::move(sink));
  call->Start();
  return call;
}

namespace {
// One GET, waited for: the status, or 0 and why not.
int BlockingGet(const std::shared_ptr<OpenAiHttpBackend::Upstream>& upstream,
                const std::string& path, const std::string& via, std::chrono::milliseconds deadline,
                std::string* error) {
  GenerationRequest request;
  request.method = "GET";
  request.path = path;
  request.via = via;
  request.request_id = "greylane-probe";
  auto sink = std::make_shared<ProbeSink>();
  std::future<std::string> result = sink->Result();
  auto call = std::make_shared<UpstreamCall>(upstream, std::move(request), sink);
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
  return BlockingGet(
      std::make_shared<OpenAiHttpBackend::Upstream>(std::move(options), std::move(*parsed), 0),
      path, {}, deadline, error);
}

grpc::Status OpenAiHttpBackend::Probe(std::chrono::milliseconds deadline, const std::string& via) {
  std::string error;
  const int status = BlockingGet(m_upstream, "/v1/models", via, deadline, &error);
  const std::string url = m_upstream->Where() + "/v1/models";
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
  d.target = m_upstream->options.base_url;
  d.platform = "openai_http";
  return d;
}

}  // namespace greylane
