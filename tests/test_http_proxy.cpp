// The openai-http backend end to end: an agent in front of real model
// servers (`serve-model`'s ModelServer) relays their streams event by event,
// and in front of a scripted upstream it turns each way an upstream fails
// into the right answer and exactly one count: a stream cut mid-way ends
// with an error event, a client that leaves closes the upstream request, a
// 5xx is a 502 naming the version, a 4xx is relayed, a dead or silent
// upstream is a 502 or 504; keep-alive connections are reused.
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "agent/backends/builtin_lm_backend.h"
#include "agent/backends/network_threads.h"
#include "agent/backends/openai_http_backend.h"
#include "agent/backends/openai_wire.h"
#include "agent/server/model_server.h"
#include "agent/server/supervised_process.h"
#include "support/agent_test_support.h"
#include "support/http_test_client.h"

using namespace greylane;
using namespace greylane::test;

namespace {

// A loopback HTTP server run by a script, for the failures a real model
// server will not produce on demand. GET /v1/models (the agent's probe)
// always answers 200. `on_head`: the script runs once a request's head has
// come, before its body is read.
class ScriptedUpstream {
 public:
  using Script = std::function<void(int fd, const std::string& request)>;
  // `v6`: on [::1] (Listening() is false where the machine has no IPv6).
  explicit ScriptedUpstream(Script script, bool on_head = false, bool v6 = false)
      : m_script(std::move(script)), m_on_head(on_head), m_v6(v6) {
    m_listen = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage at{};
    socklen_t size = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&at);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      size = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&at);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      size = sizeof(*a);
    }
    m_listening = ::bind(m_listen, reinterpret_cast<sockaddr*>(&at), size) == 0 &&
                  ::listen(m_listen, 64) == 0;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&at), &size);
    m_port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&at)->sin6_port
                      : reinterpret_cast<sockaddr_in*>(&at)->sin_port);
    m_thread = std::thread([this] { Loop(); });
  }
  ~ScriptedUpstream() {
    m_stop = true;
    ::shutdown(m_listen, SHUT_RDWR);
    ::close(m_listen);
    m_thread.join();
    for (std::thread& t : m_connections) t.join();
  }
  std::string Url() const {
    return (m_v6 ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(m_port);
  }
  bool Listening() const { return m_listening; }
  int Accepted() const { return m_accepted; }

  static bool Write(int fd, const std::string& bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  static std::string Chunk(const std::string& data) {
    char size[16];
    std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
    return size + data + "\r\n";
  }
  static std::string StreamHead() {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
           "chunked\r\n\r\n";
  }
  static std::string Event(const std::string& text) {
    return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text +
           "\"},\"finish_reason\":null}]}\n\n";
  }

 private:
  void Loop() {
    while (!m_stop) {
      const int fd = ::accept(m_listen, nullptr, nullptr);
      if (fd < 0) return;
      ++m_accepted;
      m_connections.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::string buffer;
    char bytes[65536];
    while (!m_stop) {
      const size_t head_end = buffer.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length = 0;
        const size_t cl = buffer.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) length = std::stoul(buffer.substr(cl + 16));
        if (m_on_head && buffer.rfind("GET /v1/models", 0) != 0) {
          m_script(fd, buffer.substr(0, head_end + 4));
          break;
        }
        if (buffer.size() >= head_end + 4 + length) {
          const std::string request = buffer.substr(0, head_end + 4 + length);
          buffer.erase(0, head_end + 4 + length);
          if (request.rfind("GET /v1/models", 0) == 0) {
            Write(fd,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
                  "{\"data\":[1,2]}");
          } else {
            m_script(fd, request);
          }
          continue;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) == 0) continue;
      const ssize_t n = ::recv(fd, bytes, sizeof(bytes), 0);
      if (n <= 0) break;
      buffer.append(bytes, static_cast<size_t>(n));
    }
    ::close(fd);
  }

  Script m_script;
  const bool m_on_head;
  const bool m_v6;
  bool m_listening = false;
  int m_listen = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_accepted{0};
  std::thread m_thread;
  std::vector<std::thread> m_connections;
};

// A built-in model behind its own HTTP server, as `serve-model` runs it.
struct ModelUpstream {
  explicit ModelUpstream(const std::string& file) {
    auto backend = BuiltinLmBackend::Open(file);
    handler = std::make_unique<ModelServer>(std::shared_ptr<Backend>(std::move(*backend)));
    server = std::move(*HttpServer::Start("127.0.0.1:0", HttpLimits{}, *handler));
  }
  std::string Url() const { return "http://" + server->Address(); }
  std::unique_ptr<ModelServer> handler;
  std::unique_ptr<HttpServer> server;
};

VersionSpec Upstream(const std::string& version, const std::string& url) {
  VersionSpec spec;
  spec.version = version;
  spec.backend = "openai-http";
  spec.upstream.address = url;
  spec.upstream.model = "lm";
  spec.upstream.deadline = std::chrono::seconds(20);
  spec.upstream.connections = 4;
  spec.http.first_byte = std::chrono::milliseconds(500);
  spec.http.idle = std::chrono::milliseconds(2000);
  return spec;
}

std::unique_ptr<CanaryAgent> StartProxy(const VersionSpec& baseline, const VersionSpec& candidate) {
  AgentConfig config = test::DemoTestConfig(0);
  config.model_name = "lm";
  config.baseline = baseline;
  config.candidate = candidate;
  std::string error;
  auto agent = test::StartAgent(config, &error);
  if (!agent) qWarning("%s", error.c_str());
  return agent;
}

const std::string kStreamBody =
    R"({"model":"lm","messages":[{"role":"user","content":"This License"}],"max_tokens":16,"stream":true})";
const std::string kPinned = "x-greylane-version: v2\r\n";

}  // namespace

class TestHttpProxy final : public QObject {
  Q_OBJECT

 private slots:
  void relaysAModelServersStreamEventByEvent() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm"), v2(test::ModelsDir() + "/lm-v2.glm");
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", v2.Url()));
    QVERIFY(agent);
    RawClient client(agent->HttpAddress());
    QVERIFY(client.Send(Post("/v1/chat/completions", kStreamBody, kPinned)));
    const StreamRead s = ReadStream(client);
    QVERIFY2(s.complete, s.head.c_str());
    QVERIFY(s.head.find("x-greylane-version: v2") != std::string::npos);
    QCOMPARE(s.events.back().text, std::string("data: [DONE]\n\n"));
    QVERIFY(s.events.front().text.find("greylane-charlm-v2") != std::string::npos);
    // lm-v2 writes a token every ~20 ms: so must the relay.
    std::vector<double> gaps;
    for (size_t i = 2; i + 2 < s.events.size(); ++i) {
      gaps.push_back(
          std::chrono::duration<double, std::milli>(s.events[i].at - s.events[i - 1].at).count());
    }
    std::sort(gaps.begin(), gaps.end());
    QVERIFY(!gaps.empty());
    QVERIFY2(gaps[gaps.size() / 2] > 10, std::to_string(gaps[gaps.size() / 2]).c_str());
    // Not streamed: one JSON answer, the model rewritten and answered.
    const Reply whole =
        Exchange(agent->HttpAddress(),
                 Post("/v1/completions", R"({"model":"lm","prompt":"The","max_tokens":4})"));
    QCOMPARE(whole.status, 200);
    QVERIFY(whole.body.find("\"text_completion\"") != std::string::npos);
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_time_to_first_token_seconds_count", "v2"), 1.0);
    QCOMPARE(MetricValue(metrics, "greylane_request_success_total", "v1"), 1.0);
  }

  void aStreamCutMidwayEndsWithAnErrorEventCountedOnce() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream cut([](int fd, const std::string&) {
      ScriptedUpstream::Write(fd, ScriptedUpstream::StreamHead());
      for (int i = 0; i < 3; ++i) {
        ScriptedUpstream::Write(fd, ScriptedUpstream::Chunk(ScriptedUpstream::Event("t")));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::shutdown(fd, SHUT_RDWR);  // the model server died
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", cut.Url()));
    QVERIFY(agent);
    RawClient client(agent->HttpAddress());
    QVERIFY(client.Send(Post("/v1/chat/completions", kStreamBody, kPinned)));
    const StreamRead s = ReadStream(client);
    QVERIFY(s.complete);
    QCOMPARE(s.events.size(), size_t{4});
    QVERIFY(s.events.back().text.find("\"error\"") != std::string::npos);
    QVERIFY(s.events.back().text.find("v2") != std::string::npos);
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_request_server_errors_total", "v2"), 1.0);
    QCOMPARE(MetricValue(metrics, "greylane_request_success_total", "v2"), 0.0);
    QVERIFY(metrics.find("problem=\"truncated\"} 1") != std::string::npos);
  }

  // A client that sends a whole request and closes at once, its FIN in the
  // request's packets, on a new connection and on a kept one: the agent
  // notices, and the upstream request is closed (or never made), not
  // answered for nobody.
  void aClientThatClosesWithItsRequestIsNoticed() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    std::atomic<int> reached{0}, closed{0}, answered{0};
    ScriptedUpstream slow([&](int fd, const std::string&) {
      ++reached;
      pollfd p{fd, POLLIN, 0};
      char byte;
      if (::poll(&p, 1, 1500) > 0 && ::recv(fd, &byte, 1, MSG_PEEK) == 0) {
        ++closed;  // the agent closed its request
        return;
      }
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      ++answered;
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", slow.Url()));
    QVERIFY(agent);
    const std::string address = agent->HttpAddress();
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string request = Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned);
    const int cork = 1;
    for (int i = 0; i < 6; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      QCOMPARE(::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
      if (i % 2 == 1) {  // one request answered first: the connection is a kept one
        QVERIFY(ScriptedUpstream::Write(fd, "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n"));
        char answer[4096];
        QVERIFY(::recv(fd, answer, sizeof answer, 0) > 0);
      }
      ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
      QVERIFY(ScriptedUpstream::Write(fd, request));
      ::close(fd);  // uncorks: the request and the FIN leave together
    }
    // Each ends as a client error, whether its upstream request was made.
    QTRY_COMPARE_WITH_TIMEOUT(
        MetricValue(Metrics(address), "greylane_request_client_errors_total", "v2"), 6.0, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(closed + answered, reached.load(), 5000);
    QCOMPARE(answered.load(), 0);
  }

  void aClientThatLeavesClosesTheUpstreamRequest() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    std::atomic<int64_t> closed_ms{-1};
    const auto start = Clock::now();
    ScriptedUpstream slow([&](int fd, const std::string&) {
      ScriptedUpstream::Write(fd, ScriptedUpstream::StreamHead());
      for (int i = 0; i < 300; ++i) {
        if (!ScriptedUpstream::Write(fd, ScriptedUpstream::Chunk(ScriptedUpstream::Event("t")))) {
          closed_ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", slow.Url()));
    QVERIFY(agent);
    int64_t left_ms = 0;
    {
      RawClient client(agent->HttpAddress());
      QVERIFY(client.Send(Post("/v1/chat/completions", kStreamBody, kPinned)));
      QCOMPARE(ReadStream(client, 5000, 2).events.size(), size_t{2});
      left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    }
    // The upstream notices within a few of its writes (the agent closed it).
    QTRY_VERIFY_WITH_TIMEOUT(closed_ms >= 0, 3000);
    QVERIFY2(closed_ms - left_ms < 1000, std::to_string(closed_ms - left_ms).c_str());
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_request_server_errors_total", "v2"), 0.0);
    QCOMPARE(MetricValue(metrics, "greylane_request_client_errors_total", "v2"), 1.0);
  }

  void upstreamFailuresBecomeClearAnswers_data() const {
    QTest::addColumn<QByteArray>("answer");  // what the upstream sends ("" = nothing)
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("says");
    QTest::addColumn<QByteArray>("counted");
    QTest::newRow("5xx")
        << QByteArray("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom") << 502
        << QByteArray("answered HTTP 500") << QByteArray("server_errors");
    QTest::newRow("4xx relayed")
        << QByteArray(
               "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
               "33\r\n\r\n{\"error\":{\"message\":\"too long\"}}\n")
        << 400 << QByteArray("too long") << QByteArray("client_errors");
    QTest::newRow("200 but no answer")
        << QByteArray(
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
               "<html></html>")
        << 502 << QByteArray("not a JSON object") << QByteArray("server_errors");
    QTest::newRow("silent") << QByteArray() << 504 << QByteArray("first-byte timeout")
                            << QByteArray("server_errors");
    QTest::newRow("101 unasked") << QByteArray(
                                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
                                 << 502 << QByteArray("switching protocols unasked")
                                 << QByteArray("server_errors");
    // An upstream's trailer or chunk extension without end meets the
    // connection's buffer bound (it grew without one, and stayed pooled).
    QTest::newRow("endless trailer")
        << QByteArray(
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
               "chunked\r\n\r\n2\r\n{}\r\n0\r\nx-pad: ") +
               QByteArray(1 << 20, 'a')
        << 502 << QByteArray("chunk header or trailer fields over") << QByteArray("server_errors");
    QTest::newRow("endless chunk extension")
        << QByteArray(
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
               "chunked\r\n\r\n2;pad=") +
               QByteArray(1 << 20, 'a')
        << 502 << QByteArray("chunk header or trailer fields over") << QByteArray("server_errors");
    QTest::newRow("garbage") << QByteArray("SPEAK FRIEND\r\n\r\n") << 502
                             << QByteArray("sent a malformed answer: bad version")
                             << QByteArray("server_errors");
  }
  void upstreamFailuresBecomeClearAnswers() const {
    QFETCH(QByteArray, answer);
    QFETCH(int, status);
    QFETCH(QByteArray, says);
    QFETCH(QByteArray, counted);
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    const std::string reply = answer.toStdString();
    ScriptedUpstream scripted([reply](int fd, const std::string&) {
      if (!reply.empty()) ScriptedUpstream::Write(fd, reply);
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", scripted.Url()));
    QVERIFY(agent);
    const Reply r = Exchange(agent->HttpAddress(),
                             Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
    QCOMPARE(r.status, status);
    QVERIFY2(r.body.find(says.toStdString()) != std::string::npos, r.body.c_str());
    QVERIFY(r.head.find("x-greylane-version: v2") != std::string::npos);
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_request_" + counted.toStdString() + "_total", "v2"),
             1.0);
  }

  // Interim answers (100 Continue, 103 Early Hints) are skipped; the
  // answer after them is the one relayed.
  void interimAnswersBeforeTheRealOneAreSkipped() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    const std::string body =
        R"({"id":"c1","object":"text_completion","choices":[{"index":0,"text":"after hints",)"
        R"("finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})";
    ScriptedUpstream scripted([body](int fd, const std::string&) {
      ScriptedUpstream::Write(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      ScriptedUpstream::Write(fd,
                              "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", scripted.Url()));
    QVERIFY(agent);
    for (int i = 0; i < 2; ++i) {  // and the pooled connection is fit for the next
      const Reply r = Exchange(agent->HttpAddress(),
                               Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
      QCOMPARE(r.status, 200);
      QVERIFY2(r.body.find("after hints") != std::string::npos, r.body.c_str());
    }
    QCOMPARE(
        MetricValue(Metrics(agent->HttpAddress()), "greylane_request_server_errors_total", "v2"),
        0.0);
  }

  void aDeadUpstreamIsABadGateway() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    std::string url;
    {
      ScriptedUpstream gone([](int, const std::string&) {});
      url = gone.Url();
    }  // nothing listens there now
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", url));
    QVERIFY(agent);
    const Reply r = Exchange(agent->HttpAddress(),
                             Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
    QCOMPARE(r.status, 502);
    QVERIFY2(r.body.find("cannot connect") != std::string::npos, r.body.c_str());
  }

  void aSupervisedServerIsRestartedAndUsedOnlyWhenReady() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    int port = 0;
    {
      ScriptedUpstream probe([](int, const std::string&) {});
      port = std::stoi(probe.Url().substr(probe.Url().rfind(':') + 1));
    }  // a free port for the supervised server
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    VersionSpec v2 = Upstream("v2", url);
    v2.command = std::string("exec '") + GREYLANE_AGENT_BIN + "' serve-model --model '" +
                 test::ModelsDir() + "/lm-v2.glm' --listen 127.0.0.1:" + std::to_string(port);
    v2.health_url = url + "/health";
    auto agent = StartProxy(Upstream("v1", v1.Url()), v2);
    QVERIFY(agent);
    const auto& process = agent->Pair().VersionAt(1).process;
    QVERIFY(process);
    QTRY_VERIFY_WITH_TIMEOUT(process->Ready(), 10000);
    auto ask = [&] {
      return Exchange(
          agent->HttpAddress(),
          Post("/v1/completions", R"({"model":"lm","prompt":"x","max_tokens":2})", kPinned));
    };
    QCOMPARE(ask().status, 200);
    const int pid = process->Status().pid;
    QVERIFY(pid > 0);
    // It holds none of the agent's sockets (Asio's are not close-on-exec):
    // one would stay open after the agent closed it.
    auto sockets = [](const std::string& process_id) {
      std::set<std::string> found;
      std::error_code ec;
      for (const auto& fd :
           std::filesystem::directory_iterator("/proc/" + process_id + "/fd", ec)) {
        const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
        if (target.rfind("socket:", 0) == 0) found.insert(target);
      }
      return found;
    };
    const std::set<std::string> agent_sockets = sockets("self");
    QVERIFY(!agent_sockets.empty());
    for (const std::string& held : sockets(std::to_string(pid))) {
      QVERIFY2(agent_sockets.count(held) == 0, held.c_str());
    }
    ::kill(pid, SIGKILL);
    QTRY_VERIFY_WITH_TIMEOUT(!process->Ready(), 3000);
    const Reply refused = ask();
    QCOMPARE(refused.status, 503);
    QVERIFY2(refused.body.find("not ready") != std::string::npos, refused.body.c_str());
    QTRY_VERIFY_WITH_TIMEOUT(process->Ready(), 10000);
    QCOMPARE(process->Status().restarts, 1u);
    QVERIFY(process->Status().pid != pid);
    QCOMPARE(ask().status, 200);
    const v1::AgentState state = agent->Release().State();
    QCOMPARE(state.versions(1).process_state(), std::string("ready"));
    QCOMPARE(state.versions(1).process_restarts(), 1u);
    agent->Shutdown();
    QCOMPARE(process->Status().state, ProcessStatus::State::kStopped);
    QCOMPARE(::kill(process->Status().pid == 0 ? pid : process->Status().pid, 0), -1);
  }

  // A supervised server that never answers its health URL (stuck loading,
  // or listening elsewhere) is stopped after its ready timeout and started
  // again, and says why.
  void aSupervisedServerNeverReadyIsRestarted() const {
    int port = 0;
    {
      ScriptedUpstream probe([](int, const std::string&) {});
      port = std::stoi(probe.Url().substr(probe.Url().rfind(':') + 1));
    }  // nothing answers there
    SupervisedProcess process("v9", "exec sleep 60",
                              "http://127.0.0.1:" + std::to_string(port) + "/health",
                              std::chrono::milliseconds(300), std::chrono::milliseconds(50));
    process.Start();
    QTRY_VERIFY_WITH_TIMEOUT(process.Status().pid > 0, 3000);
    const int first = process.Status().pid;
    // Waiting out its backoff (1 s) after the first stop, saying why.
    QTRY_VERIFY_WITH_TIMEOUT(process.Status().state == ProcessStatus::State::kBackoff, 5000);
    const ProcessStatus backoff = process.Status();
    QVERIFY(backoff.restarts >= 1);
    QVERIFY2(backoff.detail.find("not ready within 0.300 s") != std::string::npos,
             backoff.detail.c_str());
    QVERIFY2(backoff.detail.find("/health") != std::string::npos, backoff.detail.c_str());
    QCOMPARE(::kill(first, 0), -1);  // the stuck one is gone
    QTRY_VERIFY_WITH_TIMEOUT(process.Status().pid > 0 && process.Status().pid != first, 5000);
    QVERIFY(!process.Ready());
    process.Stop();
    QCOMPARE(process.Status().state, ProcessStatus::State::kStopped);
  }

  // An upstream that writes on a kept-alive connection after its answer
  // (a late second answer) must not have those bytes taken as the next
  // request's answer: that connection is closed, and every request gets
  // its own answer.
  void aConnectionWithStrayBytesIsNotReused() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    std::atomic<bool> stray_sent{false};
    ScriptedUpstream echo([&stray_sent](int fd, const std::string& request) {
      const size_t at = request.find("\"prompt\":\"");
      const std::string prompt =
          at == std::string::npos ? ""
                                  : request.substr(at + 10, request.find('"', at + 10) - at - 10);
      const std::string body = "{\"echo\":\"" + prompt + "\"}";
      ScriptedUpstream::Write(fd,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body);
      if (prompt == "poison") {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the answer is pooled
        const std::string stale = "{\"echo\":\"stale\"}";
        ScriptedUpstream::Write(fd,
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: " +
                                    std::to_string(stale.size()) + "\r\n\r\n" + stale);
        stray_sent = true;
      }
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", echo.Url()));
    QVERIFY(agent);
    auto ask = [&](const std::string& prompt) {
      return Exchange(
          agent->HttpAddress(),
          Post("/v1/completions", "{\"model\":\"lm\",\"prompt\":\"" + prompt + "\"}", kPinned));
    };
    QCOMPARE(ask("poison").status, 200);
    QTRY_VERIFY_WITH_TIMEOUT(stray_sent.load(), 5000);
    for (int i = 0; i < 2 * static_cast<int>(NetworkLoopCount()) + 2; ++i) {
      const std::string prompt = "p" + std::to_string(i);
      const Reply r = ask(prompt);
      QCOMPARE(r.status, 200);
      QCOMPARE(r.body, "{\"echo\":\"" + prompt + "\"}");
    }
  }

  // The figures of an answer or a stream event are read without building
  // a tree; a key given twice counts as its last value, as a parsed tree
  // would take it (the fuzzer compares the two on every input).
  void answerFiguresAreReadFromEveryShape_data() const {
    QTest::addColumn<QString>("json");
    QTest::addColumn<bool>("object");
    QTest::addColumn<bool>("content");
    QTest::addColumn<bool>("error");
    QTest::addColumn<qint64>("prompt");
    QTest::addColumn<qint64>("completion");
    QTest::addColumn<QString>("finish");
    auto row = [](const char* name, const char* json, bool object, bool content, bool error,
                  qint64 prompt, qint64 completion, const char* finish) {
      QTest::newRow(name) << QString::fromUtf8(json) << object << content << error << prompt
                          << completion << QString::fromUtf8(finish);
    };
    row("whole answer",
        "{\"choices\":[{\"message\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}",
        true, false, false, 3, 2, "stop");
    row("delta", "{\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}", true,
        true, false, -1, -1, "");
    row("empty delta", "{\"choices\":[{\"delta\":{\"content\":\"\"}}]}", true, false, false, -1, -1,
        "");
    row("reasoning", "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}", true, true,
        false, -1, -1, "");
    row("tool call", "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"x\"}]}}]}", true, true,
        false, -1, -1, "");
    row("null tool calls", "{\"choices\":[{\"delta\":{\"tool_calls\":null}}]}", true, false, false,
        -1, -1, "");
    row("completion text", "{\"choices\":[{\"text\":\"x\",\"finish_reason\":\"length\"}]}", true,
        true, false, -1, -1, "length");
    row("only the first choice", "{\"choices\":[1,{\"text\":\"x\"}]}", true, false, false, -1, -1,
        "");
    row("nested noise",
        "{\"x\":{\"choices\":[{\"text\":\"x\"}],\"usage\":{\"prompt_tokens\":9}},"
        "\"choices\":[{\"delta\":{\"extra\":{\"content\":\"no\"}}}]}",
        true, false, false, -1, -1, "");
    row("error", "{\"error\":null}", true, false, true, -1, -1, "");
    row("duplicate keys, last wins",
        "{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":2.5},\"choices\":[{\"text\":\"x\"}],"
        "\"choices\":[{\"finish_reason\":\"stop\",\"finish_reason\":null}]}",
        true, false, false, -1, -1, "");
    row("too big a count", "{\"usage\":{\"completion_tokens\":18446744073709551615}}", true, false,
        false, -1, -1, "");
    row("a count past belief",
        "{\"usage\":{\"prompt_tokens\":9223372036854775807,"
        "\"completion_tokens\":7}}",
        true, false, false, -1, 7, "");
    row("not an object", "[{\"choices\":[{\"text\":\"x\"}]}]", false, false, false, -1, -1, "");
    row("not JSON", "{\"choices\":[{\"text\":\"x\"}]", false, false, false, -1, -1, "");
    row("trailing bytes", "{\"error\":1} x", false, false, false, -1, -1, "");
  }

  // An answer is relayed as its bytes are: text that is not UTF-8 is read
  // like any other (it used to make the answer a 502).
  void answerTextThatIsNotUtf8IsRead() const {
    const StreamEvent answer =
        ReadAnswer("{\"choices\":[{\"text\":\"\xff\xfe\",\"finish_reason\":\"stop\"}]}");
    QVERIFY(answer.object);
    QVERIFY(answer.content);
    QCOMPARE(answer.finish_reason, std::string("stop"));
  }

  void answerFiguresAreReadFromEveryShape() const {
    QFETCH(QString, json);
    const std::string text = json.toStdString();
    const StreamEvent answer = ReadAnswer(text);
    QFETCH(bool, object);
    QCOMPARE(answer.object, object);
    QFETCH(bool, content);
    QCOMPARE(answer.content, content);
    QFETCH(bool, error);
    QCOMPARE(answer.error, error);
    QFETCH(qint64, prompt);
    QCOMPARE(static_cast<qint64>(answer.prompt_tokens), prompt);
    QFETCH(qint64, completion);
    QCOMPARE(static_cast<qint64>(answer.completion_tokens), completion);
    QFETCH(QString, finish);
    QCOMPARE(QString::fromStdString(answer.finish_reason), finish);
    // As a stream event the same data reads the same.
    const StreamEvent event = ReadStreamEvent("data: " + text + "\n\n");
    QCOMPARE(event.content, answer.content);
    QCOMPARE(event.finish_reason, answer.finish_reason);
  }

  // An upstream that closes a kept-alive connection after its answer (an
  // idle timeout, a restart) is not a failure: the closed connection is
  // noticed while it is idle and not used, or, when the close comes as it
  // is taken, the request is sent again on a new one.
  void anUpstreamThatClosesKeptConnectionsIsNoFailure() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream closing([](int fd, const std::string&) {
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      ::shutdown(fd, SHUT_RDWR);  // no Connection: close said: the agent keeps it
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", closing.Url()));
    QVERIFY(agent);
    for (int i = 0; i < 12; ++i) {
      // Every other request comes after the close has surely arrived.
      if (i % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));
      const Reply r = Exchange(agent->HttpAddress(),
                               Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
      QCOMPARE(r.status, 200);
      QCOMPARE(r.body, std::string("{}"));
    }
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_request_server_errors_total", "v2"), 0.0);
  }

  // An upstream on an IPv6 address: reached, and named in brackets in the
  // Host field (RFC 9110 7.2); without them the field is malformed.
  void anIpv6UpstreamGetsABracketedHost() const {
    std::mutex mutex;
    std::string seen;
    ScriptedUpstream v6(
        [&](int fd, const std::string& request) {
          {
            std::lock_guard lock(mutex);
            seen = request;
          }
          ScriptedUpstream::Write(
              fd,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
        },
        false, true);
    if (!v6.Listening()) QSKIP("no IPv6 loopback on this machine");
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", v6.Url()));
    QVERIFY(agent);
    const Reply r = Exchange(agent->HttpAddress(),
                             Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.body, std::string("{}"));
    std::lock_guard lock(mutex);
    const std::string host = "\r\nHost: " + v6.Url().substr(7) + "\r\n";
    QVERIFY2(seen.find(host) != std::string::npos, seen.c_str());
    QVERIFY2(seen.rfind("POST /v1/completions HTTP/1.1\r\n", 0) == 0, seen.c_str());
  }

  // The end of the connection sent with the last bytes, in one go: it ends
  // an answer that has no length, and cuts one that is not whole, at once.
  // (A read that empties the socket makes the next wait for epoll, and the
  // end came with the bytes, not after: the agent reads on before waiting.)
  void anEndThatComesWithTheLastBytesIsSeen() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream to_eof([](int fd, const std::string&) {
      ScriptedUpstream::Write(fd,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":");
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the head is read alone
      ScriptedUpstream::Write(fd, "1}");
      ::shutdown(fd, SHUT_RDWR);
    });
    ScriptedUpstream cut([](int fd, const std::string&) {
      ScriptedUpstream::Write(fd, ScriptedUpstream::StreamHead());
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ScriptedUpstream::Write(fd, ScriptedUpstream::Chunk(ScriptedUpstream::Event("t")) + "40\r\n");
      ::shutdown(fd, SHUT_RDWR);
    });
    auto agent = StartProxy(Upstream("v1", to_eof.Url()), Upstream("v2", cut.Url()));
    QVERIFY(agent);
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const Reply r = Exchange(
          agent->HttpAddress(),
          Post("/v1/completions", R"({"model":"lm","prompt":"x"})", "x-greylane-version: v1\r\n"));
      QCOMPARE(r.status, 200);
      QCOMPARE(r.body, std::string("{\"a\":1}"));
      // The idle timeout (2 s) is what a missed end would wait for.
      QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
    }
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      RawClient client(agent->HttpAddress());
      QVERIFY(client.Send(Post("/v1/chat/completions", kStreamBody, kPinned)));
      const StreamRead s = ReadStream(client);
      QVERIFY(s.complete);
      QVERIFY(s.events.back().text.find("cut the answer") != std::string::npos);
      QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
    }
  }

  // An upstream that ends its side of each kept connection right after
  // answering and goes on reading it (a lingering close): every later
  // request is answered at once, on a new connection if need be. Two ways
  // to miss that end are covered: its FIN in the same packets as the
  // answer (the read that empties the socket also looks past it), and the
  // end read while the next request is being sent (kept for the read
  // after the send; dropped, that read waited for the first-byte timeout:
  // about 1 request in 20 here, by the timing of 8 clients at once).
  void aLingeringCloseOfKeptConnectionsIsNoFailure() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream lingering([](int fd, const std::string&) {
      const int cork = 1;  // the answer's last bytes and the FIN in one packet
      ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      ::shutdown(fd, SHUT_WR);  // and it goes on reading, until the agent closes
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", lingering.Url()));
    QVERIFY(agent);
    const std::string address = agent->HttpAddress();
    std::atomic<int> ok{0}, slow{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        RawClient client(address);
        for (int i = 0; i < 10; ++i) {
          const auto start = std::chrono::steady_clock::now();
          if (!client.Send(Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned))) {
            return;
          }
          const Reply r = ReadReply(client);
          if (r.status == 200 && r.body == "{}") ++ok;
          if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(400)) ++slow;
        }
      });
    }
    for (std::thread& t : clients) t.join();
    QCOMPARE(ok.load(), 80);
    QCOMPARE(slow.load(), 0);  // the first-byte timeout is 500 ms
    const std::string metrics = Metrics(address);
    QCOMPARE(MetricValue(metrics, "greylane_request_server_errors_total", "v2"), 0.0);
  }

  // An upstream that closes idle kept connections (a keep-alive timeout):
  // the agent closes its side at once, holding no descriptor in CLOSE_WAIT
  // until a call would have taken the connection.
  void idleConnectionsTheUpstreamClosedAreLetGo() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    std::atomic<int> closed{0};
    ScriptedUpstream closing([&](int fd, const std::string&) {
      // Slow enough that the eight requests below need eight connections.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // idle, then closed
      ::shutdown(fd, SHUT_RDWR);
      ++closed;
    });
    VersionSpec v2 = Upstream("v2", closing.Url());
    v2.upstream.connections = 16;
    auto agent = StartProxy(Upstream("v1", v1.Url()), v2);
    QVERIFY(agent);
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        Exchange(agent->HttpAddress(),
                 Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
      });
    }
    for (std::thread& t : clients) t.join();
    // This process's TCP sockets to the upstream in CLOSE_WAIT (state 08).
    const std::string port = closing.Url().substr(closing.Url().rfind(':') + 1);
    char remote[16];
    std::snprintf(remote, sizeof remote, ":%04X", std::stoi(port));
    auto close_wait = [&] {
      std::ifstream table("/proc/self/net/tcp");
      std::string line;
      int n = 0;
      while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, local, peer, state;
        fields >> slot >> local >> peer >> state;
        if (state == "08" && peer.size() > 5 && peer.substr(peer.size() - 5) == remote) ++n;
      }
      return n;
    };
    // Each closed by the upstream 100 ms after its answer: at once on the
    // agent's side too (kept, all eight stayed in CLOSE_WAIT).
    QTRY_COMPARE_WITH_TIMEOUT(closed.load(), 8, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(close_wait(), 0, 500);
    QCOMPARE(Exchange(agent->HttpAddress(),
                      Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned))
                 .status,
             200);
  }

  // A caller may let go of the call it started (greylane-load does): the
  // call goes on to its end, on a new connection and on a kept one, and
  // its sink hears the whole answer.
  void aCallLetGoOfStillEnds() const {
    ScriptedUpstream slow([](int fd, const std::string&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the read is in flight
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    });
    OpenAiHttpOptions options;
    options.base_url = slow.Url();
    auto backend = OpenAiHttpBackend::Create(options);
    QVERIFY(backend.ok());
    class Answer final : public GenerationSink {
     public:
      void OnHead(GenerationHead head) override { status = head.status; }
      void OnData(std::string bytes) override { body += bytes; }
      void OnEnd(GenerationEnd end) override { m_done.set_value(end); }
      std::future<GenerationEnd> Done() { return m_done.get_future(); }
      int status = 0;
      std::string body;

     private:
      std::promise<GenerationEnd> m_done;
    };
    for (int i = 0; i < 3; ++i) {
      auto sink = std::make_shared<Answer>();
      std::future<GenerationEnd> done = sink->Done();
      GenerationRequest request;
      request.method = "POST";
      request.path = "/v1/completions";
      request.body = "{}";
      request.request_id = "let-go-" + std::to_string(i);
      (*backend)->Generate(std::move(request), sink).reset();
      QCOMPARE(done.wait_for(std::chrono::seconds(5)), std::future_status::ready);
      const GenerationEnd end = done.get();
      QVERIFY2(end.failure == GenerationFailure::kNone, end.error.c_str());
      QCOMPARE(sink->status, 200);
      QCOMPARE(sink->body, std::string("{}"));
    }
  }

  // An upstream may answer before it has read the whole request (a 413
  // for a body too large) and close: the client gets that answer, not a
  // 502 for the send that failed.
  void anEarlyAnswerIsRelayedThoughTheSendFailed() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream refusing(
        [](int fd, const std::string&) {
          const std::string body = R"({"error":{"message":"too large"}})";
          ScriptedUpstream::Write(fd,
                                  "HTTP/1.1 413 Content Too Large\r\nContent-Type: "
                                  "application/json\r\nConnection: close\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\n\r\n" + body);
          ::shutdown(fd, SHUT_WR);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        },
        true);
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", refusing.Url()));
    QVERIFY(agent);
    const std::string big = "{\"model\":\"lm\",\"prompt\":\"" + std::string(4u << 20, 'x') + "\"}";
    for (int i = 0; i < 4; ++i) {
      const Reply r = Exchange(agent->HttpAddress(), Post("/v1/completions", big, kPinned));
      QCOMPARE(r.status, 413);
      QVERIFY2(r.body.find("too large") != std::string::npos, r.body.c_str());
    }
    const std::string metrics = Metrics(agent->HttpAddress());
    QCOMPARE(MetricValue(metrics, "greylane_request_server_errors_total", "v2"), 0.0);
    QCOMPARE(MetricValue(metrics, "greylane_request_client_errors_total", "v2"), 4.0);
  }

  void keepAliveConnectionsAreReused() const {
    ModelUpstream v1(test::ModelsDir() + "/lm-v1.glm");
    ScriptedUpstream quick([](int fd, const std::string&) {
      ScriptedUpstream::Write(
          fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    });
    auto agent = StartProxy(Upstream("v1", v1.Url()), Upstream("v2", quick.Url()));
    QVERIFY(agent);
    const int before = quick.Accepted();
    for (int i = 0; i < 10; ++i) {
      const Reply r = Exchange(agent->HttpAddress(),
                               Post("/v1/completions", R"({"model":"lm","prompt":"x"})", kPinned));
      QCOMPARE(r.status, 200);
    }
    // Connections are pooled per network loop: at most one new one each.
    QVERIFY2(quick.Accepted() - before <= static_cast<int>(NetworkLoopCount()),
             std::to_string(quick.Accepted() - before).c_str());
  }
};

QTEST_GUILESS_MAIN(TestHttpProxy)
#include "test_http_proxy.moc"
