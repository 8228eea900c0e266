#include "agent/server/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/audit_export.h"
#include "common/text.h"

namespace greylane {

absl::StatusOr<std::unique_ptr<StateDirLock>> StateDirLock::Acquire(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "agent.lock").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError("cannot create the state dir's lock file " + path + ": " +
                                         std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[512] = {};
    const ssize_t n = ::pread(fd, holder, sizeof(holder) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      return absl::FailedPreconditionError("cannot lock " + path + ": " + std::strerror(err));
    }
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string();
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return absl::FailedPreconditionError(
        "state dir " + dir + " is in use by another greylane-agent (" +
        (who.empty() ? std::string("holder unknown") : TerminalSafe(who)) +
        "); stop it first, or give this agent its own --state-dir");
  }
  std::unique_ptr<StateDirLock> lock(new StateDirLock(fd, path));
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  lock->m_started = AuditIsoTime(now);
  lock->Describe({});
  return lock;
}

void StateDirLock::Describe(const std::string& detail) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string text = "pid " + std::to_string(::getpid()) + " on " + host + ", started " +
                           m_started + (detail.empty() ? "" : ", " + detail) + "\n";
  if (::ftruncate(m_fd, 0) == 0) {
    const ssize_t ignored = ::pwrite(m_fd, text.data(), text.size(), 0);
    (void)ignored;  // only informative; the lock itself is what counts
  }
}

StateDirLock::~StateDirLock() {
  ::close(m_fd);  // releases the flock
}

}  // namespace greylane
