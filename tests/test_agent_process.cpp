// The real binaries as an operator runs them: greylane-agent --demo on free
// ports, greylane-load against it, SIGTERM drains and exits 0, and start-up
// mistakes end with a message and a non-zero exit.
#include <sched.h>
#include <sys/stat.h>

#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include <sqlite3.h>

#include <atomic>
#include <random>
#include <thread>

#include <grpcpp/create_channel.h>

#include "common/client_token.h"
#include "greylane/v1/agent.grpc.pb.h"
#include "support/agent_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/agent_test_support.h"

using greylane::test::DemoAgentProcess;

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

  static QString RunCli(const QStringList& args, int* exit_code) {
    QProcess cli;
    cli.setProcessChannelMode(QProcess::MergedChannels);
    cli.start(GREYLANE_AGENT_BIN, args);
    cli.waitForFinished(30000);
    *exit_code = cli.exitCode();
    return QString::fromUtf8(cli.readAll());
  }

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
    agent.start(GREYLANE_AGENT_BIN, {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen",
                                     "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--state-dir",
                                     dir.filePath("state"), "--ready-file", ready});
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

  // A demo given no state dir keeps its state in a folder of its own under
  // the temp folder, says so, and removes it when it stops.
  void aDemoWithoutAStateDirLeavesNothingBehind() const {
    QTemporaryDir tmp;
    const QString ready = tmp.filePath("ready");
    QProcess agent;
    agent.setProcessChannelMode(QProcess::MergedChannels);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("TMPDIR", tmp.path());
    agent.setProcessEnvironment(env);
    agent.start(GREYLANE_AGENT_BIN,
                {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0",
                 "--http-listen", "127.0.0.1:0", "--ready-file", ready});
    QVERIFY(agent.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(ready), 15000);
    WaitForReadyFile(ready);
    const QStringList made = QDir(tmp.path()).entryList({"greylane-agent.*"}, QDir::Dirs);
    QCOMPARE(made.size(), 1);
    QVERIFY(QFile::exists(tmp.filePath(made[0] + "/audit.db")));
    agent.terminate();
    QVERIFY(agent.waitForFinished(15000));
    QCOMPARE(agent.exitCode(), 0);
    const QString log = QString::fromUtf8(agent.readAll());
    QVERIFY2(log.contains("temporary: removed when the agent stops"), qPrintable(log));
    QVERIFY2(!QDir(tmp.filePath(made[0])).exists(), qPrintable(log));

    // Nor when it cannot start at all (here: a tokens file that is not there).
    QProcess failed;
    failed.setProcessEnvironment(env);
    failed.start(GREYLANE_AGENT_BIN, {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen",
                                      "127.0.0.1:0", "--tokens", tmp.filePath("no-such-tokens")});
    QVERIFY(failed.waitForFinished(15000));
    QCOMPARE(failed.exitCode(), 1);
    QCOMPARE(QDir(tmp.path()).entryList({"greylane-agent.*"}, QDir::Dirs).size(), 0);
  }

  // A pinned event loop is held to a CPU of its own, among those the process
  // may use, and the start-up lines say so; auto pins only when there are
  // no more CPUs than loops.
  void networkThreadsArePinnedAsAsked_data() const {
    QTest::addColumn<int>("threads");
    QTest::addColumn<QString>("pin");
    QTest::addColumn<bool>("pinned");
    cpu_set_t allowed;
    QCOMPARE(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    const int cpus = CPU_COUNT(&allowed);
    QTest::newRow("yes") << 2 << "yes" << (cpus > 1);
    if (cpus <= 8) QTest::newRow("auto, a loop per CPU") << cpus << "auto" << (cpus > 1);
    if (cpus > 1) QTest::newRow("auto, CPUs to spare") << 1 << "auto" << false;
    QTest::newRow("no") << 2 << "no" << false;
  }
  void networkThreadsArePinnedAsAsked() const {
    QFETCH(int, threads);
    QFETCH(QString, pin);
    QFETCH(bool, pinned);
    QTemporaryDir dir;
    const QString ready = dir.filePath("ready");
    QProcess agent;
    agent.setProcessChannelMode(QProcess::MergedChannels);
    agent.start(
        GREYLANE_AGENT_BIN,
        {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--state-dir", dir.filePath("state"), "--ready-file",
         ready, "--network-threads", QString::number(threads), "--pin-network-threads", pin});
    QVERIFY(agent.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(ready), 15000);
    cpu_set_t allowed;
    QCOMPARE(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
    QStringList cpus;  // each loop's Cpus_allowed_list
    const QString tasks = QString("/proc/%1/task").arg(agent.processId());
    for (const QString& tid : QDir(tasks).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
      QFile comm(tasks + "/" + tid + "/comm"), status(tasks + "/" + tid + "/status");
      if (!comm.open(QIODevice::ReadOnly) || !status.open(QIODevice::ReadOnly)) continue;
      if (!comm.readAll().startsWith("greylane-net-")) continue;
      for (const QByteArray& line : status.readAll().split('\n')) {
        if (line.startsWith("Cpus_allowed_list:")) cpus << QString(line.mid(18)).trimmed();
      }
    }
    agent.terminate();
    QVERIFY(agent.waitForFinished(15000));
    const QString log = QString::fromUtf8(agent.readAll());
    QCOMPARE(cpus.size(), threads);
    const QString says = QString("%1 network thread%2, ").arg(threads).arg(threads == 1 ? "" : "s");
    if (!pinned) {
      QVERIFY2(log.contains(says + "not pinned"), qPrintable(log));
      return;
    }
    QVERIFY2(log.contains(says + "pinned to CPU"), qPrintable(log));
    for (const QString& cpu : cpus) {
      bool number = false;
      QVERIFY2(CPU_ISSET(cpu.toInt(&number), &allowed) && number, qPrintable(cpus.join(' ')));
    }
    // No two loops share a CPU while there are CPUs enough.
    QVERIFY2(cpus.size() > CPU_COUNT(&allowed) || cpus.removeDuplicates() == 0,
             qPrintable(cpus.join(' ')));
  }

  void sigtermUnderLoadStillExitsZero() const {
    QTemporaryDir dir;
    const QString ready = dir.filePath("ready");
    QProcess agent;
    agent.start(GREYLANE_AGENT_BIN,
                {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0",
                 "--http-listen", "127.0.0.1:0", "--ready-file", ready});
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

  void killNineMidBurstNeverLosesOrInventsASplit() const {
    QTemporaryDir dir;
    const QString state_dir = dir.filePath("state");
    std::mt19937 rng(7);
    int restarts_checked = 0;
    int acknowledged = 0, in_flight_committed = 0;
    uint32_t acked_bp = 500;  // the demo's first split
    for (int round = 0; round < 12; ++round) {
      DemoAgentProcess agent(GREYLANE_AGENT_BIN, state_dir);
      QVERIFY2(agent.Start(), qPrintable(agent.Error()));
      const std::string token = agent.Token("operator").toStdString();
      auto stub = greylane::v1::Agent::NewStub(
          grpc::CreateChannel(agent.Control().toStdString(), grpc::InsecureChannelCredentials()));
      auto call = [&](auto method, const auto& request, greylane::v1::AgentState* out) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        context.AddMetadata("authorization", "Bearer " + token);
        return ((*stub).*method)(&context, request, out);
      };
      greylane::v1::AgentState state;
      QVERIFY(
          call(&greylane::v1::Agent::Stub::GetState, greylane::v1::GetStateRequest{}, &state).ok());
      // After a restart: exactly the last acknowledged split, or the one
      // in flight when the process died (committed, but never answered).
      if (round > 0) {
        ++restarts_checked;
        QVERIFY2(state.split().candidate_basis_points() == acked_bp ||
                     state.split().candidate_basis_points() == (acked_bp + 1) % 10000,
                 qPrintable(QString("restored %1 bp, last acknowledged %2")
                                .arg(state.split().candidate_basis_points())
                                .arg(acked_bp)));
        in_flight_committed += state.split().candidate_basis_points() != acked_bp;
      }
      acked_bp = state.split().candidate_basis_points();
      uint64_t revision = state.split().revision();

      std::atomic<bool> stop{false};
      std::thread burst([&] {
        while (!stop) {
          greylane::v1::SetSplitRequest request;
          request.set_candidate_basis_points(((acked_bp + 1) % 10000) % 10000);
          request.set_expected_revision(revision);
          request.set_reason("crash test");
          greylane::v1::AgentState after;
          if (!call(&greylane::v1::Agent::Stub::SetSplit, request, &after).ok()) break;
          acked_bp = after.split().candidate_basis_points();
          revision = after.split().revision();
          ++acknowledged;
        }
      });
      QTest::qWait(static_cast<int>(20 + rng() % 250));  // a different kill point each round
      agent.Kill();                                      // SIGKILL: no chance to clean up
      stop = true;
      burst.join();
    }
    QCOMPARE(restarts_checked, 11);
    qInfo(
        "kill -9 rounds: 12, SetSplit acknowledged: %d, restarts where the in-flight change "
        "had committed: %d",
        acknowledged, in_flight_committed);
    QVERIFY2(acknowledged > 24, "the burst should acknowledge changes before each kill");

    // The trail verifies offline, and exports.
    int code = 0;
    QString out = RunCli({"audit", "verify", "--state-dir", state_dir}, &code);
    QVERIFY2(code == 0 && out.contains("chain verified through #"), qPrintable(out));
    out = RunCli({"audit", "export", "--state-dir", state_dir, "--format", "jsonl"}, &code);
    QCOMPARE(code, 0);
    const int rows = out.count('\n');
    QVERIFY2(rows > 12, qPrintable(QString::number(rows)));
    QVERIFY(out.startsWith("{\"sequence\":1,"));
    out = RunCli({"audit", "export", "--state-dir", state_dir, "--format", "csv"}, &code);
    QVERIFY(out.startsWith("sequence,time_utc,actor,role,peer,action,outcome,reason"));
    QCOMPARE(out.count("\r\n"), rows + 1);
    // The export someone was sent verifies from the file alone, and to the
    // same head as the state dir.
    const QString head = RunCli({"audit", "verify", "--state-dir", state_dir}, &code)
                             .section(QStringLiteral("head "), 1)
                             .trimmed();
    for (const char* format : {"csv", "jsonl"}) {
      const QString file = dir.filePath(QStringLiteral("sent.%1").arg(format));
      QFile sent(file);
      QVERIFY(sent.open(QIODevice::WriteOnly));
      sent.write(RunCli({"audit", "export", "--state-dir", state_dir, "--format", format}, &code)
                     .toUtf8());
      sent.close();
      const QString verdict = RunCli({"audit", "verify", "--file", file}, &code);
      QVERIFY2(code == 0 && verdict.contains("chain verified through #") &&
                   verdict.contains("head " + head),
               qPrintable(verdict));
    }

    // Edited offline: the command names the row.
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open((state_dir + "/audit.db").toUtf8().constData(), &db), SQLITE_OK);
    QCOMPARE(sqlite3_exec(db, "UPDATE audit SET actor='someone-else' WHERE sequence=5", nullptr,
                          nullptr, nullptr),
             SQLITE_OK);
    sqlite3_close(db);
    out = RunCli({"audit", "verify", "--state-dir", state_dir}, &code);
    QCOMPARE(code, 1);
    QVERIFY2(out.contains("BROKEN at #5"), qPrintable(out));
    out = RunCli({"audit", "verify", "--state-dir", dir.filePath("nowhere")}, &code);
    QVERIFY(code != 0 && out.contains("no audit trail"));
  }

  void onCallRollsBackFromATerminal() const {
    QTemporaryDir dir;
    DemoAgentProcess agent(GREYLANE_AGENT_BIN, dir.filePath("state"));
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    const QStringList connect = {"--control", agent.Control(), "--token-file", agent.TokenFile()};
    auto ctl = [&](const QStringList& args, int* code) {
      QProcess p;
      p.start(GREYLANE_CTL_BIN, connect + args);
      p.waitForFinished(20000);
      *code = p.exitCode();
      return QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    };
    int code = -1;
    QString out = ctl({"split", "12.5", "--reason", "ramp"}, &code);
    QVERIFY2(code == 0 && out.contains("candidate 12.50 %"), qPrintable(out));
    out = ctl({"--as", "viewer", "rollback", "--reason", "not mine to do"}, &code);
    QVERIFY2(code == 1 && out.contains("PERMISSION_DENIED: role viewer may not rollback"),
             qPrintable(out));
    out = ctl({"rollback"}, &code);  // refused before it reaches the agent: a usage mistake
    QVERIFY2(code == 2 && out.contains("--reason is required"), qPrintable(out));
    out = ctl({"rollback", "--reason", "p99 +40 % on v2"}, &code);
    QVERIFY2(code == 0 && out.contains("phase ROLLED_BACK") && out.contains("candidate 0.00 %"),
             qPrintable(out));
    QVERIFY(out.contains("by demo-operator") && out.contains("in force"));
    out = ctl({"split", "150", "--reason", "x"}, &code);
    QCOMPARE(code, 2);
    out = ctl({"split", "0.001", "--reason", "x"}, &code);  // once 0 bp, silently
    QCOMPARE(code, 2);
    out = ctl({"audit", "--after", "-5"}, &code);
    QCOMPARE(code, 2);
    out = ctl({"verify"}, &code);
    QVERIFY2(code == 0 && out.contains("chain verified through #"), qPrintable(out));
    out = ctl({"audit"}, &code);
    QCOMPARE(code, 0);
    QVERIFY(out.contains("\"outcome\":\"denied\"") && out.contains("\"action\":\"rollback\""));

    // The review meeting's report of the same release, without a display.
    out = ctl({"report"}, &code);
    QVERIFY2(code == 0 && out.contains("# Release report: digits on") &&
                 out.contains("rolled back after") && out.contains("| p99 ms |") &&
                 out.contains("rollback by demo-operator (operator)") &&
                 out.contains("p99 +40 % on v2"),
             qPrintable(out));
    out = ctl({"report", "--format", "pdf", "--output", dir.filePath("report.pdf")}, &code);
    QVERIFY2(code == 0 && out.contains("wrote "), qPrintable(out));
    QFile pdf(dir.filePath("report.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.read(5) == "%PDF-");
    out =
        ctl({"report", "--format", "html", "--output", dir.filePath("nowhere/report.html")}, &code);
    QVERIFY2(code == 1 && out.contains("cannot write"), qPrintable(out));
    out = ctl({"report", "--release", "999"}, &code);
    QVERIFY2(code == 1 && out.contains("there is no row #999"), qPrintable(out));
    out = ctl({"report", "--output", "/dev/null"}, &code);  // never replaces a device
    QVERIFY2(code == 1 && out.contains("is not a regular file"), qPrintable(out));
    QVERIFY(!QFileInfo("/dev/null").isFile());
    QCOMPARE(agent.Stop(), 0);  // SIGTERM: drains and exits 0
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
    QTest::newRow("no tokens") << QStringList{"--config",
                                              GREYLANE_SOURCE_DIR "/tests/data/no-tokens.yaml"}
                               << 2 << "no tokens: give --tokens FILE";
    QTest::newRow("missing models")
        << QStringList{"--demo",           "--models-dir",  "/nonexistent",
                       "--control-listen", "127.0.0.1:0",   "--data-listen",
                       "127.0.0.1:0",      "--http-listen", "127.0.0.1:0"}
        << 1 << "cannot read the model file";
    QTest::newRow("port in use") << QStringList{"--demo",         "--control-listen",
                                                "127.0.0.1:HELD", "--data-listen",
                                                "127.0.0.1:0",    "--http-listen",
                                                "127.0.0.1:0"}
                                 << 1 << "cannot listen on 127.0.0.1:";
    QTest::newRow("unwritable ready file")
        << QStringList{"--demo",        "--control-listen", "127.0.0.1:0",
                       "--data-listen", "127.0.0.1:0",      "--http-listen",
                       "127.0.0.1:0",   "--ready-file",     "/nonexistent-dir/ready"}
        << 1 << "cannot write the ready file '/nonexistent-dir/ready.tmp'";
    QTest::newRow("duplicate key")
        << QStringList{"--config", GREYLANE_SOURCE_DIR "/tests/data/duplicate-keys.yaml"} << 2
        << "key 'probe_interval_ms' appears twice in the config (again at line 5)";
    QTest::newRow("huge interval")
        << QStringList{"--config", GREYLANE_SOURCE_DIR "/tests/data/huge-probe-interval.yaml"} << 2
        << "probe_interval_ms must be 100..3600000 ms, not 9000000000000000000";
    QTest::newRow("loopback look-alike")
        << QStringList{"--demo", "--control-listen", "127.0.0.1.nip.io:7070"} << 2
        << "refusing to serve the control plane";
    // A ready file is renamed into place: never over a device or the agent's own files.
    QTest::newRow("ready file is a device")
        << QStringList{"--demo",        "--control-listen", "127.0.0.1:0",
                       "--data-listen", "127.0.0.1:0",      "--http-listen",
                       "127.0.0.1:0",   "--ready-file",     "/dev/null"}
        << 1 << "exists and is not a regular file";
    QTest::newRow("ready file is the trail")
        << QStringList{"--demo",      "--control-listen", "127.0.0.1:0",   "--data-listen",
                       "127.0.0.1:0", "--http-listen",    "127.0.0.1:0",   "--state-dir",
                       "STATE",       "--ready-file",     "STATE/audit.db"}
        << 1 << "would replace the agent's own audit.db";
    QTest::newRow("ready file is a config")
        << QStringList{"--demo",        "--control-listen", "127.0.0.1:0",
                       "--data-listen", "127.0.0.1:0",      "--http-listen",
                       "127.0.0.1:0",   "--ready-file",     "STATE/precious.yaml"}
        << 1 << "exists and is not a ready file";
  }
  void startupMistakesExplainThemselves() const {
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, expected);
    HeldPort held;
    QTemporaryDir state;
    args.replaceInStrings("HELD", QString::number(held.Port()));
    args.replaceInStrings("STATE", state.path());
    const QString precious = state.filePath("precious.yaml");
    {
      QFile file(precious);
      QVERIFY(file.open(QIODevice::WriteOnly));
      file.write("model: digits\n");
    }
    QProcess agent;
    agent.setProcessChannelMode(QProcess::MergedChannels);
    agent.start(GREYLANE_AGENT_BIN, args);
    QVERIFY(agent.waitForFinished(15000));
    const QString output = QString::fromUtf8(agent.readAll());
    QCOMPARE(agent.exitCode(), exitCode);
    QVERIFY2(output.contains(expected), qPrintable(output));
    QVERIFY(QFileInfo("/dev/null").isFile() == false);  // still the device
    QFile file(precious);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("model: digits\n"));  // never replaced
  }

  // A FIFO planted as agent.lock once blocked the start for good.
  void aFifoAsTheLockFileIsReplaced() const {
    QTemporaryDir dir;
    QVERIFY(QDir(dir.path()).mkdir("state"));
    const QString lock = dir.filePath("state/agent.lock");
    QCOMPARE(::mkfifo(lock.toLocal8Bit().constData(), 0600), 0);
    DemoAgentProcess agent(GREYLANE_AGENT_BIN, dir.filePath("state"));
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    QVERIFY(QFileInfo(lock).isFile());
    QFile file(lock);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll().startsWith("pid "));
    QCOMPARE(agent.Stop(), 0);
  }

  // Fault 5: a second agent on the same state dir exits naming the first.
  void secondAgentOnOneStateDirExits() const {
    QTemporaryDir dir;
    DemoAgentProcess first(GREYLANE_AGENT_BIN, dir.filePath("state"));
    QVERIFY2(first.Start(), qPrintable(first.Error()));
    QProcess second;
    second.setProcessChannelMode(QProcess::MergedChannels);
    second.start(GREYLANE_AGENT_BIN,
                 {"--demo", "--control-listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0",
                  "--http-listen", "127.0.0.1:0", "--state-dir", dir.filePath("state")});
    QVERIFY(second.waitForFinished(15000));
    const QString output = QString::fromUtf8(second.readAll());
    QCOMPARE(second.exitCode(), 1);
    QVERIFY2(output.contains(QString("in use by another greylane-agent (pid %1 ").arg(first.Pid())),
             qPrintable(output));
    QVERIFY(output.contains("control " + first.Control()));
    QCOMPARE(first.Stop(), 0);
  }

  // Fault 10: a named credential file that cannot be read is an error,
  // never a quiet fall back to the system's roots or to plaintext.
  void unreadableCredentialsAreErrors_data() const {
    QTest::addColumn<QString>("binary");
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected");
    QTest::newRow("ctl missing CA")
        << GREYLANE_CTL_BIN << QStringList{"--ca", "/nonexistent/ca.pem", "state"}
        << "cannot read the CA file '/nonexistent/ca.pem': No such file";
    QTest::newRow("ctl CA is a folder")
        << GREYLANE_CTL_BIN << QStringList{"--ca", "/tmp", "state"} << "not a regular file";
    QTest::newRow("ctl CA not PEM")
        << GREYLANE_CTL_BIN << QStringList{"--ca", GREYLANE_SOURCE_DIR "/README.md", "state"}
        << "holds no PEM block";
    QTest::newRow("ctl cert without key")
        << GREYLANE_CTL_BIN << QStringList{"--tls", "--cert", "/nonexistent/c.pem", "state"}
        << "both a client certificate and its key";
    QTest::newRow("watch missing CA")
        << GREYLANE_WATCH_BIN << QStringList{"--ca", "/nonexistent/ca.pem"}
        << "cannot read the CA file";
    // A token in plaintext goes to loopback only, unless --insecure says so.
    QTest::newRow("ctl plaintext off loopback")
        << GREYLANE_CTL_BIN << QStringList{"--control", "10.0.0.1:7070", "state"}
        << "refusing to send a token in plaintext to '10.0.0.1:7070'";
    QTest::newRow("watch plaintext off loopback")
        << GREYLANE_WATCH_BIN << QStringList{"--control", "192.168.1.9:7070"}
        << "refusing to send a token in plaintext";
    QTest::newRow("ctl unknown role")
        << GREYLANE_CTL_BIN << QStringList{"--as", "admn", "state"} << "admn not in";
  }
  void unreadableCredentialsAreErrors() const {
    QFETCH(QString, binary);
    QFETCH(QStringList, args);
    QFETCH(QString, expected);
    QTemporaryFile token;
    QVERIFY(token.open());
    token.write("glt_some_token_value_1234\n");
    token.flush();
    QProcess tool;
    tool.setProcessChannelMode(QProcess::MergedChannels);
    tool.start(binary, QStringList{"--token-file", token.fileName()} + args);
    QVERIFY(tool.waitForFinished(15000));
    const QString output = QString::fromUtf8(tool.readAll());
    QCOMPARE(tool.exitCode(), 2);
    QVERIFY2(output.contains(expected), qPrintable(output));
  }

  // Fault 7: what an older agent stored (escape sequences, a NUL, formula
  // starts) reaches terminals and spreadsheets escaped.
  void hostileStoredTextIsEscapedForEachMedium() const {
    QTemporaryDir dir;
    const QString state = dir.filePath("state");
    DemoAgentProcess agent(GREYLANE_AGENT_BIN, state);
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    QCOMPARE(agent.Stop(), 0);
    const std::string db = (state + "/audit.db").toStdString();
    greylane::AuditRecord row;
    row.actor = "=cmd|' /C calc'!A0";
    row.role = "operator";
    row.peer = "ipv4:127.0.0.1:9";
    row.action = "set_split";
    row.outcome = "rejected";
    row.reason = std::string("merge\0rows", 10) +
                 " \x1b]0;pwned\x07\x1b[2J\xc2\x9b"
                 "31m";
    row.evidence = "+1";
    greylane::test::AppendAuditRow(db, row);
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));

    auto run = [](const QString& binary, const QStringList& args) {
      QProcess p;
      p.start(binary, args);
      p.waitForFinished(20000);
      return p.readAllStandardOutput();
    };
    const QByteArray ctl = run(GREYLANE_CTL_BIN, {"--control", agent.Control(), "--token-file",
                                                  agent.TokenFile(), "audit"});
    QVERIFY(ctl.contains("=cmd"));
    QVERIFY2(!ctl.contains('\x1b') && !ctl.contains('\0') && !ctl.contains("\xc2\x9b"),
             ctl.constData());
    QVERIFY(ctl.contains("\\u001b"));
    QVERIFY(agent.Stop() == 0);
    const QByteArray csv =
        run(GREYLANE_AGENT_BIN, {"audit", "export", "--state-dir", state, "--format", "csv"});
    QVERIFY2(csv.contains(",\"'=cmd|' /C calc'!A0\",") || csv.contains(",'=cmd|' /C calc'!A0,"),
             csv.constData());
    QVERIFY(csv.contains(",'+1,"));
    QVERIFY(!csv.contains('\0'));
    QVERIFY(csv.contains("merge\\x00rows"));
    const QByteArray verify = run(GREYLANE_AGENT_BIN, {"audit", "verify", "--state-dir", state});
    QVERIFY2(verify.contains("chain verified"), verify.constData());
  }

  // Fault 9: `audit verify/export` made -wal/-shm files, and called a good
  // database in a read-only folder "not a Greylane audit database".
  void offlineAuditReadsWithoutWriting() const {
    QTemporaryDir dir;
    const QString state = dir.filePath("state");
    DemoAgentProcess agent(GREYLANE_AGENT_BIN, state);
    QVERIFY2(agent.Start(), qPrintable(agent.Error()));
    QCOMPARE(agent.Stop(), 0);
    QVERIFY(!QFile::exists(state + "/audit.db-wal"));
    auto run = [](const QStringList& args, int* code) {
      QProcess p;
      p.setProcessChannelMode(QProcess::MergedChannels);
      p.start(GREYLANE_AGENT_BIN, args);
      p.waitForFinished(20000);
      *code = p.exitCode();
      return QString::fromUtf8(p.readAll());
    };
    int code = -1;
    QString out = run({"audit", "verify", "--state-dir", state}, &code);
    QVERIFY2(code == 0 && out.contains("chain verified"), qPrintable(out));
    QVERIFY(!QFile::exists(state + "/audit.db-wal") && !QFile::exists(state + "/audit.db-shm"));
    if (::geteuid() != 0) {
      QSKIP("the read-only folder case needs root to mount a read-only tmpfs");
    }
    const QString ro = dir.filePath("ro");
    QVERIFY(QDir().mkpath(ro));
    if (::mount("tmpfs", ro.toLocal8Bit().constData(), "tmpfs", 0, "size=4m") != 0) {
      QSKIP("cannot mount a tmpfs here");
    }
    const bool copied = QFile::copy(state + "/audit.db", ro + "/audit.db");
    const int remounted =
        ::mount("tmpfs", ro.toLocal8Bit().constData(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=4m");
    out = run({"audit", "verify", "--state-dir", ro}, &code);
    const QString exported =
        run({"audit", "export", "--state-dir", ro, "--format", "jsonl"}, &code);
    ::umount2(ro.toLocal8Bit().constData(), MNT_DETACH);
    QVERIFY(copied && remounted == 0);
    QVERIFY2(out.contains("chain verified"), qPrintable(out));
    QVERIFY2(exported.contains("\"action\":\"initialize\""), qPrintable(exported));
  }
};

QTEST_GUILESS_MAIN(TestAgentProcess)
#include "test_agent_process.moc"
