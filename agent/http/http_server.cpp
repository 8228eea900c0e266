#include "agent/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "agent/backends/network_threads.h"
#include "agent/backends/socket_drain.h"
#include "agent/backends/wire_text.h"
#include "common/address.h"

namespace greylane {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::string_view_literals;
// A connection and its timers are tied to one network loop (one thread):
// its handlers never run at once, so it needs no strand, and the concrete
// executor type spares a type-erased one per operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;

namespace {
// Beast's parser (framing, limits, chunked coding, keep-alive) writing the
// request straight into the handler's HttpRequest: Beast's own message
// kept every field in a container, from which each was copied again.
class RequestReader final : public http::basic_parser<true> {
 public:
  explicit RequestReader(HttpRequest& request) : m_request(request) {}
  http::verb method = http::verb::unknown;
  int version = 11;
  bool expects_continue = false;   // Expect: 100-continue
  bool transfer_encoding = false;  // any Transfer-Encoding field

 private:
  void on_request_impl(http::verb verb, beast::string_view method_text, beast::string_view target,
                       int http_version, beast::error_code&) override {
    method = verb;
    version = http_version;
    m_request.method.assign(method_text.data(), method_text.size());
    m_request.target.assign(target.data(), target.size());
    m_request.path.assign(target.data(), std::min(target.find('?'), target.size()));
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // never called for a request parser
  }
  void on_field_impl(http::field f, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    // A trailer (after a chunked body) is not a header: one must not pin,
    // type or name a request after a front proxy checked its head.
    if (is_header_done()) return;
    if (f == http::field::expect && !expects_continue) {
      expects_continue = beast::iequals(value, "100-continue");
    } else if (f == http::field::transfer_encoding) {
      transfer_encoding = true;
    }
    auto& [lower, text] = m_request.headers.emplace_back();  // filled in place, not moved in
    lower.assign(name.data(), name.size());
    for (char& c : lower) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
    text.assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    // Within the body limit: Beast refused a larger Content-Length already.
    if (length) m_request.body.reserve(static_cast<size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    m_request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    m_request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  HttpRequest& m_request;
};

// A deadline set and cleared on every request but rarely reached: setting
// it moves a time, and the timer is re-armed only when the new time is
// earlier than the one it waits for; when it wakes it looks at the time
// then set. (Re-arming an Asio timer cancels its wait, which runs a
// handler: two extra turns of the loop per request.)
struct Deadline {
  explicit Deadline(const Executor& executor) : timer(executor) {}
  Timer timer;
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::time_point::max();
  uint64_t wait = 0;  // which async_wait is the live one
  bool waiting = false;
};

// A connection's byte stream: plain TCP, or TLS over it. Beast's reads and
// Asio's writes take it as any stream; asio's TLS stream allows one read
// and one write in flight at once, as the session needs (on its loop).
class SessionStream {
 public:
  using executor_type = Executor;

  SessionStream(Socket socket, asio::ssl::context* tls) {
    if (tls) {
      m_tls.emplace(std::move(socket), *tls);
    } else {
      m_plain.emplace(std::move(socket));
    }
  }
  Socket& Lowest() { return m_tls ? m_tls->next_layer() : *m_plain; }
  asio::ssl::stream<Socket>* Tls() { return m_tls ? &*m_tls : nullptr; }
  executor_type get_executor() { return Lowest().get_executor(); }

  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (m_tls) {
      m_tls->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      m_plain->async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (m_tls) {
      m_tls->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      m_plain->async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

 private:
  std::optional<Socket> m_plain;
  std::optional<asio::ssl::stream<Socket>> m_tls;
};
}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

std::string_view HttpReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

namespace {

// `chunked`: a stream; to an HTTP/1.0 client (no chunked coding) a stream
// is neither chunked nor sized, and ends when the connection closes. The
// body follows the head in the same string when `with_body` (one write).
// Header names and values come partly from outside (upstream headers):
// WireText::Field keeps CR, LF and NUL off the wire.
std::string Head(const HttpResponse& r, bool keep_alive, bool chunked, bool http10 = false,
                 bool with_body = false) {
  size_t size = 160 + r.content_type.size();
  for (const auto& [name, value] : r.headers) size += name.size() + value.size() + 4;
  std::string head;
  // Room for the body too: it goes in after the head without a copy of it.
  head.reserve(size + (with_body ? r.body.size() : 0));
  {
    WireText w(head, size);
    w.Put("HTTP/1.1 "sv).Number(static_cast<uint64_t>(r.status)).Put(" "sv);
    w.Put(HttpReason(r.status)).Put("\r\n"sv);
    if (!r.content_type.empty()) w.Put("Content-Type: "sv).Field(r.content_type).Put("\r\n"sv);
    for (const auto& [name, value] : r.headers) {
      w.Field(name).Put(": "sv).Field(value).Put("\r\n"sv);
    }
    if (!(chunked && http10)) {
      if (chunked) {
        w.Put("Transfer-Encoding: chunked\r\n"sv);
      } else {
        w.Put("Content-Length: "sv).Number(r.body.size()).Put("\r\n"sv);
      }
    }
    if (!keep_alive) {
      w.Put("Connection: close\r\n"sv);
    } else if (http10) {
      w.Put("Connection: keep-alive\r\n"sv);  // 1.0 closes unless told otherwise
    }
    w.Put("\r\n"sv);
  }
  if (with_body) head.append(r.body);
  return head;
}

std::string Chunk(std::string_view bytes) {
  char size[20];
  const int n = std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
  std::string out(size, static_cast<size_t>(n));
  out.append(bytes);
  out += "\r\n";
  return out;
}

std::string PlainError(int status, std::string_view message,
                       std::string_view type = "invalid_request_error") {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"error\":{\"message\":\"" + std::string(message) + "\",\"type\":\"" +
           std::string(type) + "\"}}";
  return Head(r, false, false, false, true);
}

}  // namespace

class HttpSession;

class HttpServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(HttpLimits limits, HttpHandler& handler, std::unique_ptr<asio::ssl::context> tls)
      : m_limits(limits),
        m_handler(handler),
        m_tls(std::move(tls)),
        m_acceptor(NetworkContext().get_executor()) {}

  void Accept();
  void Forget(HttpSession* session);
  void Shutdown(std::chrono::milliseconds drain);

  const HttpLimits m_limits;
  HttpHandler& m_handler;
  const std::unique_ptr<asio::ssl::context> m_tls;  // null: plain HTTP
  asio::basic_socket_acceptor<tcp, Executor> m_acceptor;
  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;
  std::unordered_set<HttpSession*> m_sessions;  // guarded by m_mutex
  std::vector<std::weak_ptr<HttpSession>> m_session_refs;
};

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<HttpServer::Impl> server, Socket socket)
      : m_server(std::move(server)),
        m_limits(m_server->m_limits),
        m_executor(socket.get_executor()),
        m_socket(std::move(socket), m_server->m_tls.get()),
        m_read_deadline(m_executor),
        m_write_deadline(m_executor),
        m_buffer(BufferLimit(m_limits)) {
    boost::system::error_code ec;
    const tcp::endpoint peer = m_socket.Lowest().remote_endpoint(ec);
    if (!ec) m_peer = peer.address().to_string() + ":" + std::to_string(peer.port());
    m_socket.Lowest().set_option(tcp::no_delay(true), ec);
    // WriteNext writes at once; a full socket buffer must not block it.
    m_socket.Lowest().non_blocking(true, ec);
  }
  ~HttpSession() { m_server->Forget(this); }

  void Start() {
    asio::post(m_executor, [self = shared_from_this()] {
      asio::ssl::stream<Socket>* tls = self->m_socket.Tls();
      if (!tls) {
        self->m_peer_end = PeerEndWatch::Watch(self->m_socket.Lowest());
        return self->AwaitRequest();
      }
      // The handshake counts as the first request's reading: a client that
      // opens and stalls is cut at the same deadline.
      self->Arm(self->m_read_deadline, self->m_limits.request_timeout);
      tls->async_handshake(asio::ssl::stream_base::server, [self](boost::system::error_code ec) {
        self->Disarm(self->m_read_deadline);
        if (ec) return self->Close();
        self->AwaitRequest();
      });
    });
  }

  // Closes the connection if it waits for a request; else lets the answer
  // finish and closes after it.
  void Stop(bool now) {
    asio::post(m_executor, [self = shared_from_this(), now] {
      self->m_keep_alive = false;
      // Cut now: the handler hears it as the client leaving, so an upstream
      // stream still running is cancelled rather than left to hold the
      // session until the hard stop.
      if (now || !self->m_answering) self->ClientGone();
    });
  }

  // --- called on the session's loop by the exchange ---
  void Reply(HttpResponse response, uint64_t serial) {
    if (!Current(serial) || m_head_sent) return;
    m_head_sent = true;
    Queue(Head(response, m_keep_alive, false, m_http10, !m_head_only));
    AnswerComplete();
  }
  void BeginStream(HttpResponse head, uint64_t serial) {
    if (!Current(serial) || m_head_sent) return;
    m_head_sent = true;
    m_streaming = true;
    if (m_http10) m_keep_alive = false;  // the end of the stream is the connection's
    std::string bytes = Head(head, m_keep_alive, true, m_http10);
    if (!head.body.empty()) bytes += m_http10 ? head.body : Chunk(head.body);
    Queue(std::move(bytes));
  }
  void SendChunk(std::string bytes, uint64_t serial) {
    if (!Current(serial) || !m_streaming || bytes.empty()) return;
    Queue(m_http10 ? std::move(bytes) : Chunk(bytes));
  }
  void EndStream(uint64_t serial) {
    if (!Current(serial) || !m_streaming) return;
    m_streaming = false;
    if (!m_http10) Queue("0\r\n\r\n");
    AnswerComplete();
  }
  void SetGoneCallback(std::function<void()> callback, uint64_t serial) {
    if (serial != m_serial) return;
    if (m_gone) {
      asio::post(m_executor, std::move(callback));
      return;
    }
    m_on_gone = std::move(callback);
  }

  const Executor& GetExecutor() const { return m_executor; }
  const std::string& Peer() const { return m_peer; }

 private:
  bool Current(uint64_t serial) const { return serial == m_serial && m_answering && !m_closed; }

  void AwaitRequest() {
    if (m_closed) return;
    if (m_server->m_stopping || !m_keep_alive) return Close();
    m_answering = false;
    if (m_buffer.size() > 0) return ReadHeader();
    // Idle between requests: wait for a first byte under the idle timeout;
    // a new connection that sends nothing gets only the request deadline,
    // or a thousand silent ones would hold every slot.
    Arm(m_read_deadline, m_serial == 0 ? m_limits.request_timeout : m_limits.idle_timeout);
    m_socket.async_read_some(DrainingBuffer(m_buffer.prepare(4096), m_peer_end.get()),
                             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                               self->m_buffer.commit(n);
                               if (ec || n == 0) return self->Close();
                               self->ReadHeader();
                             });
  }

  void ReadHeader() {
    if (!SkipBlankLines()) return;
    if (m_buffer.size() == 0) return AwaitRequest();
    m_parser.reset();
    // Emptied, not replaced: MakeExchange moved the last one out.
    m_next.method.clear();
    m_next.target.clear();
    m_next.path.clear();
    m_next.headers.clear();
    m_next.body.clear();
    m_next.headers.reserve(8);
    m_parser.emplace(m_next);
    m_parser->header_limit(static_cast<uint32_t>(m_limits.max_header_bytes));
    m_parser->body_limit(m_limits.max_body_bytes);
    // A request usually comes whole in one read: parsed here, it is handled
    // in this turn of the loop (Beast's reads would take two more turns,
    // each behind every other connection's work).
    if (!ParseBuffered()) return;
    if (m_parser->is_done()) return Dispatch();
    Arm(m_read_deadline, m_limits.request_timeout);
    if (m_parser->is_header_done()) return ReadBody();
    http::async_read_header(m_socket, m_buffer, *m_parser,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->RequestFailed(ec);
                              self->ReadBody();
                            });
  }

  // RFC 9112 2.2: empty lines before a request line are ignored (some
  // clients end a body with one more CRLF); a few, or a client could hold
  // the connection with them. False when refused.
  bool SkipBlankLines() {
    const auto* data = static_cast<const char*>(m_buffer.data().data());
    size_t n = 0;
    while (n < m_buffer.size() && (data[n] == '\r' || data[n] == '\n')) ++n;
    if (n == 0) return true;
    m_buffer.consume(n);
    m_blank_bytes += n;
    if (m_blank_bytes <= kMaxBlankBytes) return true;
    Refuse(400, "malformed HTTP request: empty lines instead of a request line");
    return false;
  }

  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked
  // has no knowable length. True when refused.
  bool RefusedTransferEncoding() {
    if (m_parser->chunked() || !m_parser->transfer_encoding) return false;
    Refuse(400, "malformed HTTP request: a Transfer-Encoding other than chunked is not accepted");
    return true;
  }

  // What is buffered, to the parser: false when that is a bad request
  // (answered).
  bool ParseBuffered() {
    while (!m_parser->is_done() && m_buffer.size() > 0) {
      beast::error_code ec;
      const size_t used = m_parser->put(m_buffer.data(), ec);
      m_buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        RequestFailed(ec);
        return false;
      }
      if (used == 0) break;
    }
    return true;
  }

  void ReadBody() {
    if (RefusedTransferEncoding()) return;
    // An HTTP/1.0 client cannot take an interim answer (RFC 9110 10.1.1).
    if (m_parser->expects_continue && m_parser->version >= 11 && !m_parser->is_done()) {
      if (m_parser->content_length().value_or(0) > m_limits.max_body_bytes) {
        return RequestFailed(http::error::body_limit);
      }
      Queue("HTTP/1.1 100 Continue\r\n\r\n");
    }
    http::async_read(m_socket, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->RequestFailed(ec);
                       self->Dispatch();
                     });
  }

  void RequestFailed(beast::error_code ec) {
    int status = 400;
    std::string message = "malformed HTTP request: " + ec.message();
    if (ec == http::error::header_limit) {
      status = 431;
      message =
          "the request's headers exceed " + std::to_string(m_limits.max_header_bytes) + " bytes";
    } else if (ec == http::error::buffer_overflow) {
      status = 431;
      message = "a chunk header or the trailer fields of the request's chunked body exceed " +
                std::to_string(BufferLimit(m_limits)) + " bytes";
    } else if (ec == http::error::body_limit) {
      status = 413;
      message = "the request's body exceeds " + std::to_string(m_limits.max_body_bytes) + " bytes";
    } else if (ec == asio::error::operation_aborted || ec == http::error::partial_message ||
               ec == asio::error::eof || ec == http::error::end_of_stream) {
      // The timeout closed it, or the client left: nothing to answer.
      return Close();
    }
    Refuse(status, message);
  }

  // Answers a request that cannot be read, and closes after.
  void Refuse(int status, std::string_view message) {
    Disarm(m_read_deadline);
    if (m_closed) return;
    m_keep_alive = false;
    m_answering = true;
    m_head_sent = true;
    Queue(PlainError(status, message));
    AnswerComplete();
  }

  void Dispatch() {
    if (RefusedTransferEncoding()) return;
    Disarm(m_read_deadline);
    m_blank_bytes = 0;
    std::shared_ptr<HttpExchange> exchange;
    ++m_serial;
    m_answering = true;
    m_head_sent = false;
    m_streaming = false;
    m_gone = false;
    m_on_gone = nullptr;
    m_keep_alive = m_parser->keep_alive() && !m_server->m_stopping;
    m_head_only = m_parser->method == http::verb::head;
    m_http10 = m_parser->version < 11;
    // HTTP/1.0 has no chunked coding: such framing is suspect, so the
    // connection ends with this answer (RFC 9112 6.1).
    if (m_http10 && m_parser->chunked()) m_keep_alive = false;
    m_parser.reset();  // before the handler: an inline answer may start the next request
    exchange = MakeExchange();
    Watch();
    m_in_handler = true;
    m_server->m_handler.Handle(std::move(exchange));
    m_in_handler = false;
  }

  // The handler's view of the request just read (m_next, moved).
  std::shared_ptr<HttpExchange> MakeExchange();

  // While an answer is being made, a read notices the client leaving.
  // The request's read usually emptied the socket, and then this read
  // waits for epoll without trying the socket first (socket_drain.h): one
  // system call less a request.
  void Watch() {
    if (m_watching || m_closed) return;
    if (m_buffer.size() >= m_limits.max_header_bytes) return;  // a pipelining client: enough
    m_watching = true;
    m_socket.async_read_some(DrainingBuffer(m_buffer.prepare(1024), m_peer_end.get()),
                             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                               self->m_watching = false;
                               self->m_buffer.commit(n);
                               if (self->m_closed) return;
                               if (ec && ec != asio::error::operation_aborted)
                                 return self->ClientGone();
                               // The answer is out, and this read got the next request's
                               // first bytes: on to it.
                               if (!self->m_answering) return self->AwaitRequest();
                               if (!ec) self->Watch();
                             });
  }

  void ClientGone() {
    if (m_gone) return;
    m_gone = true;
    // Posted, never run here: this may be inside one of the exchange's
    // calls, whose caller may hold a lock the callback takes.
    if (m_answering) {
      if (auto callback = std::move(m_on_gone)) asio::post(m_executor, std::move(callback));
    }
    Close();
  }

  void Queue(std::string bytes) {
    if (m_closed) return;
    // Too slow is a backlog the client has not read: checked before adding,
    // so one answer or chunk larger than the bound still goes out whole.
    if (m_queued_bytes >= m_limits.max_queued_bytes) return ClientGone();
    m_queued_bytes += bytes.size();
    m_queue.push_back(std::move(bytes));
    if (!m_writing) WriteNext();
  }

  // Marks `n` more bytes of the queue as written.
  void Written(size_t n) {
    m_queued_bytes -= n;
    m_front_written += n;
    if (m_front_written == m_queue.front().size()) {
      m_queue.pop_front();
      m_front_written = 0;
    }
  }

  void WriteNext() {
    if (m_closed) return;
    // Plain TCP: an answer usually fits the socket's buffer, and written
    // now it takes no turn of the loop (Asio would write at once too, but
    // hand its completion to a later turn).
    if (!m_socket.Tls()) {
      while (!m_queue.empty()) {
        boost::system::error_code ec;
        const size_t n =
            m_socket.Lowest().write_some(asio::buffer(m_queue.front()) + m_front_written, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec) return ClientGone();
        Written(n);
        if (!m_queue.empty() && m_front_written > 0) break;  // the socket's buffer is full
      }
    }
    if (m_queue.empty()) {
      Disarm(m_write_deadline);
      if (m_answer_complete) AnswerSent();
      return;
    }
    m_writing = true;
    // Renewed on every write that makes progress: the limit is on a client
    // that stops reading, not on one reading a large answer.
    Arm(m_write_deadline, m_limits.write_timeout);
    m_socket.async_write_some(asio::buffer(m_queue.front()) + m_front_written,
                              [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                self->m_writing = false;
                                if (ec || self->m_closed) return self->ClientGone();
                                self->Written(n);
                                self->WriteNext();
                              });
  }

  void AnswerComplete() {
    m_answer_complete = true;
    if (!m_writing && m_queue.empty()) AnswerSent();
  }

  void AnswerSent() {
    m_answer_complete = false;
    m_answering = false;
    m_on_gone = nullptr;
    if (!m_keep_alive || m_server->m_stopping) {
      boost::system::error_code ignored;
      m_socket.Lowest().shutdown(Socket::shutdown_send, ignored);
      return Close();
    }
    if (m_watching) {
      if (m_buffer.size() > 0) {
        // A pipelined request is already here: the watch read is stopped,
        // and its handler goes on to read that request.
        boost::system::error_code ignored;
        m_socket.Lowest().cancel(ignored);
        return;
      }
      // The watch read goes on as the wait for the next request (cancelling
      // it and reading again would cost two more system calls a request).
      Arm(m_read_deadline, m_limits.idle_timeout);
      return;
    }
    // Answered inside the handler: the next pipelined request starts in a
    // later turn, or a long pipeline would nest one Dispatch per request.
    if (m_in_handler) {
      asio::post(m_executor, [self = shared_from_this()] { self->AwaitRequest(); });
      return;
    }
    AwaitRequest();
  }

  void Arm(Deadline& d, std::chrono::milliseconds after) {
    d.at = std::chrono::steady_clock::now() + after;
    if (d.waiting && d.timer.expiry() <= d.at) return;  // it wakes first, and looks again
    d.timer.expires_at(d.at);
    d.waiting = true;
    d.timer.async_wait(
        [self = shared_from_this(), &d, wait = ++d.wait](boost::system::error_code ec) {
          if (wait != d.wait) return;  // a later wait replaced this one
          d.waiting = false;
          if (ec || self->m_closed || d.at == std::chrono::steady_clock::time_point::max()) return;
          if (std::chrono::steady_clock::now() >= d.at) return self->ClientGone();
          self->Arm(d, std::chrono::duration_cast<std::chrono::milliseconds>(
                           d.at - std::chrono::steady_clock::now()) +
                           std::chrono::milliseconds(1));
        });
  }
  static void Disarm(Deadline& d) { d.at = std::chrono::steady_clock::time_point::max(); }

  void Close() {
    if (m_closed) return;
    m_closed = true;
    boost::system::error_code ignored;
    m_socket.Lowest().close(ignored);
    m_read_deadline.timer.cancel();
    m_write_deadline.timer.cancel();
    // The queue stays: a write in flight still points into its front.
  }

  std::shared_ptr<HttpServer::Impl> m_server;
  const HttpLimits& m_limits;
  const Executor m_executor;
  SessionStream m_socket;
  Deadline m_read_deadline;
  Deadline m_write_deadline;
  // Bounded: Beast's header limit covers the head only, and a chunk
  // header's extensions or the trailer fields after a chunked body must
  // sit whole in this buffer to be parsed; unbounded, one endless trailer
  // held gigabytes. (Bodies pass through it piece by piece.)
  static size_t BufferLimit(const HttpLimits& limits) { return limits.max_header_bytes + 16384; }
  beast::flat_buffer m_buffer;
  HttpRequest m_next;                     // the request being read
  std::optional<RequestReader> m_parser;  // writes into m_next
  std::string m_peer;
  std::deque<std::string> m_queue;
  static constexpr size_t kMaxBlankBytes = 8;
  std::shared_ptr<PeerEnd> m_peer_end;  // plain TCP only (socket_drain.h)
  size_t m_blank_bytes = 0;             // empty lines since the last request
  size_t m_front_written = 0;           // of the queue's front, already sent
  size_t m_queued_bytes = 0;
  uint64_t m_serial = 0;  // which request the exchange answers
  bool m_writing = false;
  bool m_watching = false;
  bool m_in_handler = false;  // inside Handle(): an inline answer must not start the next request
  bool m_answering = false;
  bool m_answer_complete = false;
  bool m_head_sent = false;
  bool m_head_only = false;
  bool m_http10 = false;  // an HTTP/1.0 client: streams are not chunked
  bool m_streaming = false;
  bool m_keep_alive = true;
  bool m_gone = false;
  bool m_closed = false;
  std::function<void()> m_on_gone;
};

namespace {
// Called on the session's own loop (an upstream's answer arrives there),
// a call acts at once; from another thread (the built-in model's) it is
// posted there. Calls stay in order: while one is posted and not yet run,
// the next is posted behind it.
class SessionExchange final : public HttpExchange,
                              public std::enable_shared_from_this<SessionExchange> {
 public:
  SessionExchange(std::shared_ptr<HttpSession> session, uint64_t serial, HttpRequest&& request)
      : m_session(std::move(session)), m_request(std::move(request)), m_serial(serial) {}
  const HttpRequest& Request() const override { return m_request; }
  HttpRequest& MutableRequest() override { return m_request; }
  void Reply(HttpResponse response) override {
    OnLoop([r = std::move(response)](HttpSession& s, uint64_t n) mutable {
      s.Reply(std::move(r), n);
    });
  }
  void BeginStream(HttpResponse head) override {
    OnLoop([r = std::move(head)](HttpSession& s, uint64_t n) mutable {
      s.BeginStream(std::move(r), n);
    });
  }
  void SendChunk(std::string bytes) override {
    OnLoop([b = std::move(bytes)](HttpSession& s, uint64_t n) mutable {
      s.SendChunk(std::move(b), n);
    });
  }
  void EndStream() override {
    OnLoop([](HttpSession& s, uint64_t n) { s.EndStream(n); });
  }
  void OnClientGone(std::function<void()> callback) override {
    OnLoop([c = std::move(callback)](HttpSession& s, uint64_t n) mutable {
      s.SetGoneCallback(std::move(c), n);
    });
  }

 private:
  template <typename Action>
  void OnLoop(Action&& action) {
    if (m_posted.load(std::memory_order_acquire) == 0 &&
        m_session->GetExecutor().running_in_this_thread()) {
      return action(*m_session, m_serial);
    }
    m_posted.fetch_add(1, std::memory_order_acq_rel);
    asio::post(m_session->GetExecutor(),
               [self = shared_from_this(), a = std::forward<Action>(action)]() mutable {
                 a(*self->m_session, self->m_serial);
                 self->m_posted.fetch_sub(1, std::memory_order_acq_rel);
               });
  }

  std::shared_ptr<HttpSession> m_session;
  HttpRequest m_request;
  const uint64_t m_serial;
  std::atomic<int> m_posted{0};  // calls posted and not yet run
};
}  // namespace

std::shared_ptr<HttpExchange> HttpSession::MakeExchange() {
  m_next.peer = m_peer;
  return std::make_shared<SessionExchange>(shared_from_this(), m_serial, std::move(m_next));
}

void HttpServer::Impl::Accept() {
  // Each new connection goes to the next loop, and stays there.
  m_acceptor.async_accept(NextNetworkContext(), [self = shared_from_this()](
                                                    boost::system::error_code ec, Socket socket) {
    if (self->m_stopping) return;
    if (!ec) {
      std::unique_lock lock(self->m_mutex);
      if (self->m_sessions.size() >= self->m_limits.max_connections) {
        lock.unlock();
        // A fresh socket's send buffer is empty: this write does not block.
        // (A TLS client would read it as a failed handshake: it is closed.)
        const std::string busy =
            PlainError(503, "too many connections to this agent; retry", "server_error");
        boost::system::error_code ignored;
        if (!self->m_tls) asio::write(socket, asio::buffer(busy), ignored);
        socket.close(ignored);
      } else {
        auto session = std::make_shared<HttpSession>(self, std::move(socket));
        self->m_sessions.insert(session.get());
        self->m_session_refs.push_back(session);
        if (self->m_session_refs.size() > 2 * self->m_sessions.size() + 64) {
          std::erase_if(self->m_session_refs, [](const auto& w) { return w.expired(); });
        }
        lock.unlock();
        session->Start();
      }
    } else if (ec == asio::error::operation_aborted) {
      return;
    } else {
      // Out of descriptors and the like: pause rather than spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    self->Accept();
  });
}

void HttpServer::Impl::Forget(HttpSession* session) {
  std::lock_guard lock(m_mutex);
  m_sessions.erase(session);
}

void HttpServer::Impl::Shutdown(std::chrono::milliseconds drain) {
  if (m_stopping.exchange(true)) return;
  asio::post(m_acceptor.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->m_acceptor.close(ignored);
  });
  auto each = [this](bool now) {
    std::vector<std::shared_ptr<HttpSession>> live;
    {
      std::lock_guard lock(m_mutex);
      for (const auto& w : m_session_refs) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) s->Stop(now);
  };
  auto open = [this] {
    std::lock_guard lock(m_mutex);
    return m_sessions.size();
  };
  each(false);
  const auto until = std::chrono::steady_clock::now() + drain;
  while (open() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  each(true);
  // A handler may still hold an exchange for a moment; it writes nowhere now.
  const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (open() > 0 && std::chrono::steady_clock::now() < hard) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                              const HttpLimits& limits,
                                                              HttpHandler& handler,
                                                              const HttpTlsPem* tls) {
  std::string host;
  if (!ParseHostPort(listen, &host)) {
    return absl::InvalidArgumentError("the HTTP listen address " + listen + " is not host:port");
  }
  std::unique_ptr<asio::ssl::context> context;
  if (tls) {
    context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    // TLS 1.2 and later only, as gRPC's planes.
    context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    boost::system::error_code ec;
    context->use_certificate_chain(asio::buffer(tls->cert_chain), ec);
    if (ec) {
      return absl::InvalidArgumentError("the HTTP plane's TLS certificate is not a PEM chain: " +
                                        ec.message());
    }
    context->use_private_key(asio::buffer(tls->private_key), asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          "the HTTP plane's TLS key is not a PEM private key, or not the certificate's: " +
          ec.message());
    }
  }
  auto impl = std::make_shared<Impl>(limits, handler, std::move(context));
  boost::system::error_code ec;
  tcp::resolver resolver(NetworkContext());
  const std::string port_text = listen.substr(listen.rfind(':') + 1);
  const auto endpoints = resolver.resolve(host, port_text, tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError("cannot resolve the HTTP listen address " + listen + ": " +
                                      ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  impl->m_acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->m_acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->m_acceptor.bind(endpoint, ec);
  if (!ec) impl->m_acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError("cannot listen for HTTP on " + listen + ": " + ec.message());
  }
  const tcp::endpoint bound = impl->m_acceptor.local_endpoint(ec);
  std::string address = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                : bound.address().to_string();
  address += ":" + std::to_string(bound.port());
  asio::post(impl->m_acceptor.get_executor(), [impl] { impl->Accept(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), std::move(address)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl, std::string address)
    : m_impl(std::move(impl)), m_address(std::move(address)) {}

HttpServer::~HttpServer() {
  Shutdown(std::chrono::milliseconds(0));
}

void HttpServer::Shutdown(std::chrono::milliseconds drain) {
  m_impl->Shutdown(drain);
}

size_t HttpServer::OpenConnections() const {
  std::lock_guard lock(m_impl->m_mutex);
  return m_impl->m_sessions.size();
}

}  // namespace greylane
