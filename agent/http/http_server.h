#pragma once
// An HTTP/1.1 server for the agent's HTTP data plane: keep-alive, bounded
// header and body sizes, a deadline on reading each request (slow clients
// cannot hold a connection by trickling bytes), a bound on connections and
// on the bytes queued for a client that reads slowly, and streamed
// (chunked) answers whose client going away is noticed at once.
//
// Requests are parsed by Boost.Beast (Debian's libboost1.81-dev); answers
// are written as plain bytes, which lets a stream's chunks go out the moment
// they exist. Handlers see no Beast types. Runs on the network threads
// (NetworkContext). TLS (1.2+) is Asio's OpenSSL stream.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace greylane {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 8u << 20;
  size_t max_connections = 1024;
  // From a request's first byte to its last: a slowloris client is cut here.
  std::chrono::milliseconds request_timeout{10000};
  // Between requests on a kept-alive connection.
  std::chrono::milliseconds idle_timeout{75000};
  // A client that stops reading an answer is dropped after this long, or
  // once this many bytes wait for it.
  std::chrono::milliseconds write_timeout{30000};
  size_t max_queued_bytes = 4u << 20;
};

struct HttpRequest {
  std::string method;
  std::string target;                                        // as sent: path and query
  std::string path;                                          // without the query
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  std::string peer;  // "ip:port"
  // The first value of a header (lower-case name), empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request's answer. Every method may be called from any thread; on the
// request's own network loop it acts before it returns. The OnClientGone
// callback is never run from inside one of these calls.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual const HttpRequest& Request() const = 0;
  // The same, for a handler that moves parts out once it has read them
  // (a body on its way to an upstream).
  virtual HttpRequest& MutableRequest() = 0;
  // The whole answer at once.
  virtual void Reply(HttpResponse response) = 0;
  // A chunked answer: the head now, then chunks as they come, then the end.
  virtual void BeginStream(HttpResponse head) = 0;
  virtual void SendChunk(std::string bytes) = 0;
  virtual void EndStream() = 0;
  // `callback` runs once, on a network thread, if the client goes away (or
  // is dropped as too slow) before the answer is complete.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must answer the exchange exactly once (Reply, or BeginStream…EndStream),
  // now or later; the handler may keep it as long as it needs.
  virtual void Handle(std::shared_ptr<HttpExchange> exchange) = 0;
};

// TLS for the server: PEM texts (read by the caller, like the gRPC planes').
struct HttpTlsPem {
  std::string cert_chain;
  std::string private_key;
};

class HttpServer {
 public:
  // Listens on "host:port" (port 0 picks one); HTTPS when `tls` is given.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           const HttpLimits& limits,
                                                           HttpHandler& handler,
                                                           const HttpTlsPem* tls = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "host:port" with the port bound.
  const std::string& Address() const { return m_address; }
  // Stops accepting, closes idle connections, lets answers in progress
  // finish until `drain`, then closes everything. The handler is not called
  // after this returns.
  void Shutdown(std::chrono::milliseconds drain);
  size_t OpenConnections() const;

  class Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl, std::string address);
  std::shared_ptr<Impl> m_impl;
  std::string m_address;
};

// Reason phrase of a status code ("Not Found").
std::string_view HttpReason(int status);

}  // namespace greylane
