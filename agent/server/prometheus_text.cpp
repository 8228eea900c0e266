// GET /metrics: the Prometheus text format (0.0.4) written by hand, because
// it is a few lines of text and Debian packages no C++ client for it.
// Histograms come from the agent's own sketches, so their buckets are
// finer than vLLM's and every count is exact up to the sketch's 0.75 %.
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "agent/server/http_data_plane.h"

namespace greylane {
namespace {

constexpr double kLatencyBuckets[] = {
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,  0.15,
    0.2,   0.25,   0.3,   0.4,    0.5,  0.6,   0.75, 0.9,  1.0,  1.25, 1.5,   1.75, 2.0,
    2.5,   3.0,    4.0,   5.0,    7.5,  10.0,  15.0, 20.0, 30.0, 60.0, 120.0};
constexpr double kInterTokenBuckets[] = {
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05,
    0.06,  0.075,  0.1,   0.125,  0.15, 0.2,    0.3,   0.4,    0.5,  0.75,  1.0,  2.5,   5.0};
constexpr double kTokenBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};

// Label values: the version name is already restricted (VersionNameProblem);
// the model name is escaped all the same.
std::string LabelValue(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[40];
  std::snprintf(text, sizeof(text), "%.10g", v);
  return text;
}

class Exposition {
 public:
  void Family(const char* name, const char* type, const char* help) {
    m_text += "# HELP ";
    m_text += name;
    m_text += ' ';
    m_text += help;
    m_text += "\n# TYPE ";
    m_text += name;
    m_text += ' ';
    m_text += type;
    m_text += '\n';
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    m_text += name;
    if (!labels.empty()) m_text += "{" + labels + "}";
    m_text += ' ';
    m_text += Number(value);
    m_text += '\n';
  }
  // `scale` turns the sketch's unit (microseconds, or one per token) into
  // the metric's (seconds, tokens).
  template <size_t N>
  void Histogram(const std::string& name, const std::string& labels, const LatencySketch& sketch,
                 const double (&bounds)[N], double scale) {
    const std::vector<uint64_t>& buckets = sketch.Buckets();
    size_t b = 0;
    uint64_t cumulative = 0;
    double sum = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (buckets[i])
        sum += static_cast<double>(buckets[i]) * LatencySketch::BucketValue(static_cast<int>(i));
    }
    for (const double le : bounds) {
      for (; b < buckets.size() && LatencySketch::BucketValue(static_cast<int>(b)) * scale <= le;
           ++b) {
        cumulative += buckets[b];
      }
      Sample(name + "_bucket", labels + ",le=\"" + Number(le) + "\"",
             static_cast<double>(cumulative));
    }
    Sample(name + "_bucket", labels + ",le=\"+Inf\"", static_cast<double>(sketch.Count()));
    Sample(name + "_sum", labels, sum * scale);
    Sample(name + "_count", labels, static_cast<double>(sketch.Count()));
  }
  std::string Take() { return std::move(m_text); }

 private:
  std::string m_text;
};

const char* VerdictName(v1::CheckVerdict v) {
  switch (v) {
    case v1::CHECK_PASS:
      return "pass";
    case v1::CHECK_WARN:
      return "warn";
    case v1::CHECK_FAIL:
      return "fail";
    case v1::CHECK_INCONCLUSIVE:
      return "inconclusive";
    default:
      return "unknown";
  }
}

}  // namespace

std::string PrometheusText(CanaryPair& pair, const InferenceIdentity& identity,
                           const v1::MetricsFrame* latest) {
  const SplitValue split = pair.Split().Load();
  struct Row {
    std::string labels;
    VersionTotals totals;
    int64_t in_flight;
  };
  std::vector<Row> rows;
  for (SlotIndex slot = 0; slot < CanaryPair::kSlots; ++slot) {
    const ReleaseRole role = CanaryPair::RoleOf(slot, split);
    rows.push_back({"model=\"" + LabelValue(identity.model_name) + "\",version=\"" +
                        LabelValue(pair.VersionAt(slot).version) + "\",slot=\"" +
                        ReleaseRoleName(role) + "\"",
                    pair.RecorderAt(slot).Snapshot(), pair.RecorderAt(slot).InFlight()});
  }
  Exposition out;
  using Counter = uint64_t VersionTotals::*;
  const std::tuple<const char*, const char*, Counter> counters[] = {
      {"greylane_request_success_total", "Requests answered successfully.", &VersionTotals::ok},
      {"greylane_request_server_errors_total",
       "Requests the version failed (counted against it by the analysis).",
       &VersionTotals::server_errors},
      {"greylane_request_client_errors_total",
       "Requests refused as the caller's mistake, or abandoned by the client (never against the "
       "version).",
       &VersionTotals::client_errors},
      {"greylane_rate_limited_total", "Requests refused by the role's rate limit.",
       &VersionTotals::rate_limited},
      {"greylane_spilled_total",
       "Requests meant for the candidate served by the baseline (rate limit).",
       &VersionTotals::spilled},
      {"greylane_breaker_diverted_total",
       "Requests meant for the candidate diverted while its circuit breaker was open.",
       &VersionTotals::breaker_diverted},
  };
  for (const auto& [name, help, member] : counters) {
    out.Family(name, "counter", help);
    for (const Row& r : rows) out.Sample(name, r.labels, static_cast<double>(r.totals.*member));
  }
  out.Family("greylane_requests_total", "counter",
             "Requests routed to the version: success, server and client errors.");
  for (const Row& r : rows) {
    out.Sample("greylane_requests_total", r.labels,
               static_cast<double>(r.totals.ok + r.totals.server_errors + r.totals.client_errors));
  }
  out.Family("greylane_num_requests_running", "gauge", "Requests in flight now.");
  for (const Row& r : rows)
    out.Sample("greylane_num_requests_running", r.labels, static_cast<double>(r.in_flight));

  out.Family("greylane_e2e_request_latency_seconds", "histogram",
             "Time from a request's arrival to its last byte, successful requests.");
  for (const Row& r : rows) {
    out.Histogram("greylane_e2e_request_latency_seconds", r.labels, r.totals.latency,
                  kLatencyBuckets, 1e-6);
  }
  out.Family("greylane_time_to_first_token_seconds", "histogram",
             "Time from a streamed request's arrival to its first generated token.");
  for (const Row& r : rows) {
    out.Histogram("greylane_time_to_first_token_seconds", r.labels, r.totals.generation.ttft,
                  kLatencyBuckets, 1e-6);
  }
  out.Family("greylane_inter_token_latency_seconds", "histogram",
             "Time between two consecutive tokens of a stream.");
  for (const Row& r : rows) {
    out.Histogram("greylane_inter_token_latency_seconds", r.labels, r.totals.generation.itl,
                  kInterTokenBuckets, 1e-6);
  }
  out.Family("greylane_request_generation_tokens", "histogram", "Output tokens per answer.");
  for (const Row& r : rows) {
    out.Histogram("greylane_request_generation_tokens", r.labels, r.totals.generation.output_tokens,
                  kTokenBuckets, 1.0);
  }
  out.Family("greylane_prompt_tokens_total", "counter", "Prompt tokens of generative answers.");
  for (const Row& r : rows) {
    out.Sample("greylane_prompt_tokens_total", r.labels,
               static_cast<double>(r.totals.generation.prompt_tokens));
  }
  out.Family("greylane_generation_tokens_total", "counter", "Generated (output) tokens.");
  for (const Row& r : rows) {
    out.Sample("greylane_generation_tokens_total", r.labels,
               static_cast<double>(r.totals.generation.generation_tokens));
  }
  out.Family("greylane_request_finished_total", "counter",
             "Generative answers by finish reason (stop, length, other).");
  for (const Row& r : rows) {
    const GenerationTotals& g = r.totals.generation;
    out.Sample("greylane_request_finished_total", r.labels + ",finished_reason=\"stop\"",
               static_cast<double>(g.finish_stop));
    out.Sample("greylane_request_finished_total", r.labels + ",finished_reason=\"length\"",
               static_cast<double>(g.finish_length));
    out.Sample("greylane_request_finished_total", r.labels + ",finished_reason=\"other\"",
               static_cast<double>(g.finish_other));
  }
  out.Family("greylane_stream_integrity_problems_total", "counter",
             "Streams that ended without [DONE], without the usage chunk asked for, cut before a "
             "finish reason, or with an unexpected finish reason.");
  for (const Row& r : rows) {
    const GenerationTotals& g = r.totals.generation;
    for (const auto& [problem, n] :
         {std::pair{"missing_done", g.missing_done}, std::pair{"missing_usage", g.missing_usage},
          std::pair{"truncated", g.truncated},
          std::pair{"unexpected_finish", g.unexpected_finish}}) {
      out.Sample("greylane_stream_integrity_problems_total",
                 r.labels + ",problem=\"" + problem + "\"", static_cast<double>(n));
    }
  }
  const std::string model = "model=\"" + LabelValue(identity.model_name) + "\"";
  out.Family("greylane_split_candidate_ratio", "gauge",
             "Share of traffic routed to the candidate (0..1).");
  out.Sample("greylane_split_candidate_ratio", model, split.candidate_basis_points / 10000.0);
  out.Family("greylane_split_revision", "gauge", "Revision of the release state (one per change).");
  out.Sample("greylane_split_revision", model, static_cast<double>(split.revision));
  if (latest && latest->has_analysis()) {
    const v1::AnalysisVerdict& a = latest->analysis();
    out.Family("greylane_analysis_check", "gauge",
               "The last second's verdict of each analysis check: 1 for the verdict it has.");
    for (const v1::CheckResult& c : a.checks()) {
      for (const v1::CheckVerdict v :
           {v1::CHECK_PASS, v1::CHECK_WARN, v1::CHECK_FAIL, v1::CHECK_INCONCLUSIVE}) {
        out.Sample("greylane_analysis_check",
                   model + ",candidate=\"" + LabelValue(a.candidate_version()) + "\",check=\"" +
                       LabelValue(c.check()) + "\",verdict=\"" + VerdictName(v) + "\"",
                   c.verdict() == v ? 1 : 0);
      }
    }
    out.Family("greylane_analysis_armed", "gauge",
               "1 when a failed analysis rolls the candidate back.");
    out.Sample("greylane_analysis_armed", model, a.armed() ? 1 : 0);
  }
  return out.Take();
}

}  // namespace greylane
