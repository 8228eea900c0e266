#include "agent/load/openai_load.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/backends/openai_http_backend.h"
#include "agent/backends/openai_wire.h"
#include "common/text.h"

namespace greylane {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kPrompts[] = {
    "This License",   "Permission is hereby granted",     "the Software is provided",
    "You may convey", "Redistribution and use in source", "THE SOFTWARE IS PROVIDED",
    "a copy of the",  "Each contributor grants you",      "the terms and conditions",
};

std::string Ms(double micros) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", micros / 1000.0);
  return text;
}

// Shared by the sender and every call's sink.
class Tally {
 public:
  void Add(const OpenAiLoadStats& one) {
    std::lock_guard lock(m_mutex);
    m_second.Merge(one);
  }
  OpenAiLoadStats TakeSecond() {
    std::lock_guard lock(m_mutex);
    OpenAiLoadStats s = std::move(m_second);
    m_second = {};
    return s;
  }
  void Begin() { ++m_in_flight; }
  void End() { --m_in_flight; }
  size_t InFlight() const { return m_in_flight; }

 private:
  std::mutex m_mutex;
  OpenAiLoadStats m_second;
  std::atomic<size_t> m_in_flight{0};
};

// One request's view: stamps each event as it arrives.
class TimedSink final : public GenerationSink {
 public:
  TimedSink(std::shared_ptr<Tally> tally, Clock::time_point intended, bool stream)
      : m_tally(std::move(tally)), m_intended(intended), m_stream(stream) {}
  void OnHead(GenerationHead head) override {
    m_status = head.status;
    for (const auto& [name, value] : head.headers) {
      if (name == "x-greylane-version") m_version = value;
    }
  }
  void OnData(std::string bytes) override {
    const Clock::time_point now = Clock::now();
    if (!m_stream) {
      m_body += bytes;
      return;
    }
    const StreamEvent e = ReadStreamEvent(bytes);
    m_error = m_error || e.error;
    if (!e.content) return;
    if (m_tokens == 0) {
      m_stats.ttft.Add(Micros(now - m_intended));
    } else {
      m_stats.itl.Add(Micros(now - m_last));
    }
    m_last = now;
    ++m_tokens;
  }
  void OnEnd(GenerationEnd end) override {
    m_stats.sent = 1;
    const bool ok = end.failure == GenerationFailure::kNone && m_status == 200 && !m_error;
    if (ok) {
      m_stats.ok = 1;
      m_stats.latency.Add(Micros(Clock::now() - m_intended));
      if (!m_stream) {
        const StreamEvent e = ReadAnswer(m_body);
        m_tokens = static_cast<uint64_t>(std::max<int64_t>(e.completion_tokens, 0));
      }
      m_stats.tokens = m_tokens;
      m_stats.by_version[m_version.empty() ? "?" : m_version] = 1;
    } else {
      m_stats.errors = 1;
      m_stats.errors_by_status[m_status] = 1;
      m_stats.first_error = end.error.empty() ? ClampText(m_body, 300) : end.error;
      if (m_stats.first_error.empty()) m_stats.first_error = "HTTP " + std::to_string(m_status);
    }
    m_tally->Add(m_stats);
    m_tally->End();
  }

 private:
  static double Micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
  }
  std::shared_ptr<Tally> m_tally;
  const Clock::time_point m_intended;
  const bool m_stream;
  OpenAiLoadStats m_stats;
  int m_status = 0;
  bool m_error = false;
  std::string m_version;
  std::string m_body;
  uint64_t m_tokens = 0;
  Clock::time_point m_last;
};

std::string Body(const OpenAiLoadOptions& o, uint64_t n) {
  const uint64_t user = (n * 2654435761u) % static_cast<uint64_t>(std::max(o.users, 1));
  const char* prompt = kPrompts[n % std::size(kPrompts)];
  return std::string(R"({"model":)") + JsonString(o.model) +
         R"(,"messages":[{"role":"user","content":)" + JsonString(prompt) + R"(}],"max_tokens":)" +
         std::to_string(o.max_tokens) + R"(,"temperature":0.8,"user":"user-)" +
         std::to_string(user) + R"(","stream":)" + (o.stream ? "true" : "false") +
         (o.stream ? R"(,"stream_options":{"include_usage":true})" : "") + "}";
}

}  // namespace

void OpenAiLoadStats::Merge(const OpenAiLoadStats& o) {
  sent += o.sent;
  ok += o.ok;
  errors += o.errors;
  shed += o.shed;
  tokens += o.tokens;
  for (const auto& [status, n] : o.errors_by_status) errors_by_status[status] += n;
  if (first_error.empty()) first_error = o.first_error;
  for (const auto& [version, n] : o.by_version) by_version[version] += n;
  ttft.Merge(o.ttft);
  itl.Merge(o.itl);
  latency.Merge(o.latency);
}

OpenAiLoadReport RunOpenAiLoad(const OpenAiLoadOptions& options,
                               const std::function<void(int, const OpenAiLoadStats&)>& each_second,
                               std::string* error) {
  OpenAiHttpOptions http;
  http.base_url =
      options.target.rfind("http://", 0) == 0 ? options.target : "http://" + options.target;
  http.first_byte_timeout = options.deadline;
  http.idle_timeout = options.deadline;
  http.total_timeout = options.deadline;
  http.connections = 256;
  absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> client = OpenAiHttpBackend::Create(http);
  if (!client.ok()) {
    *error = std::string(client.status().message());
    return {};
  }
  auto tally = std::make_shared<Tally>();
  OpenAiLoadReport report;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options.duration_s));
  const double interval_s = 1.0 / std::max(options.rps, 0.001);
  uint64_t issued = 0;
  int second = 0;
  Clock::time_point next_report = start + std::chrono::seconds(1);
  auto stopped = [&] { return options.stop && options.stop->load(); };
  while (!stopped()) {
    const Clock::time_point now = Clock::now();
    if (now >= end || (options.max_requests && issued >= options.max_requests)) break;
    const auto due =
        static_cast<uint64_t>(std::chrono::duration<double>(now - start).count() / interval_s) + 1;
    while (issued < due && !(options.max_requests && issued >= options.max_requests)) {
      const Clock::time_point intended =
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(issued * interval_s));
      ++issued;
      if (tally->InFlight() >= options.max_in_flight) {
        OpenAiLoadStats shed;
        shed.shed = 1;
        tally->Add(shed);
        continue;
      }
      GenerationRequest request;
      request.method = "POST";
      request.path = "/v1/chat/completions";
      request.body = Body(options, issued);
      request.request_id = "load-" + std::to_string(issued);
      request.stream = options.stream;
      tally->Begin();
      (*client)->Generate(std::move(request),
                          std::make_shared<TimedSink>(tally, intended, options.stream));
    }
    if (now >= next_report) {
      OpenAiLoadStats s = tally->TakeSecond();
      report.total.Merge(s);
      if (each_second) each_second(++second, s);
      next_report += std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // What is in flight finishes (each has the deadline).
  const Clock::time_point drain_until = Clock::now() + options.deadline + std::chrono::seconds(1);
  while (tally->InFlight() > 0 && Clock::now() < drain_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  report.total.Merge(tally->TakeSecond());
  report.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

std::string FormatOpenAiSecond(int second, const OpenAiLoadStats& s) {
  std::ostringstream out;
  out << "[" << second << "s] sent " << s.sent << "  ok " << s.ok << "  err " << s.errors;
  if (s.shed) out << "  shed " << s.shed;
  out << "  TTFT p50 " << Ms(s.ttft.QuantileMicros(0.5)) << " p99 "
      << Ms(s.ttft.QuantileMicros(0.99)) << " ms  ITL p50 " << Ms(s.itl.QuantileMicros(0.5))
      << " p99 " << Ms(s.itl.QuantileMicros(0.99)) << " ms  tokens " << s.tokens << "  |";
  for (const auto& [version, n] : s.by_version) out << " " << TerminalSafe(version) << " " << n;
  return out.str();
}

std::string FormatOpenAiSummary(const OpenAiLoadReport& r) {
  const OpenAiLoadStats& t = r.total;
  std::ostringstream out;
  char rate[64];
  std::snprintf(rate, sizeof(rate), "%.1f ok/s, %.1f tokens/s",
                r.elapsed_s > 0 ? t.ok / r.elapsed_s : 0.0,
                r.elapsed_s > 0 ? t.tokens / r.elapsed_s : 0.0);
  out << "total: sent " << t.sent << "  ok " << t.ok << "  errors " << t.errors;
  if (t.shed) out << "  shed " << t.shed << " (too many in flight)";
  out << "  in " << Ms(r.elapsed_s * 1e6) << " ms = " << rate << "\n";
  out << "time to first token (client side): p50 " << Ms(t.ttft.QuantileMicros(0.5)) << " ms  p90 "
      << Ms(t.ttft.QuantileMicros(0.9)) << " ms  p99 " << Ms(t.ttft.QuantileMicros(0.99))
      << " ms\n";
  out << "inter-token latency (client side): p50 " << Ms(t.itl.QuantileMicros(0.5)) << " ms  p90 "
      << Ms(t.itl.QuantileMicros(0.9)) << " ms  p99 " << Ms(t.itl.QuantileMicros(0.99)) << " ms\n";
  out << "request latency: p50 " << Ms(t.latency.QuantileMicros(0.5)) << " ms  p99 "
      << Ms(t.latency.QuantileMicros(0.99)) << " ms\n";
  for (const auto& [version, n] : t.by_version) {
    out << "  " << TerminalSafe(version) << ": " << n << " answers\n";
  }
  for (const auto& [status, n] : t.errors_by_status) {
    out << "  errors " << (status ? "HTTP " + std::to_string(status) : std::string("no answer"))
        << ": " << n << "\n";
  }
  if (!t.first_error.empty()) out << "  first error: " << TerminalSafe(t.first_error) << "\n";
  return out.str();
}

}  // namespace greylane
