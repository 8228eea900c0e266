#include "agent/backends/network_threads.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

namespace greylane {
namespace {

class NetworkThreads {
 public:
  NetworkThreads() : m_work(m_context.get_executor()) {
    // Network work is short handlers; more threads than cores only contend.
    const unsigned count = std::clamp(std::thread::hardware_concurrency(), 2u, 8u);
    for (unsigned i = 0; i < count; ++i) m_threads.emplace_back([this] { m_context.run(); });
  }
  ~NetworkThreads() {
    m_work.reset();
    m_context.stop();
    for (std::thread& t : m_threads) t.join();
  }
  boost::asio::io_context& Context() { return m_context; }

 private:
  boost::asio::io_context m_context;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_work;
  std::vector<std::thread> m_threads;
};

}  // namespace

boost::asio::io_context& NetworkContext() {
  static NetworkThreads threads;
  return threads.Context();
}

}  // namespace greylane
