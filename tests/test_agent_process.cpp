// The real binaries as an operator runs them: greylane-agent --demo on free
// ports, greylane-load against it, SIGTERM drains and exits 0, and start-up
// mistakes end with a message and a non-zero exit.
#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
// A loopback port that something else holds, for as long as this lives.
class HeldPort {
 public:
  HeldPort() {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(m_fd, 1) != 0 ||
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      qFatal("cannot hold a loopback port");
    }
    m_port = ntohs(addr.sin_port);
  }
  ~HeldPort() { ::close(m_fd); }
  int Port() const { return m_port; }

 private:
  int m_fd = -1;
  int m_port = 0;
};
}  // namespace

class TestAgentProcess final : public QObject {
  Q_OBJECT

  static QMap<QString, QString> WaitForReadyFile(const QString& path) {
    QMap<QString, QString> addresses;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return addresses;
    for (const QByteArray& line : file.readAll().split('\n')) {
      const int eq = line.indexOf('=');
      if (eq > 0) addresses[line.left(eq)] = line.mid(eq + 1);
    }
    return addresses;
  }

 private slots:
  void demoServesLoadAndStopsCleanlyOnSigterm() const {
    QTemporaryDir dir;
    const QString ready = dir.filePath("ready");
    QProcess agent;
    agent.setProcessChannelMode(QProcess::MergedChannels);
    agent.start(GREYLANE_AGENT_BIN,
                {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0",
                 "--state-dir", dir.filePath("state"), "--ready-file", ready});
    QVERIFY(agent.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(ready), 15000);
    const auto addresses = WaitForReadyFile(ready);
    QVERIFY(addresses.contains("data"));
    QVERIFY(QDir(dir.filePath("state")).exists());

    QProcess load;
    load.setProcessChannelMode(QProcess::MergedChannels);
    load.start(GREYLANE_LOAD_BIN, {"--target", addresses["data"], "--rps", "400", "--requests",
                                   "400", "--duration", "20", "--users", "500", "--json"});
    QVERIFY(load.waitForFinished(30000));
    const QString output = QString::fromUtf8(load.readAll());
    QCOMPARE(load.exitCode(), 0);
    QVERIFY2(output.contains("\"ok\":400"), qPrintable(output));
    QVERIFY2(output.contains("served by v1:"), qPrintable(output));

    agent.terminate();  // SIGTERM
    QVERIFY(agent.waitForFinished(15000));
    QCOMPARE(agent.exitStatus(), QProcess::NormalExit);
    QCOMPARE(agent.exitCode(), 0);
    const QString log = QString::fromUtf8(agent.readAll());
    QVERIFY2(log.contains("SIGTERM received") && log.contains("stopped"), qPrintable(log));
  }

  void sigtermUnderLoadStillExitsZero() const {
    QTemporaryDir dir;
    const QString ready = dir.filePath("ready");
    QProcess agent;
    agent.start(GREYLANE_AGENT_BIN, {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen",
                                     "127.0.0.1:0", "--ready-file", ready});
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(ready), 15000);
    QProcess load;
    load.start(GREYLANE_LOAD_BIN, {"--target", WaitForReadyFile(ready)["data"], "--concurrency",
                                   "16", "--duration", "4", "--quiet"});
    QVERIFY(load.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(load.state() == QProcess::Running, 1000);
    QTest::qWait(800);  // let the load reach the agent before stopping it
    agent.terminate();
    QVERIFY(agent.waitForFinished(15000));
    QCOMPARE(agent.exitCode(), 0);
    QVERIFY(load.waitForFinished(20000));
  }

  void startupMistakesExplainThemselves_data() const {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("expected");
    QTest::newRow("plaintext on the network")
        << QStringList{"--demo", "--control-listen", "0.0.0.0:0"} << 2 << "--insecure";
    QTest::newRow("no mode") << QStringList{} << 2 << "--demo or --config";
    QTest::newRow("missing config")
        << QStringList{"--config", "/nonexistent/agent.yaml"} << 2 << "cannot read config file";
    QTest::newRow("missing models")
        << QStringList{"--demo",      "--models-dir",  "/nonexistent", "--control-listen",
                       "127.0.0.1:0", "--data-listen", "127.0.0.1:0"}
        << 1 << "cannot open model file";
    QTest::newRow("port in use") << QStringList{"--demo", "--control-listen", "127.0.0.1:HELD",
                                                "--data-listen", "127.0.0.1:0"}
                                 << 1 << "cannot listen on 127.0.0.1:";
  }
  void startupMistakesExplainThemselves() const {
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, expected);
    HeldPort held;
    args.replaceInStrings("HELD", QString::number(held.Port()));
    QProcess agent;
    agent.setProcessChannelMode(QProcess::MergedChannels);
    agent.start(GREYLANE_AGENT_BIN, args);
    QVERIFY(agent.waitForFinished(15000));
    const QString output = QString::fromUtf8(agent.readAll());
    QCOMPARE(agent.exitCode(), exitCode);
    QVERIFY2(output.contains(expected), qPrintable(output));
  }
};

QTEST_GUILESS_MAIN(TestAgentProcess)
#include "test_agent_process.moc"
