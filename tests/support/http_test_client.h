#pragma once
// A blocking HTTP/1.1 client on one socket for the HTTP-plane suites: it
// stamps each server-sent event as its bytes arrive, so a test can tell a
// relayed stream from a buffered one.
#include <chrono>
#include <string>
#include <vector>

namespace greylane::test {

using Clock = std::chrono::steady_clock;

class RawClient {
 public:
  explicit RawClient(const std::string& address);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool Connected() const { return m_fd >= 0; }
  void Close();
  bool Send(const std::string& bytes);
  // Reads what arrives within `ms`; false once the peer closed.
  bool ReadSome(std::string* into, int ms);

 private:
  int m_fd = -1;
};

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = {});

struct TimedEvent {
  std::string text;
  Clock::time_point at;
};

struct StreamRead {
  std::string head;
  std::vector<TimedEvent> events;
  bool complete = false;  // the last chunk came
};

// Reads a chunked event stream, stamping each event as its bytes arrive.
StreamRead ReadStream(RawClient& client, int timeout_ms = 20000, size_t stop_after = SIZE_MAX);

struct Reply {
  int status = 0;
  std::string head, body;
};

// One whole (Content-Length) answer.
Reply ReadReply(RawClient& client, int timeout_ms = 10000);
// Connects, sends, reads one answer.
Reply Exchange(const std::string& address, const std::string& request);
// A sample's value from a Prometheus text for one version; -1 when absent.
double MetricValue(const std::string& text, const std::string& name, const std::string& version);
// GET /metrics
std::string Metrics(const std::string& address);

}  // namespace greylane::test
