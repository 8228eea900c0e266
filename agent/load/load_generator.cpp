#include "agent/load/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/synchronization/mutex.h"
#include "agent/load/digits_dataset.h"
#include "common/text.h"
#include "greylane/v1/agent.grpc.pb.h"
#include "inference/grpc_service.grpc.pb.h"

namespace greylane {
namespace {

// A server names its versions; a hostile one could name a new one per
// response, so the tally keeps a bounded number of names.
constexpr size_t kMaxTalliedVersions = 32;
std::string TallyKey(const LoadStats& stats, const std::string& version) {
  std::string key = ClampText(version, 128);
  if (stats.by_version.size() < kMaxTalliedVersions || stats.by_version.count(key)) return key;
  return "(other versions)";
}

using Clock = std::chrono::steady_clock;

struct Prepared {
  inference::ModelInferRequest request;
  std::vector<int> labels;
};

class LoadRun {
 public:
  LoadRun(const LoadOptions& options, std::vector<Prepared> requests)
      : m_options(options), m_requests(std::move(requests)) {
    for (int i = 0; i < std::max(1, options.connections); ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("greylane.load.connection", i);
      auto channel =
          grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
      m_stubs.push_back(inference::GRPCInferenceService::NewStub(channel));
      m_outcome_stubs.push_back(v1::Outcomes::NewStub(channel));
    }
    for (int u = 0; u < std::max(1, options.users); ++u) {
      m_users.push_back("user-" + std::to_string(u));
    }
  }

  LoadReport Run(const SecondCallback& each_second) {
    const auto start = Clock::now();
    m_start = start;
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(m_options.duration_s));
    std::thread sender([&] {
      if (m_options.concurrency > 0) {
        for (int i = 0; i < m_options.concurrency; ++i) Issue(Clock::now());
      } else {
        Pace(start, end);
      }
    });
    int second = 0;
    auto next_report = start + std::chrono::seconds(1);
    for (;;) {
      absl::ReleasableMutexLock lock(&m_mutex);
      const auto wake = std::min(next_report, end);
      const bool done = m_mutex.AwaitWithTimeout(absl::Condition(&m_cap_reached),
                                                 absl::FromChrono(wake - Clock::now())) ||
                        (m_options.stop && m_options.stop->load());
      const auto now = Clock::now();
      if (now >= next_report || now >= end || done) {
        LoadStats this_second = std::move(m_second);
        m_second = {};
        m_total.Merge(this_second);
        lock.Release();
        if (each_second && (now >= next_report || this_second.sent > 0)) {
          each_second(++second, this_second);
        }
        next_report += std::chrono::seconds(1);
      }
      if (now >= end || done) break;
    }
    m_stopping.store(true);
    sender.join();
    // Let what is in flight finish (each call has its own deadline).
    absl::MutexLock lock(&m_mutex);
    m_mutex.AwaitWithTimeout(absl::Condition(this, &LoadRun::Idle),
                             absl::FromChrono(m_options.deadline + std::chrono::seconds(1)));
    m_total.Merge(m_second);
    m_second = {};
    LoadReport report;
    report.total = m_total;
    report.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    return report;
  }

  ~LoadRun() {
    // Calls still in flight hold pointers to this run; wait them out.
    absl::MutexLock lock(&m_mutex);
    m_mutex.Await(absl::Condition(this, &LoadRun::Idle));
  }

 private:
  struct Call {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    const Prepared* prepared = nullptr;
    Clock::time_point intended;
    size_t stub = 0;
  };

  struct OutcomeCall {
    grpc::ClientContext context;
    v1::RecordOutcomeRequest request;
    v1::RecordOutcomeResponse response;
  };

  void Pace(Clock::time_point start, Clock::time_point end) {
    const double interval_s = 1.0 / std::max(m_options.rps, 0.001);
    uint64_t issued = 0;
    while (!m_stopping.load(std::memory_order_relaxed)) {
      const auto now = Clock::now();
      if (now >= end) break;
      const auto due =
          static_cast<uint64_t>(std::chrono::duration<double>(now - start).count() / interval_s) +
          1;
      while (issued < due && !m_stopping.load(std::memory_order_relaxed)) {
        const auto intended = start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(issued * interval_s));
        ++issued;
        if (!Issue(intended)) break;
      }
      const auto next = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(issued * interval_s));
      std::this_thread::sleep_until(std::min(next, now + std::chrono::milliseconds(2)));
    }
  }

  // False when the run should stop issuing.
  bool Issue(Clock::time_point intended) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    {
      absl::MutexLock lock(&m_mutex);
      if (m_options.max_requests && m_issued >= m_options.max_requests) {
        m_cap_reached = true;
        return false;
      }
      if (m_options.concurrency == 0 && m_in_flight >= m_options.max_backlog) {
        ++m_second.shed;
        return true;
      }
      ++m_issued;
      ++m_in_flight;
      ++m_second.sent;
    }
    auto* call = new Call;
    call->prepared = &m_requests[rng() % m_requests.size()];
    call->intended = intended;
    call->context.set_deadline(std::chrono::system_clock::now() + m_options.deadline);
    call->context.AddMetadata(m_options.user_header, m_users[rng() % m_users.size()]);
    if (!m_options.pin.empty()) call->context.AddMetadata("x-greylane-version", m_options.pin);
    const size_t stub = m_next_stub.fetch_add(1, std::memory_order_relaxed) % m_stubs.size();
    call->stub = stub;
    m_stubs[stub]->async()->ModelInfer(
        &call->context, &call->prepared->request, &call->response,
        [this, call](grpc::Status status) { Complete(call, status); });
    return true;
  }

  void Complete(Call* call, const grpc::Status& status) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    const auto latency = Clock::now() - call->intended;
    bool again = false;
    std::unique_ptr<OutcomeCall> outcome;
    {
      absl::MutexLock lock(&m_mutex);
      if (status.ok()) {
        ++m_second.ok;
        m_second.latency.Add(std::chrono::duration<double, std::micro>(latency).count());
        VersionTally& tally =
            m_second.by_version[TallyKey(m_second, call->response.model_version())];
        tally.served += 1;
        const uint64_t correct = CountCorrect(*call);
        tally.correct += correct;
        if (m_options.outcomes > 0 && !call->response.id().empty() &&
            std::uniform_real_distribution<double>(0, 1)(rng) < m_options.outcomes) {
          outcome = std::make_unique<OutcomeCall>();
          outcome->request.set_request_id(call->response.id());
          const std::vector<int>& labels = call->prepared->labels;
          if (labels.size() == 1) {
            outcome->request.set_label(std::to_string(labels[0]));
          } else {
            outcome->request.set_correct(correct == labels.size());
          }
          ++m_in_flight;
        }
      } else {
        ++m_second.errors;
        ++m_second.errors_by_code[status.error_code()];
        m_second.first_error_message.emplace(status.error_code(),
                                             ClampText(status.error_message(), 512));
      }
      --m_in_flight;
      again = m_options.concurrency > 0 && !m_stopping.load() &&
              Clock::now() < m_start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(m_options.duration_s));
    }
    const size_t stub = call->stub;
    delete call;
    if (outcome) {
      OutcomeCall* o = outcome.release();
      o->context.set_deadline(std::chrono::system_clock::now() + m_options.deadline);
      m_outcome_stubs[stub]->async()->RecordOutcome(
          &o->context, &o->request, &o->response, [this, o](grpc::Status s) {
            absl::MutexLock lock(&m_mutex);
            if (s.ok()) {
              ++m_second.outcomes_recorded;
            } else {
              ++m_second.outcomes_refused;
              if (m_second.first_outcome_error.empty())
                m_second.first_outcome_error = ClampText(s.error_message(), 512);
            }
            --m_in_flight;
            delete o;
          });
    }
    if (again) Issue(Clock::now());
  }

  static uint64_t CountCorrect(const Call& call) {
    const auto& response = call.response;
    const auto& labels = call.prepared->labels;
    if (response.outputs_size() != 1) return 0;
    // The server's answer is not trusted to hold as many values as asked.
    const size_t wanted = labels.size() * 10;
    const float* p = nullptr;
    std::vector<float> copy;
    if (response.raw_output_contents_size() == 1) {
      const std::string& raw = response.raw_output_contents(0);
      if (raw.size() < wanted * sizeof(float)) return 0;
      copy.resize(wanted);
      std::memcpy(copy.data(), raw.data(), wanted * sizeof(float));
      p = copy.data();
    } else {
      const auto& values = response.outputs(0).contents().fp32_contents();
      if (static_cast<size_t>(values.size()) < wanted) return 0;
      p = values.data();
    }
    uint64_t correct = 0;
    for (size_t r = 0; r < labels.size(); ++r) {
      const float* row = p + r * 10;
      if (std::max_element(row, row + 10) - row == labels[r]) ++correct;
    }
    return correct;
  }

  const LoadOptions m_options;
  const std::vector<Prepared> m_requests;
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> m_stubs;
  std::vector<std::unique_ptr<v1::Outcomes::Stub>> m_outcome_stubs;
  std::vector<std::string> m_users;
  std::atomic<size_t> m_next_stub{0};
  std::atomic<bool> m_stopping{false};
  Clock::time_point m_start;

  bool Idle() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex) { return m_in_flight == 0; }

  absl::Mutex m_mutex;
  LoadStats m_second ABSL_GUARDED_BY(m_mutex);
  LoadStats m_total ABSL_GUARDED_BY(m_mutex);
  uint64_t m_issued ABSL_GUARDED_BY(m_mutex) = 0;
  size_t m_in_flight ABSL_GUARDED_BY(m_mutex) = 0;
  bool m_cap_reached ABSL_GUARDED_BY(m_mutex) = false;
};

std::vector<Prepared> Prepare(const LoadOptions& options, const std::vector<DigitsRow>& rows) {
  std::vector<Prepared> prepared;
  const int batch = std::max(1, options.batch);
  for (size_t start = 0; start + static_cast<size_t>(batch) <= rows.size(); start += batch) {
    Prepared p;
    p.request.set_model_name(options.model);
    auto* input = p.request.add_inputs();
    input->set_name("input");
    input->set_datatype("FP32");
    input->add_shape(batch);
    input->add_shape(64);
    std::vector<float> values;
    for (int r = 0; r < batch; ++r) {
      const DigitsRow& row = rows[start + static_cast<size_t>(r)];
      values.insert(values.end(), row.pixels.begin(), row.pixels.end());
      p.labels.push_back(row.label);
    }
    if (options.typed_contents) {
      input->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
    } else {
      p.request.add_raw_input_contents(
          std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    }
    prepared.push_back(std::move(p));
  }
  return prepared;
}

std::string Ms(double micros) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", micros / 1000.0);
  return text;
}

}  // namespace

void LoadStats::Merge(const LoadStats& other) {
  sent += other.sent;
  ok += other.ok;
  errors += other.errors;
  shed += other.shed;
  outcomes_recorded += other.outcomes_recorded;
  outcomes_refused += other.outcomes_refused;
  if (first_outcome_error.empty()) first_outcome_error = other.first_outcome_error;
  for (const auto& [code, n] : other.errors_by_code) errors_by_code[code] += n;
  for (const auto& [code, message] : other.first_error_message) {
    first_error_message.emplace(code, message);
  }
  for (const auto& [version, tally] : other.by_version) {
    VersionTally& mine = by_version[TallyKey(*this, version)];
    mine.served += tally.served;
    mine.correct += tally.correct;
  }
  latency.Merge(other.latency);
}

LoadReport RunLoad(const LoadOptions& options, const SecondCallback& each_second,
                   std::string* error) {
  error->clear();
  if (options.concurrency <= 0 && !(options.rps > 0)) {
    *error = "--rps must be > 0 (or give --concurrency)";
    return {};
  }
  if (!(options.outcomes >= 0 && options.outcomes <= 1)) {
    *error = "--outcomes must be 0 to 1 (the share of answers whose label is reported)";
    return {};
  }
  if (!(options.duration_s > 0) || options.users < 1 || options.batch < 1 || options.batch > 1024) {
    *error = "--duration must be > 0, --users >= 1, --batch 1..1024";
    return {};
  }
  const std::string path = options.data_file.empty() ? DefaultDigitsCsv() : options.data_file;
  const std::vector<DigitsRow> rows = LoadDigitsCsv(path, error);
  if (rows.empty()) return {};
  std::vector<Prepared> prepared = Prepare(options, rows);
  if (prepared.empty()) {
    *error = "--batch is larger than the data file";
    return {};
  }
  LoadRun run(options, std::move(prepared));
  return run.Run(each_second);
}

std::string FormatSecond(int second, const LoadStats& stats) {
  std::ostringstream out;
  out << "[" << second << "s] sent " << stats.sent << "  ok " << stats.ok << "  err "
      << stats.errors;
  if (stats.shed) out << "  shed " << stats.shed;
  out << "  p50 " << Ms(stats.latency.QuantileMicros(0.5)) << " ms  p99 "
      << Ms(stats.latency.QuantileMicros(0.99)) << " ms  |";
  for (const auto& [version, tally] : stats.by_version)
    out << " " << TerminalSafe(version) << " " << tally.served;
  return out.str();
}

std::string FormatSummary(const LoadReport& report) {
  const LoadStats& t = report.total;
  std::ostringstream out;
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.1f", report.elapsed_s > 0 ? t.ok / report.elapsed_s : 0.0);
  out << "total: sent " << t.sent << "  ok " << t.ok << "  errors " << t.errors;
  if (t.shed) out << "  shed " << t.shed << " (client backlog full)";
  out << "  in " << Ms(report.elapsed_s * 1e6) << " ms = " << rate << " ok/s\n";
  out << "latency (client side): p50 " << Ms(t.latency.QuantileMicros(0.5)) << " ms  p90 "
      << Ms(t.latency.QuantileMicros(0.9)) << " ms  p99 " << Ms(t.latency.QuantileMicros(0.99))
      << " ms  p99.9 " << Ms(t.latency.QuantileMicros(0.999)) << " ms  max "
      << Ms(t.latency.MaxMicros()) << " ms\n";
  for (const auto& [version, tally] : t.by_version) {
    char line[1024];
    std::snprintf(line, sizeof(line), "served by %s: %llu (%.2f %%), accuracy %.2f %%\n",
                  TerminalSafe(version).c_str(), static_cast<unsigned long long>(tally.served),
                  t.ok ? 100.0 * tally.served / t.ok : 0.0,
                  tally.served ? 100.0 * tally.correct / tally.served : 0.0);
    out << line;
  }
  if (t.outcomes_recorded || t.outcomes_refused) {
    out << "outcomes reported: " << t.outcomes_recorded << " recorded, " << t.outcomes_refused
        << " refused";
    if (!t.first_outcome_error.empty())
      out << " (first: " << TerminalSafe(t.first_outcome_error) << ")";
    out << "\n";
  }
  for (const auto& [code, n] : t.errors_by_code) {
    out << "errors with status " << code << ": " << n
        << " (first: " << TerminalSafe(t.first_error_message.at(code)) << ")\n";
  }
  return out.str();
}

std::string FormatSummaryJson(const LoadReport& report) {
  const LoadStats& t = report.total;
  std::ostringstream out;
  char buf[64];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return std::string(buf);
  };
  out << "{\"sent\":" << t.sent << ",\"ok\":" << t.ok << ",\"errors\":" << t.errors
      << ",\"shed\":" << t.shed << ",\"outcomes_recorded\":" << t.outcomes_recorded
      << ",\"outcomes_refused\":" << t.outcomes_refused
      << ",\"elapsed_s\":" << num(report.elapsed_s)
      << ",\"ok_per_s\":" << num(report.elapsed_s > 0 ? t.ok / report.elapsed_s : 0)
      << ",\"p50_ms\":" << num(t.latency.QuantileMillis(0.5))
      << ",\"p90_ms\":" << num(t.latency.QuantileMillis(0.9))
      << ",\"p99_ms\":" << num(t.latency.QuantileMillis(0.99))
      << ",\"p999_ms\":" << num(t.latency.QuantileMillis(0.999)) << ",\"served\":{";
  bool first = true;
  for (const auto& [version, tally] : t.by_version) {
    out << (first ? "" : ",") << JsonString(version) << ":" << tally.served;
    first = false;
  }
  out << "}}";
  return out.str();
}

}  // namespace greylane
