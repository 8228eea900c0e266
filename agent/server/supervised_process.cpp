#include "agent/server/supervised_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "agent/backends/openai_http_backend.h"
#include "common/text.h"

extern char** environ;

namespace greylane {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

constexpr size_t kMaxLogLine = 4096;
constexpr auto kMaxBackoff = std::chrono::seconds(30);
constexpr auto kHealthyRun = std::chrono::seconds(60);

}  // namespace

const char* ProcessStateName(ProcessStatus::State state) {
  switch (state) {
    case ProcessStatus::State::kStarting:
      return "starting";
    case ProcessStatus::State::kReady:
      return "ready";
    case ProcessStatus::State::kBackoff:
      return "backoff";
    case ProcessStatus::State::kStopped:
      return "stopped";
  }
  return "?";
}

SupervisedProcess::SupervisedProcess(std::string version, std::string command,
                                     std::string health_url,
                                     std::chrono::milliseconds ready_timeout,
                                     std::chrono::milliseconds poll)
    : m_version(std::move(version)),
      m_command(std::move(command)),
      m_health_url(std::move(health_url)),
      m_ready_timeout(ready_timeout),
      m_poll(poll) {}

SupervisedProcess::~SupervisedProcess() {
  Stop();
}

void SupervisedProcess::Start() {
  std::lock_guard lock(m_mutex);
  if (m_thread.joinable() || m_stopping) return;
  m_status.since_unix_ms = NowUnixMs();
  m_thread = std::thread([this] { Supervise(); });
}

void SupervisedProcess::Stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

ProcessStatus SupervisedProcess::Status() const {
  std::lock_guard lock(m_mutex);
  return m_status;
}

void SupervisedProcess::Set(ProcessStatus::State state, std::string detail, int pid) {
  std::lock_guard lock(m_mutex);
  m_status.state = state;
  m_status.detail = std::move(detail);
  m_status.pid = pid;
  m_status.since_unix_ms = NowUnixMs();
  m_ready.store(state == ProcessStatus::State::kReady, std::memory_order_release);
}

bool SupervisedProcess::Wait(std::chrono::milliseconds for_how_long) {
  std::unique_lock lock(m_mutex);
  m_wake.wait_for(lock, for_how_long, [this] { return m_stopping; });
  return !m_stopping;
}

void SupervisedProcess::Supervise() {
  auto backoff = std::chrono::milliseconds(1000);
  while (true) {
    const auto started = std::chrono::steady_clock::now();
    const std::string ended = RunOnce();
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) break;
    }
    if (std::chrono::steady_clock::now() - started >= kHealthyRun)
      backoff = std::chrono::milliseconds(1000);
    uint32_t restarts;
    {
      std::lock_guard lock(m_mutex);
      restarts = ++m_status.restarts;
    }
    std::fprintf(stderr, "[%s] supervised process %s; restart %u in %lld ms\n", m_version.c_str(),
                 ended.c_str(), restarts, static_cast<long long>(backoff.count()));
    Set(ProcessStatus::State::kBackoff,
        ended + "; restart " + std::to_string(restarts) + " in " +
            std::to_string(backoff.count() / 1000.0).substr(0, 4) + " s",
        0);
    if (!Wait(backoff)) break;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
  Set(ProcessStatus::State::kStopped, "stopped with the agent", 0);
}

std::string SupervisedProcess::RunOnce() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return std::string("cannot make a pipe: ") + std::strerror(errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Nothing else of the agent's: Asio's sockets are not close-on-exec, and
  // a model server holding a client's or an upstream's connection would
  // keep it open after the agent closed it (and in the agent's epoll sets).
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own group, so a stop reaches whatever the shell starts; and the
  // signals the agent blocks for its own clean stop unblocked again.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const char* argv[] = {"/bin/sh", "-c", m_command.c_str(), nullptr};
  pid_t pid = 0;
  const int spawned =
      posix_spawn(&pid, "/bin/sh", &actions, &attributes, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out[1]);
  if (spawned != 0) {
    ::close(out[0]);
    return std::string("could not start: ") + std::strerror(spawned);
  }
  Set(ProcessStatus::State::kStarting, "waiting for " + m_health_url + " to answer 200", pid);
  std::thread copier([this, fd = out[0]] { CopyOutput(fd); });

  int status = 0;
  bool exited = false;
  bool was_ready = false;
  auto unready_since = std::chrono::steady_clock::now();
  std::string last_answer = "no answer yet";
  while (!exited) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) break;
    }
    // Ready once the health URL answers 200; not ready again if it stops.
    std::string error;
    const int code = HttpStatusOf(m_health_url, std::chrono::milliseconds(1000), &error);
    if (code != 200) last_answer = error.empty() ? "HTTP " + std::to_string(code) : error;
    if (code == 200 && !was_ready) {
      was_ready = true;
      std::fprintf(stderr, "[%s] supervised process ready (%s answered 200)\n", m_version.c_str(),
                   m_health_url.c_str());
      Set(ProcessStatus::State::kReady, "pid " + std::to_string(pid), pid);
    } else if (code != 200 && was_ready) {
      was_ready = false;
      unready_since = std::chrono::steady_clock::now();
      Set(ProcessStatus::State::kStarting, m_health_url + " stopped answering 200: " + last_answer,
          pid);
    }
    if (!was_ready && std::chrono::steady_clock::now() - unready_since >= m_ready_timeout) {
      // Stuck loading, or hung: waiting longer helps no one.
      StopGroup(pid);
      copier.join();
      return "not ready within " + std::to_string(m_ready_timeout.count() / 1000.0).substr(0, 5) +
             " s (ready_timeout_ms; " + m_health_url + ": " + last_answer + "), stopped";
    }
    Wait(m_poll);
  }
  if (!exited) {
    status = StopGroup(pid);  // the agent stops
  } else {
    ::kill(-pid, SIGKILL);  // what it left behind in its group
  }
  copier.join();
  return ExitText(status);
}

int SupervisedProcess::StopGroup(int pid) {
  int status = 0;
  ::kill(-pid, SIGTERM);  // the whole group, politely first
  for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) != pid; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ::kill(-pid, SIGKILL);  // what it left behind in its group
  return status;
}

void SupervisedProcess::CopyOutput(int fd) {
  std::string line;
  char buffer[4096];
  auto flush = [&] {
    if (line.empty()) return;
    const std::string safe = TerminalSafe(line.substr(0, kMaxLogLine));
    std::fprintf(stderr, "[%s] %s\n", m_version.c_str(), safe.c_str());
    line.clear();
  };
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        flush();
      } else if (line.size() < kMaxLogLine) {
        line += buffer[i];
      }
    }
  }
  flush();
  ::close(fd);
}

}  // namespace greylane
