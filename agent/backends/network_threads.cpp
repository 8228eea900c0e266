#include "agent/backends/network_threads.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

namespace greylane {
namespace {

struct Loop {
  // Concurrency hint 1: one thread runs it, so Asio skips waking others.
  boost::asio::io_context context{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
      context.get_executor()};
};

thread_local boost::asio::io_context* t_loop = nullptr;

std::mutex g_options_mutex;
NetworkThreadsOptions g_options;  // guarded by g_options_mutex
bool g_started = false;           // guarded by g_options_mutex

// The CPUs this process may run on (taskset, cgroup cpusets), in order.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

class NetworkThreads {
 public:
  NetworkThreads() {
    NetworkThreadsOptions options;
    {
      std::lock_guard lock(g_options_mutex);
      options = g_options;
      g_started = true;
    }
    // Network work is short handlers; more loops than cores only contend.
    const unsigned count = options.threads > 0
                               ? options.threads
                               : std::clamp(std::thread::hardware_concurrency(), 2u, 8u);
    std::vector<int> cpus;
    if (options.pin != CpuPinning::kOff) {
      cpus = AllowedCpus();
      // One CPU: nothing to choose. Auto with CPUs to spare: left free.
      if (cpus.size() < 2 || (options.pin == CpuPinning::kAuto && count < cpus.size())) {
        cpus.clear();
      }
    }
    for (unsigned i = 0; i < count; ++i) m_loops.push_back(std::make_unique<Loop>());
    for (size_t i = 0; i < m_loops.size(); ++i) {
      m_threads.emplace_back([context = &m_loops[i]->context] {
        t_loop = context;
        context->run();
      });
      // Named for top -H and perf: "greylane-net-0", ... (15 bytes at most).
      const std::string name = "greylane-net-" + std::to_string(i);
      pthread_setname_np(m_threads.back().native_handle(), name.substr(0, 15).c_str());
      if (!cpus.empty()) {
        const int cpu = cpus[i % cpus.size()];
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (pthread_setaffinity_np(m_threads.back().native_handle(), sizeof(set), &set) == 0) {
          m_pinned_to.push_back(cpu);
        }
      }
    }
  }
  ~NetworkThreads() {
    for (auto& loop : m_loops) {
      loop->work.reset();
      loop->context.stop();
    }
    for (std::thread& t : m_threads) t.join();
  }
  boost::asio::io_context& Next() {
    return m_loops[m_next.fetch_add(1, std::memory_order_relaxed) % m_loops.size()]->context;
  }
  size_t Count() const { return m_loops.size(); }
  const std::vector<int>& PinnedTo() const { return m_pinned_to; }
  size_t IndexOf(const boost::asio::io_context& context) const {
    for (size_t i = 0; i < m_loops.size(); ++i) {
      if (&m_loops[i]->context == &context) return i;
    }
    return 0;
  }

 private:
  std::vector<std::unique_ptr<Loop>> m_loops;
  std::vector<std::thread> m_threads;
  std::vector<int> m_pinned_to;  // each thread's CPU, when pinned
  std::atomic<size_t> m_next{0};
};

NetworkThreads& Threads() {
  static NetworkThreads threads;
  return threads;
}

}  // namespace

boost::asio::io_context& NetworkContext() {
  NetworkThreads& threads = Threads();
  return t_loop ? *t_loop : threads.Next();
}

boost::asio::io_context& NextNetworkContext() {
  return Threads().Next();
}

size_t NetworkLoopCount() {
  return Threads().Count();
}

size_t NetworkLoopIndex(const boost::asio::io_context& context) {
  return Threads().IndexOf(context);
}

std::optional<CpuPinning> ParseCpuPinning(std::string_view text) {
  if (text == "auto") return CpuPinning::kAuto;
  for (std::string_view yes : {"yes", "true", "on"}) {
    if (text == yes) return CpuPinning::kOn;
  }
  for (std::string_view no : {"no", "false", "off"}) {
    if (text == no) return CpuPinning::kOff;
  }
  return std::nullopt;
}

bool ConfigureNetworkThreads(const NetworkThreadsOptions& options, std::string* error) {
  if (options.threads > kMaxNetworkThreads) {
    *error = "network_threads must be 1.." + std::to_string(kMaxNetworkThreads) +
             " (or 0 for one per core)";
    return false;
  }
  std::lock_guard lock(g_options_mutex);
  if (g_started) {
    *error = "the network threads already run; their number and pinning are set at start";
    return false;
  }
  g_options = options;
  return true;
}

std::string DescribeNetworkThreads() {
  const NetworkThreads& threads = Threads();
  std::string out = std::to_string(threads.Count()) +
                    (threads.Count() == 1 ? " network thread" : " network threads");
  const std::vector<int>& cpus = threads.PinnedTo();
  if (cpus.empty()) return out + ", not pinned";
  out += cpus.size() == 1 ? ", pinned to CPU " : ", pinned to CPUs ";
  for (size_t i = 0; i < cpus.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(cpus[i]);
  }
  if (cpus.size() < threads.Count()) out += " (some could not be pinned)";
  return out;
}

}  // namespace greylane
