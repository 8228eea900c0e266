#include "agent/server/worker_pool.h"

namespace greylane {

WorkerPool::WorkerPool(size_t threads, size_t max_queued) : m_max_queued(max_queued) {
  for (size_t i = 0; i < threads; ++i) m_threads.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  Shutdown();
}

bool WorkerPool::Submit(std::function<void()> job) {
  absl::MutexLock lock(&m_mutex);
  if (m_stopping || m_jobs.size() >= m_max_queued) return false;
  m_jobs.push_back(std::move(job));
  return true;
}

void WorkerPool::Shutdown() {
  {
    absl::MutexLock lock(&m_mutex);
    m_stopping = true;
  }
  for (std::thread& t : m_threads) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&m_mutex);
      m_mutex.Await(absl::Condition(this, &WorkerPool::HasWork));
      if (m_jobs.empty()) return;  // stopping, and everything queued has run
      job = std::move(m_jobs.front());
      m_jobs.pop_front();
    }
    job();
  }
}

}  // namespace greylane
