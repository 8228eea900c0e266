#include "support/agent_process.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QThread>

#include <csignal>

#include "common/client_token.h"

namespace greylane::test {

DemoAgentProcess::DemoAgentProcess(QString agent_binary, QString state_dir)
    : m_binary(std::move(agent_binary)), m_state_dir(std::move(state_dir)) {
  QDir().mkpath(m_state_dir);
}

DemoAgentProcess::~DemoAgentProcess() {
  Kill();
}

bool DemoAgentProcess::Start(const QString& control_listen) {
  Kill();
  const QString ready =
      (m_ready_dir.isEmpty() ? m_state_dir : m_ready_dir) + QStringLiteral("/ready");
  QFile::remove(ready);
  m_process = std::make_unique<QProcess>();
  m_process->setProcessChannelMode(QProcess::ForwardedChannels);  // never a full pipe
  m_process->start(m_binary, {"--demo", "--control-listen", control_listen, "--data-listen",
                              "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--state-dir",
                              m_state_dir, "--ready-file", ready});
  if (!m_process->waitForStarted(5000)) {
    m_error = QStringLiteral("cannot start %1: %2").arg(m_binary, m_process->errorString());
    return false;
  }
  const QDeadlineTimer deadline(15000);
  while (!QFile::exists(ready)) {
    if (m_process->waitForFinished(50)) {
      m_error = QStringLiteral(
                    "the agent exited with %1 before it was ready (its output is "
                    "above)")
                    .arg(m_process->exitCode());
      return false;
    }
    if (deadline.hasExpired()) {
      m_error = QStringLiteral("the agent was not ready within 15 s");
      return false;
    }
  }
  QFile file(ready);
  if (!file.open(QIODevice::ReadOnly)) return false;
  for (const QByteArray& line : file.readAll().split('\n')) {
    if (line.startsWith("control=")) m_control = QString::fromUtf8(line.mid(8));
    if (line.startsWith("data=")) m_data = QString::fromUtf8(line.mid(5));
  }
  return !m_control.isEmpty();
}

void DemoAgentProcess::Pause() {
  if (m_process) ::kill(static_cast<pid_t>(m_process->processId()), SIGSTOP);
}

void DemoAgentProcess::Resume() {
  if (m_process) ::kill(static_cast<pid_t>(m_process->processId()), SIGCONT);
}

void DemoAgentProcess::Kill() {
  if (!m_process) return;
  if (m_process->state() != QProcess::NotRunning) {
    ::kill(static_cast<pid_t>(m_process->processId()), SIGKILL);
    m_process->waitForFinished(5000);
  }
  m_process.reset();
}

int DemoAgentProcess::Stop() {
  if (!m_process) return -1;
  m_process->terminate();
  if (!m_process->waitForFinished(10000)) return -1;
  const int code = m_process->exitStatus() == QProcess::NormalExit ? m_process->exitCode() : -1;
  m_process.reset();
  return code;
}

QString DemoAgentProcess::Token(const QString& role) const {
  const auto token = ReadTokenFile(TokenFile().toStdString(), role.toStdString());
  return token.ok() ? QString::fromStdString(token->token) : QString();
}

std::unique_ptr<QProcess> StartLoad(const QString& load_binary, const QString& data, int rps,
                                    int seconds) {
  auto load = std::make_unique<QProcess>();
  load->setProcessChannelMode(QProcess::MergedChannels);
  load->setStandardOutputFile(QProcess::nullDevice());
  load->start(load_binary, {"--target", data, "--rps", QString::number(rps), "--users", "1000",
                            "--duration", QString::number(seconds), "--quiet"});
  load->waitForStarted(5000);
  return load;
}

}  // namespace greylane::test
