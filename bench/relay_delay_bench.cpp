// Streaming relay delay per event: an upstream sends server-sent events
// stamped with the steady clock at the moment each is handed to its socket;
// clients read them directly and through a greylane agent (openai-http
// backends), alternating, and the delay from stamp to arrival is taken per
// event. The agent's added delay is the difference of the two, p50 and p99,
// measured side by side in one run.
//
// usage: greylane-bench-relay [--streams N] [--events N] [--interval-ms N] [--concurrent N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/backends/network_threads.h"
#include "agent/http/http_server.h"
#include "agent/server/canary_agent.h"

using namespace greylane;
using Clock = std::chrono::steady_clock;

namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// One paced stream: `events` content events, each stamped as it is sent.
struct PacedStream : std::enable_shared_from_this<PacedStream> {
  PacedStream(std::shared_ptr<HttpExchange> e, int n, std::chrono::milliseconds every)
      : exchange(std::move(e)), left(n), interval(every), timer(NetworkContext()) {}
  void Next() {
    if (left-- == 0) {
      exchange->SendChunk(
          "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n");
      exchange->SendChunk("data: [DONE]\n\n");
      exchange->EndStream();
      return;
    }
    exchange->SendChunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}],\"t\":" +
                        std::to_string(Now()) + "}\n\n");
    timer.expires_after(interval);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->Next();
    });
  }
  std::shared_ptr<HttpExchange> exchange;
  int left;
  std::chrono::milliseconds interval;
  boost::asio::steady_timer timer;
};

class PacedUpstream final : public HttpHandler {
 public:
  PacedUpstream(int events, std::chrono::milliseconds interval)
      : m_events(events), m_interval(interval) {}
  void Handle(std::shared_ptr<HttpExchange> exchange) override {
    if (exchange->Request().path == "/v1/models") {
      HttpResponse r;
      r.body = R"({"object":"list","data":[{"id":"m","object":"model"}]})";
      return exchange->Reply(std::move(r));
    }
    HttpResponse head;
    head.content_type = "text/event-stream";
    exchange->BeginStream(std::move(head));
    std::make_shared<PacedStream>(exchange, m_events, m_interval)->Next();
  }

 private:
  const int m_events;
  const std::chrono::milliseconds m_interval;
};

// Reads one stream from `address`; appends each event's delay (ns).
bool ReadStream(const std::string& address, std::vector<int64_t>* delays) {
  const size_t colon = address.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    if (fd >= 0) close(fd);
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true})";
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nContent-Type: "
      "application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return false;
  }
  std::string buffer;
  char chunk[16384];
  bool done = false;
  while (!done) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    const int64_t arrived = Now();
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t at = 0;
    for (;;) {
      const size_t stamp = buffer.find("\"t\":", at);
      if (stamp == std::string::npos) break;
      const size_t end = buffer.find('}', stamp);
      if (end == std::string::npos) break;
      delays->push_back(arrived - std::stoll(buffer.substr(stamp + 4, end - stamp - 4)));
      at = end;
    }
    done = buffer.find("[DONE]") != std::string::npos;
    buffer.erase(0, at);
  }
  close(fd);
  return done;
}

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int streams = 40, events = 100, interval_ms = 5, concurrent = 8;
  CLI::App app("greylane-bench-relay: added delay per streamed event through the agent");
  app.add_option("--streams", streams, "streams per target")->check(CLI::Range(1, 100000));
  app.add_option("--events", events, "content events per stream")->check(CLI::Range(1, 100000));
  app.add_option("--interval-ms", interval_ms, "between events")->check(CLI::Range(1, 10000));
  app.add_option("--concurrent", concurrent, "streams at once")->check(CLI::Range(1, 512));
  CLI11_PARSE(app, argc, argv);

  PacedUpstream upstream(events, std::chrono::milliseconds(interval_ms));
  auto server = HttpServer::Start("127.0.0.1:0", HttpLimits{}, upstream);
  if (!server.ok()) {
    std::fprintf(stderr, "upstream: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  const std::string up = (*server)->Address();
  const std::filesystem::path state =
      std::filesystem::temp_directory_path() / ("greylane-relay-bench-" + std::to_string(getpid()));
  AgentConfig config;
  config.agent_id = "bench-relay";
  config.model_name = "m";
  config.control_listen = config.data_listen = config.http_listen = "127.0.0.1:0";
  config.state_dir = state.string();
  config.initial_candidate_basis_points = 5000;
  config.analysis.armed = false;
  config.demo_tokens = true;  // the control plane needs some; nothing calls it
  for (auto [spec, version] : {std::pair{&config.baseline, "v1"}, {&config.candidate, "v2"}}) {
    spec->version = version;
    spec->backend = "openai-http";
    spec->upstream.address = "http://" + up + "/v1";
    spec->upstream.connections = 64;
    spec->upstream.deadline = std::chrono::minutes(10);
  }
  std::string error;
  std::unique_ptr<CanaryAgent> agent = CanaryAgent::Create(config, &error);
  if (!agent || !agent->Start(&error)) {
    std::fprintf(stderr, "agent: %s\n", error.c_str());
    return 1;
  }
  const std::string via = agent->HttpAddress();

  std::vector<int64_t> direct, relayed;
  std::mutex mutex;
  std::atomic<int> failed{0};
  // Alternating rounds of `concurrent` streams, direct then through the agent.
  for (int done = 0; done < streams; done += concurrent) {
    for (const bool through_agent : {false, true}) {
      std::vector<std::thread> clients;
      for (int i = 0; i < std::min(concurrent, streams - done); ++i) {
        clients.emplace_back([&, through_agent] {
          std::vector<int64_t> mine;
          if (!ReadStream(through_agent ? via : up, &mine)) ++failed;
          std::lock_guard lock(mutex);
          (through_agent ? relayed : direct)
              .insert((through_agent ? relayed : direct).end(), mine.begin(), mine.end());
        });
      }
      for (std::thread& t : clients) t.join();
    }
  }
  agent->Shutdown();
  agent.reset();
  std::error_code ec;
  std::filesystem::remove_all(state, ec);

  std::printf("relay delay per event: %d streams x %d events every %d ms, %d at once, %u cores\n",
              streams, events, interval_ms, concurrent, std::thread::hardware_concurrency());
  std::printf("  %-22s %8s %10s %10s %10s\n", "", "events", "p50 ms", "p99 ms", "max ms");
  auto row = [](const char* what, const std::vector<int64_t>& v) {
    std::printf("  %-22s %8zu %10.3f %10.3f %10.3f\n", what, v.size(), Percentile(v, 0.5),
                Percentile(v, 0.99), Percentile(v, 1.0));
  };
  row("direct (upstream)", direct);
  row("through the agent", relayed);
  std::printf("  %-22s %8s %10.3f %10.3f\n", "added by the agent", "",
              Percentile(relayed, 0.5) - Percentile(direct, 0.5),
              Percentile(relayed, 0.99) - Percentile(direct, 0.99));
  if (failed > 0) std::printf("  %d streams did not complete\n", failed.load());
  return failed > 0 ? 1 : 0;
}
