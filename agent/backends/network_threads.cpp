#include "agent/backends/network_threads.h"

#include <algorithm>
#include <atomic>
#include <memory>
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

class NetworkThreads {
 public:
  NetworkThreads() {
    // Network work is short handlers; more loops than cores only contend.
    const unsigned count = std::clamp(std::thread::hardware_concurrency(), 2u, 8u);
    for (unsigned i = 0; i < count; ++i) m_loops.push_back(std::make_unique<Loop>());
    for (auto& loop : m_loops) {
      m_threads.emplace_back([context = &loop->context] {
        t_loop = context;
        context->run();
      });
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
  size_t IndexOf(const boost::asio::io_context& context) const {
    for (size_t i = 0; i < m_loops.size(); ++i) {
      if (&m_loops[i]->context == &context) return i;
    }
    return 0;
  }

 private:
  std::vector<std::unique_ptr<Loop>> m_loops;
  std::vector<std::thread> m_threads;
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

}  // namespace greylane
