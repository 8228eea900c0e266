// The HTTP data plane on a real agent serving the built-in language models:
// streams are relayed event by event as they are made, a client that leaves
// stops the generation, the agent's time to first token and between tokens
// match what the client saw, bad input gets a clear 4xx without harming
// other clients, and /metrics passes promtool.
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <regex>

#include "agent/http/http_server.h"
#include "support/agent_test_support.h"

using namespace greylane;
using Clock = std::chrono::steady_clock;

namespace {

// A blocking HTTP/1.1 client on one socket, enough to time each event.
class RawClient {
 public:
  explicit RawClient(const std::string& address) {
    const size_t colon = address.rfind(':');
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(m_fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) Close();
  }
  ~RawClient() { Close(); }
  bool Connected() const { return m_fd >= 0; }
  void Close() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
  }
  bool Send(const std::string& bytes) {
    return m_fd >= 0 && ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                            static_cast<ssize_t>(bytes.size());
  }
  // Reads what arrives within `ms`; false once the peer closed.
  bool ReadSome(std::string* into, int ms) {
    pollfd p{m_fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return true;
    char buffer[65536];
    const ssize_t n = ::recv(m_fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    into->append(buffer, static_cast<size_t>(n));
    return true;
  }

 private:
  int m_fd = -1;
};

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

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
StreamRead ReadStream(RawClient& client, int timeout_ms = 20000, size_t stop_after = SIZE_MAX) {
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

struct Reply {
  int status = 0;
  std::string head, body;
};

// One whole (Content-Length) answer.
Reply ReadReply(RawClient& client, int timeout_ms = 10000) {
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
      r.status = std::stoi(head.substr(9, 3));
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

std::string ChatBody(int max_tokens, bool stream, const std::string& extra = {}) {
  return R"({"model":"lm","messages":[{"role":"user","content":"This License"}],"max_tokens":)" +
         std::to_string(max_tokens) + R"(,"temperature":0.8,"stream":)" +
         (stream ? "true" : "false") + extra + "}";
}

double MetricValue(const std::string& text, const std::string& name, const std::string& version) {
  std::smatch m;
  const std::regex line(name + "\\{[^}]*version=\"" + version + "\"[^}]*\\} ([0-9.e+-]+)");
  return std::regex_search(text, m, line) ? std::stod(m[1]) : -1;
}

bool HasContent(const std::string& event) {
  return event.find("\"content\":\"") != std::string::npos &&
         event.find("\"content\":\"\"") == std::string::npos;
}

// A handler that answers after a while, for the server's own limits.
class SlowEcho final : public HttpHandler {
 public:
  void Handle(std::shared_ptr<HttpExchange> exchange) override {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "got " + std::to_string(exchange->Request().body.size());
    exchange->Reply(std::move(r));
  }
};

}  // namespace

class TestHttpPlane final : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    AgentConfig config = DemoConfig(test::ModelsDir(), "lm");
    config.agent_id = "test-lm";
    config.control_listen = "127.0.0.1:0";
    config.data_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.initial_candidate_basis_points = 0;
    config.analysis.armed = false;
    std::string error;
    m_agent = test::StartAgent(config, &error);
    QVERIFY2(m_agent, error.c_str());
    m_http = m_agent->HttpAddress();
    QVERIFY(!m_http.empty());
  }
  void cleanupTestCase() { m_agent.reset(); }

  void streamsEachEventAsItIsMade() const {
    RawClient client(m_http);
    QVERIFY(client.Connected());
    const Clock::time_point sent = Clock::now();
    QVERIFY(client.Send(Post("/v1/chat/completions",
                             ChatBody(24, true, R"(,"stream_options":{"include_usage":true})"),
                             "x-greylane-version: v2\r\n")));
    const StreamRead s = ReadStream(client);
    QVERIFY2(s.complete, s.head.c_str());
    QVERIFY(s.head.find("x-greylane-version: v2") != std::string::npos);
    QVERIFY(s.head.find("x-greylane-slot: candidate") != std::string::npos);
    QVERIFY(s.head.find("X-Accel-Buffering: no") != std::string::npos);
    QVERIFY(s.head.find("text/event-stream") != std::string::npos);
    QVERIFY(s.events.size() >= 4);
    QCOMPARE(s.events.back().text, std::string("data: [DONE]\n\n"));
    QVERIFY(s.events[s.events.size() - 2].text.find("\"usage\":{") != std::string::npos);
    for (const TimedEvent& e : s.events) QVERIFY(e.text != "data: \n\n" && e.text != "data:\n\n");
    // Tokens come about 20 ms apart (lm-v2's pace): had the stream been
    // buffered, every event would arrive in one read at the end.
    std::vector<double> gaps;
    for (size_t i = 1; i < s.events.size(); ++i) {
      if (HasContent(s.events[i].text) && HasContent(s.events[i - 1].text)) {
        gaps.push_back(
            std::chrono::duration<double, std::milli>(s.events[i].at - s.events[i - 1].at).count());
      }
    }
    QVERIFY2(gaps.size() >= 3, std::to_string(gaps.size()).c_str());
    std::sort(gaps.begin(), gaps.end());
    const double median = gaps[gaps.size() / 2];
    QVERIFY2(median > 10.0 && median < 60.0, std::to_string(median).c_str());
    const double first =
        std::chrono::duration<double, std::milli>(s.events.front().at - sent).count();
    const double last =
        std::chrono::duration<double, std::milli>(s.events.back().at - sent).count();
    QVERIFY2(last - first > 10.0 * static_cast<double>(gaps.size()),
             (std::to_string(first) + " " + std::to_string(last)).c_str());
  }

  void answersWholeWhenNotStreaming() const {
    const Reply r =
        Exchange(m_http, Post("/v1/completions", R"({"model":"lm","prompt":"The","max_tokens":5})",
                              "x-user-id: someone\r\n"));
    QCOMPARE(r.status, 200);
    QVERIFY(r.head.find("x-greylane-version: v1") != std::string::npos);
    QVERIFY(r.body.find("\"object\":\"text_completion\"") != std::string::npos);
    QVERIFY(r.body.find("\"completion_tokens\":") != std::string::npos);
  }

  void clientThatLeavesStopsItsGeneration() const {
    const std::string before = Metrics();
    const double client_errors = MetricValue(before, "greylane_request_client_errors_total", "v1");
    {
      RawClient client(m_http);
      QVERIFY(client.Send(Post("/v1/chat/completions", ChatBody(4000, true))));
      const StreamRead s = ReadStream(client, 5000, 3);
      QCOMPARE(s.events.size(), size_t{3});
    }  // closed mid-stream: 4000 tokens would take about a minute
    QTRY_COMPARE_WITH_TIMEOUT(MetricValue(Metrics(), "greylane_num_requests_running", "v1"), 0.0,
                              3000);
    QCOMPARE(MetricValue(Metrics(), "greylane_request_client_errors_total", "v1"),
             client_errors + 1);
  }

  void agentTimesMatchTheClients() const {
    const std::string before = Metrics();
    double client_ttft = 0, client_itl = 0;
    int streams = 0, gaps = 0;
    RawClient client(m_http);
    for (int i = 0; i < 12; ++i) {
      const Clock::time_point sent = Clock::now();
      QVERIFY(client.Send(
          Post("/v1/completions",
               R"({"model":"lm","prompt":"Licence terms","max_tokens":16,"stream":true})")));
      const StreamRead s = ReadStream(client);
      QVERIFY(s.complete);
      bool first = true;
      Clock::time_point last;
      for (const TimedEvent& e : s.events) {
        if (e.text.find("\"text\":\"") == std::string::npos ||
            e.text.find("\"text\":\"\"") != std::string::npos)
          continue;
        if (first) {
          client_ttft += std::chrono::duration<double>(e.at - sent).count();
          first = false;
        } else {
          client_itl += std::chrono::duration<double>(e.at - last).count();
          ++gaps;
        }
        last = e.at;
      }
      ++streams;
    }
    const std::string after = Metrics();
    auto delta = [&](const char* name) {
      return MetricValue(after, name, "v1") - MetricValue(before, name, "v1");
    };
    const double agent_ttft = delta("greylane_time_to_first_token_seconds_sum") /
                              delta("greylane_time_to_first_token_seconds_count");
    const double agent_itl = delta("greylane_inter_token_latency_seconds_sum") /
                             delta("greylane_inter_token_latency_seconds_count");
    QCOMPARE(delta("greylane_time_to_first_token_seconds_count"), static_cast<double>(streams));
    const double ttft = client_ttft / streams, itl = client_itl / gaps;
    const std::string figures = "agent TTFT " + std::to_string(agent_ttft * 1000) + " ms, client " +
                                std::to_string(ttft * 1000) + " ms; agent ITL " +
                                std::to_string(agent_itl * 1000) + " ms, client " +
                                std::to_string(itl * 1000) + " ms";
    qInfo("%s", figures.c_str());
    QVERIFY2(std::abs(agent_ttft - ttft) / ttft < 0.05, figures.c_str());
    QVERIFY2(std::abs(agent_itl - itl) / itl < 0.05, figures.c_str());
  }

  void badInputGetsAClearClientError_data() const {
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("says");
    QTest::newRow("malformed JSON")
        << QByteArray::fromStdString(Post("/v1/chat/completions", "{\"model\":")) << 400
        << QByteArray("not valid JSON");
    QTest::newRow("not an object")
        << QByteArray::fromStdString(Post("/v1/chat/completions", "[1,2]")) << 400
        << QByteArray("JSON object");
    QTest::newRow("stream not a bool")
        << QByteArray::fromStdString(Post("/v1/chat/completions", R"({"stream":"yes"})")) << 400
        << QByteArray("'stream' must be");
    QTest::newRow("no messages") << QByteArray::fromStdString(
                                        Post("/v1/chat/completions", R"({"model":"lm"})"))
                                 << 400 << QByteArray("'messages'");
    QTest::newRow("unknown model")
        << QByteArray::fromStdString(
               Post("/v1/chat/completions", R"({"model":"gpt-9","messages":[]})"))
        << 404 << QByteArray("does not exist");
    QTest::newRow("wrong content type")
        << QByteArray(
               "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
               "Content-Length: 2\r\n\r\n{}")
        << 415 << QByteArray("Content-Type: application/json");
    QTest::newRow("wrong method") << QByteArray("GET /v1/completions HTTP/1.1\r\nHost: t\r\n\r\n")
                                  << 405 << QByteArray("use POST");
    QTest::newRow("no route") << QByteArray("GET /admin HTTP/1.1\r\nHost: t\r\n\r\n") << 404
                              << QByteArray("no route");
    QTest::newRow("not HTTP") << QByteArray("HELLO\r\n\r\n") << 400 << QByteArray("malformed");
    QTest::newRow("huge header") << QByteArray("GET /v1/models HTTP/1.1\r\nX-Big: " +
                                               QByteArray(20000, 'a') + "\r\n\r\n")
                                 << 431 << QByteArray("headers exceed");
    QTest::newRow("huge body")
        << QByteArray(
               "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               "Content-Length: 9000000\r\n\r\n{")
        << 413 << QByteArray("body exceeds");
  }
  void badInputGetsAClearClientError() const {
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    QFETCH(QByteArray, says);
    const Reply r = Exchange(m_http, request.toStdString());
    QCOMPARE(r.status, status);
    QVERIFY2(r.body.find(says.toStdString()) != std::string::npos, r.body.c_str());
  }

  void slowClientsAreCutAndHarmNoOne() const {
    SlowEcho echo;
    HttpLimits limits;
    limits.request_timeout = std::chrono::milliseconds(300);
    limits.idle_timeout = std::chrono::milliseconds(500);
    auto server = HttpServer::Start("127.0.0.1:0", limits, echo);
    QVERIFY(server.ok());
    const std::string address = (*server)->Address();
    std::vector<std::unique_ptr<RawClient>> slow;
    for (int i = 0; i < 20; ++i) {
      slow.push_back(std::make_unique<RawClient>(address));
      slow.back()->Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Le");  // and nothing more
    }
    const Clock::time_point start = Clock::now();
    const Reply ok =
        Exchange(address, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    QCOMPARE(ok.status, 200);
    QCOMPARE(ok.body, std::string("got 3"));
    QVERIFY(Clock::now() - start < std::chrono::milliseconds(200));
    // Each slow one is closed once its request deadline passes.
    for (auto& c : slow) {
      std::string ignored;
      bool open = true;
      const auto until = Clock::now() + std::chrono::seconds(3);
      while (open && Clock::now() < until) open = c->ReadSome(&ignored, 50);
      QVERIFY(!open);
    }
    QTRY_COMPARE_WITH_TIMEOUT((*server)->OpenConnections(), size_t{0}, 2000);
  }

  void metricsPassPromtool() const {
    const std::string text = Metrics();
    QVERIFY(text.find("greylane_time_to_first_token_seconds_bucket{model=\"lm\",version=\"v1\"") !=
            std::string::npos);
    QVERIFY(MetricValue(text, "greylane_requests_total", "v1") > 0);
    const QString promtool = QStandardPaths::findExecutable("promtool");
    if (promtool.isEmpty()) QSKIP("promtool (Debian prometheus) is not installed");
    QProcess check;
    check.start(promtool, {"check", "metrics"});
    check.write(QByteArray::fromStdString(text));
    check.closeWriteChannel();
    QVERIFY(check.waitForFinished(20000));
    QVERIFY2(check.exitCode() == 0, check.readAllStandardError().constData());
  }

 private:
  std::string Metrics() const {
    const Reply r = Exchange(m_http, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    return r.body;
  }

  std::unique_ptr<CanaryAgent> m_agent;
  std::string m_http;
};

QTEST_GUILESS_MAIN(TestHttpPlane)
#include "test_http_plane.moc"
