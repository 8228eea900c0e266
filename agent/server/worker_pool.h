#pragma once
// A few threads for the control plane's slow calls (VerifyAudit recomputing
// the chain, ListAudit queries, LoadCandidate building and probing a
// version): gRPC's callback threads only hand the work over, so they stay
// free for rollbacks and the data plane. The queue is bounded; a call that
// finds it full is answered RESOURCE_EXHAUSTED at once.
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace greylane {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is shutting down.
  bool Submit(std::function<void()> job);
  // Runs what is queued, then joins. Idempotent.
  void Shutdown();

 private:
  void Run();
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(m_mutex) { return m_stopping || !m_jobs.empty(); }

  const size_t m_max_queued;
  absl::Mutex m_mutex;
  std::deque<std::function<void()>> m_jobs ABSL_GUARDED_BY(m_mutex);
  bool m_stopping ABSL_GUARDED_BY(m_mutex) = false;
  std::vector<std::thread> m_threads;
};

}  // namespace greylane
