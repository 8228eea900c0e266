#pragma once
// A model server the agent runs itself (a slot's `command`, e.g. `vllm serve
// …`): started under /bin/sh in its own process group, its output copied to
// the agent's log line by line behind "[version] ", ready only once its
// health URL answers 200, restarted with backoff (1 s doubling to 30 s,
// back to 1 s after a minute of running) whenever it exits or stays not
// ready for `ready_timeout` (after its start, or since it stopped
// answering), and stopped (SIGTERM to the group, SIGKILL after 5 s) with
// the agent.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace greylane {

struct ProcessStatus {
  enum class State { kStarting, kReady, kBackoff, kStopped } state = State::kStarting;
  int pid = 0;
  uint32_t restarts = 0;
  std::string detail;  // "exited with status 1", "waiting 4 s before restart 3"
  int64_t since_unix_ms = 0;
};
const char* ProcessStateName(ProcessStatus::State state);  // starting | ready | backoff | stopped

class SupervisedProcess {
 public:
  // `health_url`: http://host:port/path, polled every `poll` until 200.
  SupervisedProcess(std::string version, std::string command, std::string health_url,
                    std::chrono::milliseconds ready_timeout = std::chrono::minutes(10),
                    std::chrono::milliseconds poll = std::chrono::milliseconds(500));
  ~SupervisedProcess();  // Stop()
  SupervisedProcess(const SupervisedProcess&) = delete;
  SupervisedProcess& operator=(const SupervisedProcess&) = delete;

  void Start();
  void Stop();
  bool Ready() const { return m_ready.load(std::memory_order_acquire); }
  ProcessStatus Status() const;

 private:
  void Supervise();
  // Runs the command once; returns its exit text when it ends (or when stopping).
  std::string RunOnce();
  // SIGTERM to the group, SIGKILL after 5 s; its exit status.
  static int StopGroup(int pid);
  void CopyOutput(int fd);
  void Set(ProcessStatus::State state, std::string detail, int pid);
  bool Wait(std::chrono::milliseconds for_how_long);  // false once stopping

  const std::string m_version;
  const std::string m_command;
  const std::string m_health_url;
  const std::chrono::milliseconds m_ready_timeout;
  const std::chrono::milliseconds m_poll;
  std::atomic<bool> m_ready{false};
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  ProcessStatus m_status;
  std::thread m_thread;
};

}  // namespace greylane
