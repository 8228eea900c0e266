#pragma once
// A real `greylane-agent --demo` subprocess on loopback, as an operator
// runs it, for the console's end-to-end tests and benchmarks: start on free
// ports (or a given control port, to come back where it was), pause
// (SIGSTOP: streams stay open and go quiet), kill -9, restart.
#include <QProcess>
#include <QString>

#include <memory>

namespace greylane::test {

class DemoAgentProcess {
 public:
  DemoAgentProcess(QString agent_binary, QString state_dir);
  ~DemoAgentProcess();

  // control_listen: "127.0.0.1:0" for a free port. False with a message in
  // Error() when the agent did not become ready within 15 s.
  bool Start(const QString& control_listen = QStringLiteral("127.0.0.1:0"));
  // Where the ready file goes (default: the state dir), e.g. off a volume
  // a test fills on purpose.
  void SetReadyDir(const QString& dir) { m_ready_dir = dir; }
  void Pause();
  void Resume();
  void Kill();  // SIGKILL and reap
  // SIGTERM; the exit code, or -1 when it did not exit within 10 s.
  int Stop();

  QString Control() const { return m_control; }
  QString Data() const { return m_data; }
  QString TokenFile() const { return m_state_dir + QStringLiteral("/demo-tokens"); }
  QString Token(const QString& role) const;  // from the demo token file
  QString Error() const { return m_error; }
  qint64 Pid() const { return m_process ? m_process->processId() : 0; }

 private:
  QString m_binary;
  QString m_state_dir;
  QString m_ready_dir;
  std::unique_ptr<QProcess> m_process;
  QString m_control;
  QString m_data;
  QString m_error;
};

// greylane-load against a data plane, open loop, for `seconds`.
std::unique_ptr<QProcess> StartLoad(const QString& load_binary, const QString& data, int rps,
                                    int seconds);

}  // namespace greylane::test
