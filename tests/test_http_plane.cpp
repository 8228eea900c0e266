// The HTTP data plane on a real agent serving the built-in language models:
// streams are relayed event by event as they are made, a client that leaves
// stops the generation, the agent's time to first token and between tokens
// match what the client saw, bad input gets a clear 4xx without harming
// other clients, and /metrics passes promtool.
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <regex>
#include <thread>

#include "agent/http/http_server.h"
#include "support/agent_test_support.h"
#include "support/http_test_client.h"

using namespace greylane;
using namespace greylane::test;

namespace {

std::string ChatBody(int max_tokens, bool stream, const std::string& extra = {}) {
  return R"({"model":"lm","messages":[{"role":"user","content":"This License"}],"max_tokens":)" +
         std::to_string(max_tokens) + R"(,"temperature":0.8,"stream":)" +
         (stream ? "true" : "false") + extra + "}";
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

// Answers GET /big/N with N bytes at once, and GET /endless with a stream
// of 64 KiB chunks made faster than any client reads (until it is gone).
class LargeAnswers final : public HttpHandler {
 public:
  void Handle(std::shared_ptr<HttpExchange> exchange) override {
    const std::string& path = exchange->Request().path;
    HttpResponse r;
    r.content_type = "application/octet-stream";
    if (path.rfind("/big/", 0) == 0) {
      r.body.assign(std::stoul(path.substr(5)), 'x');
      return exchange->Reply(std::move(r));
    }
    exchange->OnClientGone([this] { gone = true; });
    exchange->BeginStream(std::move(r));
    for (int i = 0; i < 1024 && !gone; ++i) exchange->SendChunk(std::string(64 * 1024, 'y'));
    exchange->EndStream();
  }
  std::atomic<bool> gone{false};
};

// Answers with header names and values that carry CR, LF and NUL at every
// offset a value can have them (before, in and after each eight-byte
// word the head's writer checks at once).
class HostileHeaders final : public HttpHandler {
 public:
  void Handle(std::shared_ptr<HttpExchange> exchange) override {
    HttpResponse r;
    r.content_type = "text/plain\r\nInjected-Type: yes";
    for (size_t at = 0; at <= 17; ++at) {
      std::string value(17, 'v');
      value.insert(at, at % 3 == 0   ? std::string("\r\nInjected: yes")
                       : at % 3 == 1 ? std::string("\nInjected: yes")
                                     : std::string("\0Injected: yes", 14));
      r.headers.emplace_back("x-hostile-" + std::to_string(at), value);
    }
    r.headers.emplace_back("x-name\r\nInjected-Name", "ok");
    r.headers.emplace_back("x-plain-utf8", "caf\xc3\xa9 \xe2\x9c\x93 long enough to be words");
    r.body = "fine";
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
    QTest::newRow("max_tokens a string")
        << QByteArray::fromStdString(
               Post("/v1/chat/completions", R"({"model":"lm","messages":[],"max_tokens":"50"})"))
        << 400 << QByteArray("'max_tokens' must be a whole number");
    QTest::newRow("temperature a string")
        << QByteArray::fromStdString(
               Post("/v1/completions", R"({"model":"lm","prompt":"a","temperature":"hot"})"))
        << 400 << QByteArray("'temperature' must be a number");
    QTest::newRow("negative max_tokens")
        << QByteArray::fromStdString(
               Post("/v1/completions", R"({"model":"lm","prompt":"a","max_tokens":-1})"))
        << 400 << QByteArray("must not be negative");
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
    QTest::newRow("only empty lines")
        << QByteArray(20, '\n') << 400 << QByteArray("empty lines instead of a request line");
    QTest::newRow("gzip without chunked")
        << QByteArray(
               "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: gzip\r\n\r\n{}")
        << 400 << QByteArray("Transfer-Encoding other than chunked");
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

  // HTTP/1.0 has no chunked coding: the stream is sent as it is and ends
  // with the connection. HEAD /v1/models answers the head alone.
  void anHttp10ClientGetsAPlainStream() const {
    RawClient client(m_http);
    const std::string body = ChatBody(6, true);
    QVERIFY(
        client.Send("POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body));
    std::string raw;
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < until && client.ReadSome(&raw, 100)) {
    }
    QVERIFY2(raw.find("HTTP/1.1 200") == 0, raw.c_str());
    QVERIFY2(raw.find("Transfer-Encoding") == std::string::npos, raw.c_str());
    QVERIFY2(raw.find("\r\n\r\ndata: {") != std::string::npos, raw.c_str());
    QVERIFY2(raw.size() > 14 && raw.compare(raw.size() - 14, 14, "data: [DONE]\n\n") == 0,
             raw.c_str());

    RawClient head(m_http);
    QVERIFY(head.Send("HEAD /v1/models HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string answer;
    while (answer.find("\r\n\r\n") == std::string::npos && head.ReadSome(&answer, 2000)) {
    }
    QVERIFY2(answer.find("HTTP/1.1 200") == 0, answer.c_str());
    QCOMPARE(answer.substr(answer.find("\r\n\r\n") + 4), std::string());

    // HTTP/1.0 has no chunked coding: such a request is answered, and the
    // connection closed after it.
    const Reply chunked10 =
        Exchange(m_http,
                 "GET /v2/health/live HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: "
                 "chunked\r\n\r\n0\r\n\r\n");
    QVERIFY2(chunked10.head.find("Connection: close") != std::string::npos, chunked10.head.c_str());

    // An HTTP/1.0 client that asks to keep the connection is told it is kept.
    RawClient kept(m_http);
    for (int i = 0; i < 2; ++i) {
      QVERIFY(kept.Send("GET /v2/health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      const Reply r = ReadReply(kept);
      QCOMPARE(r.status, 200);
      QVERIFY2(r.head.find("Connection: keep-alive") != std::string::npos, r.head.c_str());
    }
  }

  // The configured idle timeout closes a kept-alive connection that
  // sends nothing more.
  void theIdleTimeoutIsTheConfigured() const {
    AgentConfig config = DemoConfig(test::ModelsDir(), "lm");
    config.agent_id = "test-idle";
    config.control_listen = "127.0.0.1:0";
    config.data_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.http_idle_timeout = std::chrono::milliseconds(300);
    std::string error;
    auto agent = test::StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    RawClient client(agent->HttpAddress());
    QVERIFY(client.Send("GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
    QCOMPARE(ReadReply(client).status, 200);
    const Clock::time_point answered = Clock::now();
    std::string ignored;
    bool open = true;
    while (open && Clock::now() - answered < std::chrono::seconds(5)) {
      open = client.ReadSome(&ignored, 50);
    }
    QVERIFY(!open);
    const auto waited = Clock::now() - answered;
    QVERIFY2(waited >= std::chrono::milliseconds(250) && waited < std::chrono::seconds(3),
             std::to_string(std::chrono::duration<double>(waited).count()).c_str());
  }

  // Fields after a chunked body (trailers) are not headers: they cannot
  // pin, type or name a request after a front proxy checked its head.
  void trailersAreNotHeaders() const {
    const std::string body = R"({"model":"lm","prompt":"The","max_tokens":2})";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    RawClient client(m_http);
    QVERIFY(
        client.Send("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" +
                    std::string(size) + "\r\n" + body +
                    "\r\n0\r\nx-greylane-version: v2\r\nx-request-id: from-trailer\r\n\r\n"));
    const Reply r = ReadReply(client);
    QCOMPARE(r.status, 200);
    QVERIFY2(r.head.find("x-greylane-version: v1") != std::string::npos, r.head.c_str());
    QVERIFY2(r.head.find("from-trailer") == std::string::npos, r.head.c_str());
  }

  // Expect: 100-continue is answered with an interim 100 on HTTP/1.1 only:
  // an HTTP/1.0 client cannot take one (RFC 9110 10.1.1).
  void expectContinueOnlyOnHttp11_data() const {
    QTest::addColumn<QByteArray>("version");
    QTest::addColumn<bool>("interim");
    QTest::newRow("HTTP/1.1") << QByteArray("HTTP/1.1") << true;
    QTest::newRow("HTTP/1.0") << QByteArray("HTTP/1.0") << false;
  }
  void expectContinueOnlyOnHttp11() const {
    QFETCH(QByteArray, version);
    QFETCH(bool, interim);
    const std::string body = R"({"model":"lm","prompt":"The","max_tokens":2})";
    RawClient client(m_http);
    QVERIFY(client.Connected());
    QVERIFY(client.Send("POST /v1/completions " + version.toStdString() +
                        "\r\nHost: t\r\nContent-Type: application/json\r\nExpect: "
                        "100-continue\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n"));
    std::string early;
    client.ReadSome(&early, interim ? 5000 : 300);
    QCOMPARE(early.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0, interim);
    QVERIFY(client.Send(body));
    const Reply r = ReadReply(client);
    QCOMPARE(r.status, 200);
    QVERIFY2(r.head.find("100 Continue") == std::string::npos, r.head.c_str());
  }

  // Beast's header limit covers the head only: an endless trailer or chunk
  // extension must meet the session's buffer bound with a 431, not grow it
  // (it held gigabytes for as long as the client kept sending).
  void endlessTrailersAndChunkExtensionsAreRefused_data() const {
    QTest::addColumn<QByteArray>("opening");  // then filler without end
    QTest::newRow("trailer") << QByteArray("5\r\nhello\r\n0\r\nx-pad: ");
    QTest::newRow("chunk extension") << QByteArray("5;pad=");
  }
  void endlessTrailersAndChunkExtensionsAreRefused() const {
    QFETCH(QByteArray, opening);
    RawClient client(m_http);
    QVERIFY(client.Connected());
    QVERIFY(
        client.Send("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: "
                    "application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    opening.toStdString()));
    // Far past the bound; the agent answers and closes once the bound is met,
    // so some of these sends may find the connection closed.
    const std::string filler(64 * 1024, 'a');
    for (int i = 0; i < 16 && client.Send(filler); ++i) {
    }
    const Reply r = ReadReply(client);
    QCOMPARE(r.status, 431);
    QVERIFY2(
        r.body.find("trailer fields of the request's chunked body exceed") != std::string::npos,
        r.body.c_str());
  }

  // RFC 9112 2.2: empty lines before a request line are ignored, as some
  // clients send one after a body.
  void emptyLinesBeforeARequestAreIgnored() const {
    RawClient client(m_http);
    const std::string body = R"({"model":"lm","prompt":"The","max_tokens":2})";
    QVERIFY(client.Send("\r\n" + Post("/v1/completions", body) + "\r\n"));
    QCOMPARE(ReadReply(client).status, 200);
    QVERIFY(client.Send("\r\nGET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
    QCOMPARE(ReadReply(client).status, 200);
  }

  // Header text from outside (an upstream's headers) cannot write a header
  // of its own: CR, LF and NUL are dropped wherever they sit, and every
  // other byte is kept.
  void headerTextCannotWriteAHeader() const {
    HostileHeaders handler;
    auto server = HttpServer::Start("127.0.0.1:0", HttpLimits{}, handler);
    QVERIFY(server.ok());
    const Reply reply = Exchange((*server)->Address(), "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(reply.status, 200);
    QCOMPARE(reply.body, std::string("fine"));
    QVERIFY2(reply.head.find("\nInjected") == std::string::npos, reply.head.c_str());
    QVERIFY(reply.head.find(std::string_view("\0", 1)) == std::string::npos);
    QVERIFY(reply.head.find("Content-Type: text/plainInjected-Type: yes\r\n") != std::string::npos);
    for (size_t at = 0; at <= 17; ++at) {
      std::string value(17, 'v');
      value.insert(at, "Injected: yes");
      const std::string line = "x-hostile-" + std::to_string(at) + ": " + value + "\r\n";
      QVERIFY2(reply.head.find(line) != std::string::npos, line.c_str());
    }
    QVERIFY(reply.head.find("x-nameInjected-Name: ok\r\n") != std::string::npos);
    QVERIFY(reply.head.find("x-plain-utf8: caf\xc3\xa9 \xe2\x9c\x93 long enough to be words\r\n") !=
            std::string::npos);
  }

  // One answer larger than the bound on unsent bytes reaches a client that
  // reads it, however long that takes, as long as it keeps reading.
  void aLargeAnswerReachesAClientThatKeepsReading() const {
    LargeAnswers handler;
    HttpLimits limits;
    limits.max_queued_bytes = 256 * 1024;
    limits.write_timeout = std::chrono::milliseconds(300);
    auto server = HttpServer::Start("127.0.0.1:0", limits, handler);
    QVERIFY(server.ok());
    const size_t size = 24u << 20;
    RawClient client((*server)->Address());
    QVERIFY(client.Send("GET /big/" + std::to_string(size) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string raw;
    const Clock::time_point start = Clock::now();
    const auto until = start + std::chrono::seconds(30);
    bool open = true;
    while (open && raw.size() < size && Clock::now() < until) {
      open = client.ReadSome(&raw, 1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a slow reader
    }
    const size_t head = raw.find("\r\n\r\n");
    QVERIFY(head != std::string::npos);
    QCOMPARE(raw.size() - head - 4, size);
    // Slower than the write timeout in all, so the timeout is on progress.
    QVERIFY2(Clock::now() - start > limits.write_timeout,
             "read too fast to show the timeout is on progress");
    QVERIFY(client.Send("GET /big/3 HTTP/1.1\r\nHost: t\r\n\r\n"));  // and it is kept alive
    QCOMPARE(ReadReply(client).body, std::string("xxx"));
  }

  // A client that stops reading is dropped: once a stream's unsent bytes
  // reach the bound (the stream is stopped), or when a whole answer makes
  // no progress for the write timeout.
  void aClientThatStopsReadingIsDropped() const {
    LargeAnswers handler;
    HttpLimits limits;
    limits.max_queued_bytes = 1u << 20;
    limits.write_timeout = std::chrono::milliseconds(300);
    auto server = HttpServer::Start("127.0.0.1:0", limits, handler);
    QVERIFY(server.ok());
    RawClient streamed((*server)->Address());
    QVERIFY(streamed.Send("GET /endless HTTP/1.1\r\nHost: t\r\n\r\n"));
    QTRY_VERIFY_WITH_TIMEOUT(handler.gone.load(), 5000);
    RawClient whole((*server)->Address());
    QVERIFY(whole.Send("GET /big/" + std::to_string(64u << 20) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    QTRY_COMPARE_WITH_TIMEOUT((*server)->OpenConnections(), size_t{0}, 5000);
  }

  // Requests sent back to back on one connection (pipelined), all at once
  // and one while the first is still being answered, are each answered,
  // in order, without the client sending anything more.
  void pipelinedRequestsAreEachAnswered() const {
    RawClient client(m_http);
    std::string burst;
    for (int i = 0; i < 3; ++i) burst += "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n";
    const std::string body = ChatBody(8, false);
    const std::string chat =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    QVERIFY(client.Send(burst + chat));
    // The next one arrives while the chat is being generated.
    QTest::qWait(20);
    QVERIFY(client.Send("GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string raw;
    auto answers = [&] {
      size_t n = 0;
      for (size_t at = raw.find("HTTP/1.1 "); at != std::string::npos;
           at = raw.find("HTTP/1.1 ", at + 1))
        ++n;
      return n;
    };
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (answers() < 5 && Clock::now() < until && client.ReadSome(&raw, 200)) {
    }
    QVERIFY2(answers() == 5, raw.c_str());
    QVERIFY2(raw.find("\"chat.completion\"") < raw.rfind("HTTP/1.1 200"), raw.c_str());
  }

  // A long pipeline of requests answered at once (here 404s, 40 KB in
  // one write, more than the header limit the session reads ahead) is
  // answered whole and in order: each next request starts in a later turn
  // of the loop, never nested inside the one before.
  void aLongPipelineOfInlineAnswersIsAnsweredWhole() const {
    RawClient client(m_http);
    const int count = 1000;
    std::string burst;
    for (int i = 0; i < count; ++i) burst += "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
    QVERIFY(client.Send(burst));
    std::string raw;
    size_t answers = 0;
    size_t counted_to = 0;
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (answers < count && Clock::now() < until && client.ReadSome(&raw, 1000)) {
      for (size_t at = raw.find("HTTP/1.1 404", counted_to); at != std::string::npos;
           at = raw.find("HTTP/1.1 404", at + 1)) {
        ++answers;
        counted_to = at + 1;
      }
    }
    QCOMPARE(answers, size_t{count});
    // And the agent still answers a new connection.
    QCOMPARE(Exchange(m_http, "GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
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

  void theOfficialOpenAiClientWorksUnchanged() const {
    const QString node = QStandardPaths::findExecutable(QStringLiteral("node"));
    const QString check = QStringLiteral(GREYLANE_SOURCE_DIR "/tests/openai_client/check.mjs");
    if (node.isEmpty() || !QFile::exists(QStringLiteral(
                              GREYLANE_SOURCE_DIR "/tests/openai_client/node_modules/openai"))) {
      QSKIP("node or the npm openai package is missing (./dev.sh test installs them)");
    }
    QProcess client;
    client.setProcessChannelMode(QProcess::MergedChannels);
    client.start(node, {check, QString::fromStdString("http://" + m_http + "/v1")});
    QVERIFY(client.waitForFinished(60000));
    const QByteArray output = client.readAll();
    QVERIFY2(client.exitCode() == 0, output.constData());
    QVERIFY2(output.contains("\"ok\":true"), output.constData());
    QVERIFY2(output.contains("\"embeddings\":[16,16]"), output.constData());
  }

  void aRealPrometheusScrapesBothVersions() const {
    const QString prometheus = QStandardPaths::findExecutable(QStringLiteral("prometheus"));
    if (prometheus.isEmpty()) QSKIP("prometheus (Debian prometheus) is not installed");
    QTemporaryDir dir;
    int port = 0;
    {
      // A free port for Prometheus's own web server (it cannot take port 0),
      // released synchronously before Prometheus binds it.
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t size = sizeof(any);
      QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) == 0);
      QVERIFY(::getsockname(fd, reinterpret_cast<sockaddr*>(&any), &size) == 0);
      port = ntohs(any.sin_port);
      ::close(fd);
    }
    QFile config(dir.filePath("prometheus.yml"));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(
        QByteArray::fromStdString("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                                  "  - job_name: greylane\n    static_configs:\n"
                                  "      - targets: ['" +
                                  m_http + "']\n"));
    config.close();
    QProcess server;
    // Its log goes to a file, not a pipe nobody reads (a full pipe would
    // stall it).
    server.setStandardOutputFile(dir.filePath("prometheus.log"));
    server.setStandardErrorFile(dir.filePath("prometheus.log"), QIODevice::Append);
    server.start(prometheus, {"--config.file=" + config.fileName(),
                              "--storage.tsdb.path=" + dir.filePath("data"),
                              "--web.listen-address=127.0.0.1:" + QString::number(port)});
    QVERIFY(server.waitForStarted(5000));
    const std::string address = "127.0.0.1:" + std::to_string(port);
    QTRY_VERIFY_WITH_TIMEOUT(
        Exchange(address, "GET /-/ready HTTP/1.1\r\nHost: t\r\n\r\n").status == 200, 20000);
    // Both versions serve while Prometheus scrapes every second.
    const std::string query =
        "GET /api/v1/query?query=sum%20by%20(version)%20(rate(greylane_requests_total%5B5s%5D))"
        " HTTP/1.1\r\nHost: t\r\n\r\n";
    std::string body;
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < until) {
      for (const char* pin : {"v1", "v2"}) {
        Exchange(m_http, Post("/v1/completions", R"({"model":"lm","prompt":"x","max_tokens":1})",
                              std::string("x-greylane-version: ") + pin + "\r\n"));
      }
      body = Exchange(address, query).body;
      if (body.find("\"version\":\"v1\"") != std::string::npos &&
          body.find("\"version\":\"v2\"") != std::string::npos &&
          body.find("\"0\"]") == std::string::npos) {
        break;
      }
      QTest::qWait(250);
    }
    server.terminate();
    server.waitForFinished(5000);
    QVERIFY2(body.find("\"version\":\"v1\"") != std::string::npos, body.c_str());
    QVERIFY2(body.find("\"version\":\"v2\"") != std::string::npos, body.c_str());
    QVERIFY2(body.find("\"0\"]") == std::string::npos, body.c_str());  // both rates above 0
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
  std::string Metrics() const { return test::Metrics(m_http); }

  std::unique_ptr<CanaryAgent> m_agent;
  std::string m_http;
};

QTEST_GUILESS_MAIN(TestHttpPlane)
#include "test_http_plane.moc"
