#include "support/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

namespace greylane::test {

RawClient::RawClient(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  // Bounded: a connect or send that cannot finish fails the test's check
  // instead of hanging the suite.
  const timeval bound{5, 0};
  ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  if (::connect(m_fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) Close();
}

RawClient::~RawClient() {
  Close();
}

void RawClient::Close() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

bool RawClient::Send(const std::string& bytes) {
  return m_fd >= 0 && ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                          static_cast<ssize_t>(bytes.size());
}

bool RawClient::ReadSome(std::string* into, int ms) {
  pollfd p{m_fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return true;
  char buffer[65536];
  const ssize_t n = ::recv(m_fd, buffer, sizeof(buffer), 0);
  if (n <= 0) return false;
  into->append(buffer, static_cast<size_t>(n));
  return true;
}

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers) {
  return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

StreamRead ReadStream(RawClient& client, int timeout_ms, size_t stop_after) {
  StreamRead out;
  std::string raw, body;
  size_t at = 0;
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < until && !out.complete && out.events.size() < stop_after) {
    if (!client.ReadSome(&raw, 50)) break;
    const Clock::time_point now = Clock::now();
    if (out.head.empty()) {
      const size_t end = raw.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      out.head = raw.substr(0, end);
      at = end + 4;
    }
    // Chunks: size line, data, CRLF.
    while (true) {
      const size_t line = raw.find("\r\n", at);
      if (line == std::string::npos) break;
      const size_t size = std::stoul(raw.substr(at, line - at), nullptr, 16);
      if (raw.size() < line + 2 + size + 2) break;
      if (size == 0) {
        out.complete = true;
        break;
      }
      body += raw.substr(line + 2, size);
      at = line + 2 + size + 2;
    }
    for (size_t end; (end = body.find("\n\n")) != std::string::npos;) {
      out.events.push_back({body.substr(0, end + 2), now});
      body.erase(0, end + 2);
    }
  }
  return out;
}

Reply ReadReply(RawClient& client, int timeout_ms) {
  Reply r;
  std::string raw;
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < until) {
    if (!client.ReadSome(&raw, 50)) break;
    const size_t end = raw.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    std::smatch m;
    const std::string head = raw.substr(0, end);
    const size_t length =
        std::regex_search(head, m, std::regex("Content-Length: (\\d+)")) ? std::stoul(m[1]) : 0;
    if (raw.size() >= end + 4 + length) {
      r.head = head;
      r.body = raw.substr(end + 4, length);
      // Not an answer (a socket connected to itself reads back its own
      // request when the port is not listening yet): status 0, no throw.
      r.status = head.rfind("HTTP/1.", 0) == 0 && head.size() >= 12
                     ? std::atoi(head.substr(9, 3).c_str())
                     : 0;
      return r;
    }
  }
  r.head = raw;
  return r;
}

Reply Exchange(const std::string& address, const std::string& request) {
  RawClient client(address);
  client.Send(request);
  return ReadReply(client);
}

double MetricValue(const std::string& text, const std::string& name, const std::string& version) {
  std::smatch m;
  const std::regex line(name + "\\{[^}]*version=\"" + version + "\"[^}]*\\} ([0-9.e+-]+)");
  return std::regex_search(text, m, line) ? std::stod(m[1]) : -1;
}

std::string Metrics(const std::string& address) {
  return Exchange(address, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").body;
}

}  // namespace greylane::test
