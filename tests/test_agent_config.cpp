// Config and flags: what a real deployment writes is read right, and every
// mistake is refused with a message that says what to fix.
#include <QtTest>

#include "agent/backends/version_spec.h"
#include "agent/server/agent_config.h"

using namespace greylane;

namespace {
const char kGood[] = R"(
agent_id: gpu-node-7
model: digits
control_listen: 127.0.0.1:7070
data_listen: 127.0.0.1:8001
sticky_header: X-Tenant-Id
initial_candidate_basis_points: 250
probe_interval_ms: 500
baseline:
  version: v1
  backend: builtin
  model_file: models/digits-v1.glm
candidate:
  version: v2
  backend: oip-grpc
  address: 127.0.0.1:9001
  upstream_model: digits
  upstream_version: "3"
  deadline_ms: 250
  connections: 4
)";
}  // namespace

class TestAgentConfig final : public QObject {
  Q_OBJECT

 private slots:
  void readsAFullConfig() const {
    std::string error;
    const auto config = ParseConfigYaml(kGood, "/etc/greylane", &error);
    QVERIFY2(config, error.c_str());
    QCOMPARE(config->agent_id, std::string("gpu-node-7"));
    QCOMPARE(config->sticky_header, std::string("x-tenant-id"));  // gRPC keys are lower-case
    QCOMPARE(config->initial_candidate_basis_points, 250u);
    QCOMPARE(config->probe_interval.count(), 500);
    QCOMPARE(config->baseline.model_file, std::string("/etc/greylane/models/digits-v1.glm"));
    QCOMPARE(config->candidate.upstream.address, std::string("127.0.0.1:9001"));
    QCOMPARE(config->candidate.upstream.version, std::string("3"));
    QCOMPARE(config->candidate.upstream.deadline.count(), 250);
    QCOMPARE(config->candidate.upstream.connections, 4);
    QCOMPARE(config->network_threads, 0);  // one per core
    QVERIFY(config->pin_network_threads == CpuPinning::kAuto);
    const auto tuned =
        ParseConfigYaml(std::string(kGood) + "network_threads: 3\npin_network_threads: true\n",
                        "/etc/greylane", &error);
    QVERIFY2(tuned, error.c_str());
    QCOMPARE(tuned->network_threads, 3);
    QVERIFY(tuned->pin_network_threads == CpuPinning::kOn);
    QCOMPARE(config->candidate.ready_timeout.count(), 600000);  // ten minutes to load
    QCOMPARE(config->http_request_timeout.count(), 10000);
    QCOMPARE(config->http_idle_timeout.count(), 75000);
    QCOMPARE(config->http_write_timeout.count(), 30000);
    const auto http = ParseConfigYaml(std::string(kGood) +
                                          "http_request_timeout_ms: 2500\nhttp_idle_timeout_ms: "
                                          "600000\nhttp_write_timeout_ms: 5000\n",
                                      "/etc/greylane", &error);
    QVERIFY2(http, error.c_str());
    QCOMPARE(http->http_request_timeout.count(), 2500);
    QCOMPARE(http->http_idle_timeout.count(), 600000);
    QCOMPARE(http->http_write_timeout.count(), 5000);
    const auto supervised = ParseConfigYaml(
        QString(kGood)
            .replace("connections: 4",
                     "connections: 4\n  command: exec serve\n  health_url: http://127.0.0.1:1/h\n"
                     "  ready_timeout_ms: 120000")
            .toStdString(),
        "/etc/greylane", &error);
    QVERIFY2(supervised, error.c_str());
    QCOMPARE(supervised->candidate.ready_timeout.count(), 120000);
    v1::VersionSpec wire;  // as the release state keeps it
    VersionSpecToProto(supervised->candidate, &wire);
    QCOMPARE(VersionSpecFromProto(wire).ready_timeout.count(), 120000);
  }

  void shippedExampleParses() const {
    std::string error;
    const auto cl =
        ParseCommandLine({"--config", GREYLANE_SOURCE_DIR "/packaging/agent.example.yaml"}, &error);
    QVERIFY2(cl, error.c_str());
    QCOMPARE(cl->config.candidate.backend, std::string("oip-grpc"));
    QVERIFY(QFile::exists(QString::fromStdString(cl->config.baseline.model_file)));
    QCOMPARE(cl->config.analysis.armed, true);
    QCOMPARE(cl->config.analysis.p99_ceiling_ms, 800.0);
    QCOMPARE(cl->config.analysis.breaker_failures, 5);
    QCOMPARE(cl->config.analysis.breaker_cooldown_seconds, 30);
  }

  void mistakesAreNamed_data() const {
    QTest::addColumn<QString>("yaml");
    QTest::addColumn<QString>("expected");
    const QString good = kGood;
    QTest::newRow("typo in a key")
        << QString(good).replace("sticky_header", "sticky_haeder") << "unknown key 'sticky_haeder'";
    QTest::newRow("not yaml") << "baseline: ["
                              << "not valid YAML";
    QTest::newRow("wrong type")
        << QString(good).replace("deadline_ms: 250", "deadline_ms: soon")
        << "'candidate.deadline_ms' at line 19 must be a whole number, not 'soon'";
    QTest::newRow("too many digits")
        << QString(good).replace("deadline_ms: 250", "deadline_ms: 99999999999999999999")
        << "'candidate.deadline_ms' at line 19 is out of range: '99999999999999999999'";
    QTest::newRow("a list for a number")
        << QString(good).replace("deadline_ms: 250", "deadline_ms: [1]")
        << "'candidate.deadline_ms' at line 19 must be a whole number, not a list or a map";
    QTest::newRow("bad backend") << QString(good).replace("backend: builtin", "backend: onnx")
                                 << "must be 'builtin', 'oip-grpc', 'builtin-lm' or 'openai-http'";
    QTest::newRow("no address") << QString(good).replace("address: 127.0.0.1:9001", "")
                                << "needs an address";
    QTest::newRow("same versions")
        << QString(good).replace("version: v2", "version: v1") << "different versions";
    QTest::newRow("no candidate") << QString(good).left(good.indexOf("candidate:"))
                                  << "'candidate' must be a map";
    QTest::newRow("duplicate key")
        << QString(good).replace("agent_id: gpu-node-7\n", "agent_id: gpu-node-7\nmodel: other\n")
        << "key 'model' appears twice in the config (again at line 4)";
    QTest::newRow("duplicate key in a version")
        << QString(good).replace("deadline_ms: 250", "deadline_ms: 250\n  deadline_ms: 9")
        << "key 'deadline_ms' appears twice in 'candidate'";
    QTest::newRow("huge probe interval")
        << QString(good).replace("probe_interval_ms: 500", "probe_interval_ms: 9223372036854775807")
        << "probe_interval_ms must be 100..3600000 ms, not 9223372036854775807";
    QTest::newRow("tiny probe interval")
        << QString(good).replace("probe_interval_ms: 500", "probe_interval_ms: 0") << "not 0";
    QTest::newRow("connections unbounded")
        << QString(good).replace("connections: 4", "connections: 100000")
        << "'candidate.connections' must be 1..64, not 100000";
    QTest::newRow("deadline unbounded")
        << QString(good).replace("deadline_ms: 250", "deadline_ms: 99999999999")
        << "'candidate.deadline_ms' must be 1..600000";
    QTest::newRow("version with an escape")
        << QString(good).replace("version: v2", "version: \"v2\\e[31m\"") << "may only hold";
    QTest::newRow("analysis: a ratio below 1") << good + "analysis:\n  latency_ratio: 0.8\n"
                                               << "analysis: latency_ratio must be above 1";
    QTest::newRow("analysis: unknown field") << good + "analysis:\n  armd: true\n"
                                             << "unknown key 'armd' in analysis";
    QTest::newRow("analysis: warning above ceiling")
        << good + "analysis:\n  p99_warning_ms: 900\n  p99_ceiling_ms: 800\n"
        << "p99_warning_ms must not be above p99_ceiling_ms";
    QTest::newRow("analysis: a cool-down of 0")
        << good + "analysis:\n  breaker_cooldown_seconds: 0\n"
        << "analysis: breaker_cooldown_seconds must be 1 to 3600";
    QTest::newRow("analysis: a negative rate limit")
        << good + "analysis:\n  candidate_rate_limit: -5\n"
        << "candidate_rate_limit and baseline_rate_limit must be 0 (none)";
    QTest::newRow("analysis: not a map") << good + "analysis: on\n"
                                         << "'analysis' must be a map";
    QTest::newRow("pinning neither auto nor a boolean")
        << good + "pin_network_threads: sometimes\n"
        << "pin_network_threads must be auto, true or false, not 'sometimes'";
    const QString supervised =
        "connections: 4\n  command: exec serve\n  health_url: http://127.0.0.1:1/h";
    QTest::newRow("ready timeout without a command")
        << QString(good).replace("connections: 4", "connections: 4\n  ready_timeout_ms: 5000")
        << "'candidate.ready_timeout_ms' is for a version the agent runs: give command too";
    QTest::newRow("ready timeout too short")
        << QString(good).replace("connections: 4", supervised + "\n  ready_timeout_ms: 10")
        << "ready_timeout_ms' must be 1000..3600000, not 10";
    QTest::newRow("ready timeout negative")
        << QString(good).replace("connections: 4", supervised + "\n  ready_timeout_ms: -5")
        << "ready_timeout_ms' must be 1000..3600000, not -5";
    QTest::newRow("HTTP request timeout of 0")
        << good + "http_request_timeout_ms: 0\n"
        << "http_request_timeout_ms must be 100..600000 ms, not 0";
    QTest::newRow("HTTP idle timeout of a year") << good + "http_idle_timeout_ms: 31536000000\n"
                                                 << "http_idle_timeout_ms must be 100..3600000 ms";
    QTest::newRow("HTTP write timeout not a number") << good + "http_write_timeout_ms: soon\n"
                                                     << "http_write_timeout_ms";
    QTest::newRow("negative split") << QString(good).replace("initial_candidate_basis_points: 250",
                                                             "initial_candidate_basis_points: -1")
                                    << "0..10000, not -1";
  }
  void mistakesAreNamed() const {
    QFETCH(QString, yaml);
    QFETCH(QString, expected);
    std::string error;
    QVERIFY(!ParseConfigYaml(yaml.toStdString(), "", &error));
    QVERIFY2(QString::fromStdString(error).contains(expected), error.c_str());
  }

  void plaintextOffLoopbackIsRefused() const {
    std::string error;
    QVERIFY(!ParseCommandLine({"--demo", "--control-listen", "0.0.0.0:7070"}, &error));
    QVERIFY2(QString::fromStdString(error).contains("refusing to serve the control plane"),
             error.c_str());
    QVERIFY(QString::fromStdString(error).contains("--insecure"));
    QVERIFY(!ParseCommandLine({"--demo", "--data-listen", "10.1.2.3:8001"}, &error));
    QVERIFY(QString::fromStdString(error).contains("--data-tls-cert"));
    QVERIFY(ParseCommandLine({"--demo", "--control-listen", "0.0.0.0:7070", "--insecure"}, &error));
    QVERIFY(ParseCommandLine({"--demo", "--data-listen", "[::1]:0"}, &error));
    QVERIFY(ParseCommandLine(
        {"--demo", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--control-listen", "0.0.0.0:7070"},
        &error));
  }

  void loopbackDetection_data() const {
    QTest::addColumn<QString>("address");
    QTest::addColumn<bool>("loopback");
    QTest::newRow("127.0.0.1") << "127.0.0.1:7070" << true;
    QTest::newRow("127.8.9.1") << "127.8.9.1:1" << true;
    QTest::newRow("localhost") << "localhost:0" << true;
    QTest::newRow("[::1]") << "[::1]:7070" << true;
    QTest::newRow("any") << "0.0.0.0:7070" << false;
    QTest::newRow("[::]") << "[::]:7070" << false;
    QTest::newRow("lan") << "192.168.1.4:7070" << false;
    QTest::newRow("no port") << "127.0.0.1" << false;
    QTest::newRow("a name that starts like loopback") << "127.0.0.1.nip.io:7070" << false;
    QTest::newRow("localhost.example.com") << "localhost.example.com:1" << false;
    QTest::newRow("127.1 shorthand") << "127.1:7070" << false;
    QTest::newRow("v4-mapped any") << "[::ffff:0.0.0.0]:1" << false;
  }
  void loopbackDetection() const {
    QFETCH(QString, address);
    QFETCH(bool, loopback);
    QCOMPARE(IsLoopbackAddress(address.toStdString()), loopback);
  }

  void flagMistakes() const {
    std::string error;
    QVERIFY(!ParseCommandLine({}, &error));
    QVERIFY(QString::fromStdString(error).contains("--demo or --config"));
    QVERIFY(!ParseCommandLine({"--demo", "--frobnicate"}, &error));
    QVERIFY(QString::fromStdString(error).contains("unknown flag '--frobnicate'"));
    QVERIFY(!ParseCommandLine({"--demo", "--state-dir"}, &error));
    QVERIFY(QString::fromStdString(error).contains("needs a value"));
    QVERIFY(!ParseCommandLine({"--config", "/nonexistent.yaml"}, &error));
    QVERIFY(QString::fromStdString(error).contains("cannot read config file"));
    QVERIFY(!ParseCommandLine({"--demo", "--tls-cert", "c.pem"}, &error));
    QVERIFY(QString::fromStdString(error).contains("both a TLS certificate and key"));
    // Every flag --help lists as taking a value takes one.
    const auto valued =
        ParseCommandLine({"--demo", "--tokens", "/etc/greylane/tokens", "--tls-cert", "c.pem",
                          "--tls-key", "k.pem", "--tls-client-ca", "ca.pem", "--data-tls-cert",
                          "d.pem", "--data-tls-key", "dk.pem", "--data-tls-client-ca", "dca.pem"},
                         &error);
    QVERIFY2(valued, error.c_str());
    QCOMPARE(valued->config.tokens_file, std::string("/etc/greylane/tokens"));
    QCOMPARE(valued->config.client_ca, std::string("ca.pem"));
    QCOMPARE(valued->config.data_client_ca, std::string("dca.pem"));
    const auto cl = ParseCommandLine({"--demo", "--control-listen=127.0.0.1:9"}, &error);
    QVERIFY2(cl, error.c_str());
    QCOMPARE(cl->config.control_listen, std::string("127.0.0.1:9"));
    QCOMPARE(cl->config.initial_candidate_basis_points, 500u);
    const auto pinned = ParseCommandLine(
        {"--demo", "--network-threads", "4", "--pin-network-threads", "no"}, &error);
    QVERIFY2(pinned, error.c_str());
    QCOMPARE(pinned->config.network_threads, 4);
    QVERIFY(pinned->config.pin_network_threads == CpuPinning::kOff);
    QVERIFY(!ParseCommandLine({"--demo", "--pin-network-threads", "always"}, &error));
    QVERIFY2(QString::fromStdString(error).contains("takes auto, yes or no, not 'always'"),
             error.c_str());
    QVERIFY(!ParseCommandLine({"--demo", "--network-threads", "65"}, &error));
    QVERIFY2(QString::fromStdString(error).contains("network_threads must be 1..64"),
             error.c_str());
    QVERIFY(!ParseCommandLine({"--demo", "--network-threads", "two"}, &error));
    QVERIFY2(QString::fromStdString(error).contains("takes a count, not 'two'"), error.c_str());
  }
};

QTEST_GUILESS_MAIN(TestAgentConfig)
#include "test_agent_config.moc"
