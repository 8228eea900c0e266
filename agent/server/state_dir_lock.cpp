#include "agent/server/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/audit_export.h"
#include "common/text.h"
#include "common/unix_time.h"

namespace greylane {

namespace {
std::string ReadHolder(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return {};
  char text[512] = {};
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  std::string who = n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string();
  while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
  return who;
}
}  // namespace

absl::StatusOr<std::unique_ptr<StateDirLock>> StateDirLock::Acquire(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "agent.lock").string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return absl::FailedPreconditionError("cannot open the state dir " + dir + ": " +
                                         std::strerror(errno));
  }
  if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(dir_fd);
    if (err != EWOULDBLOCK) {
      return absl::FailedPreconditionError("cannot lock the state dir " + dir + ": " +
                                           std::strerror(err));
    }
    const std::string who = ReadHolder(path);
    return absl::FailedPreconditionError(
        "state dir " + dir + " is in use by another greylane-agent (" +
        (who.empty() ? std::string("holder unknown: agent.lock is gone") : TerminalSafe(who)) +
        "); stop it first, or give this agent its own --state-dir");
  }
  std::unique_ptr<StateDirLock> lock(new StateDirLock(dir_fd, path));
  lock->m_started = AuditIsoTime(NowUnixMillis());
  lock->Describe({});
  return lock;
}

void StateDirLock::Describe(const std::string& detail) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string text = "pid " + std::to_string(::getpid()) + " on " + host + ", started " +
                           m_started + (detail.empty() ? "" : ", " + detail) + "\n";
  // Only informative (the lock is the directory's): written best effort,
  // beside its place and renamed over it, so a FIFO or a link planted there
  // is replaced, never opened (a FIFO once blocked the start for good).
  const std::string tmp = m_path + ".new";
  ::unlink(tmp.c_str());
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) return;
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), m_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    std::fprintf(stderr,
                 "greylane-agent: cannot write %s (it names this agent to a second one): %s\n",
                 TerminalSafe(m_path).c_str(), std::strerror(errno));
  }
}

StateDirLock::~StateDirLock() {
  ::close(m_dir_fd);  // releases the flock
}

}  // namespace greylane
