#pragma once
// One agent per state dir: the directory itself is held with flock(2) for
// the agent's lifetime (the kernel drops it when the process dies, even by
// kill -9; removing a file inside cannot undo it), and <dir>/agent.lock
// says who holds it, so a second agent on the same files exits with a
// message naming the first instead of serving a split of its own and
// corrupting the trail.
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace greylane {

class StateDirLock {
 public:
  static absl::StatusOr<std::unique_ptr<StateDirLock>> Acquire(const std::string& dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

  // Rewrites what the lock file says about its holder (e.g. once the
  // listening addresses are known).
  void Describe(const std::string& detail);

 private:
  StateDirLock(int dir_fd, std::string path) : m_dir_fd(dir_fd), m_path(std::move(path)) {}
  int m_dir_fd;
  std::string m_path;  // agent.lock: who holds the lock
  std::string m_started;
};

}  // namespace greylane
