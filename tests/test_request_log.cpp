// The request log (one JSON line per data-plane request) and TLS on the HTTP
// plane: rotation keeps a bounded number of files and loses no line it
// counts, sampling spares failures, a full disk drops and counts lines
// without harm; on real agents every protocol's requests are logged with
// their version, the user and input hashed, and the official OpenAI client
// streams over HTTPS.
#include <QtTest>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>

#include "agent/backends/oip_rest_json.h"
#include "agent/server/request_log.h"
#include "support/agent_test_support.h"
#include "support/http_test_client.h"
#include "support/test_certificates.h"

using namespace greylane;
using namespace greylane::test;
namespace fs = std::filesystem;

namespace {

std::vector<boost::json::object> ReadLines(const std::string& path) {
  std::vector<boost::json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) {
      out.push_back(boost::json::object{{"unparsed", line}});
      continue;
    }
    out.push_back(v.as_object());
  }
  return out;
}

RequestLogEntry Entry(std::string_view outcome, std::string_view id) {
  RequestLogEntry e;
  e.protocol = "openai";
  e.route = "/v1/chat/completions";
  e.request_id = id;
  e.version = "v1";
  e.slot = "baseline";
  e.user_key = "alice";
  e.status = outcome == "ok" ? 200 : 502;
  e.outcome = outcome;
  e.latency_ms = 12.5;
  return e;
}

std::string Text(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

class TestRequestLog final : public QObject {
  Q_OBJECT

 private slots:
  void rotationKeepsBoundedFilesAndEveryLine() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("requests.jsonl").toStdString();
    uint64_t written = 0;
    {
      auto log = RequestLog::Open({path, 1.0, 4096, 3, dir.path().toStdString()});
      QVERIFY2(log.ok(), std::string(log.status().message()).c_str());
      for (int i = 0; i < 400; ++i) {
        (*log)->Write(Entry("ok", "r" + std::to_string(i)));
        // Small batches, so the writer rotates between them.
        if (i % 20 == 19) QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t(i + 1), 5000);
      }
      QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t{400}, 5000);
      written = (*log)->Lines();
      QCOMPARE((*log)->Dropped(), uint64_t{0});
    }
    QCOMPARE(written, uint64_t{400});
    QVERIFY(fs::exists(path + ".1"));
    QVERIFY(fs::exists(path + ".3"));
    QVERIFY(!fs::exists(path + ".4"));  // keep = 3
    // The newest lines are in the current file, the last one last; every
    // kept line parses and no kept file is far past the bound.
    std::vector<boost::json::object> current = ReadLines(path);
    QVERIFY(!current.empty());
    QCOMPARE(Text(current.back(), "request_id"), std::string("r399"));
    for (const std::string& file : {path, path + ".1", path + ".2", path + ".3"}) {
      QVERIFY(fs::file_size(file) <= 4096 + (256u << 10));
      for (const auto& line : ReadLines(file)) {
        QVERIFY2(!line.contains("unparsed"), Text(line, "unparsed").c_str());
        QCOMPARE(Text(line, "version"), std::string("v1"));
      }
    }
    // Rotated files hold older lines than the current one.
    const auto older = ReadLines(path + ".1");
    QVERIFY(!older.empty());
    QVERIFY(std::stoi(Text(older.back(), "request_id").substr(1)) <
            std::stoi(Text(current.front(), "request_id").substr(1)));
  }

  void linesSayWhatAPersonNeedsAndHideWhoAsked() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("r.jsonl").toStdString();
    auto log = RequestLog::Open({path, 1.0, 1u << 20, 2, dir.path().toStdString()});
    QVERIFY(log.ok());
    RequestLogEntry e = Entry("server_error", "id-\"1\"\n");
    e.ttft_ms = 40.25;
    e.prompt_tokens = 3;
    e.completion_tokens = 9;
    e.finish_reason = "length";
    e.error = "version 'v2' failed: \x1b[31mboom";
    e.input_hash = InputHash("[{\"role\":\"user\",\"content\":\"hi\"}]");
    (*log)->Write(e);
    QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t{1}, 5000);
    const auto lines = ReadLines(path);
    QCOMPARE(lines.size(), size_t{1});
    const auto& l = lines[0];
    QCOMPARE(Text(l, "request_id"), std::string("id-\"1\"\n"));
    QCOMPARE(Text(l, "outcome"), std::string("server_error"));
    QCOMPARE(l.at("status").as_int64(), int64_t{502});
    QCOMPARE(l.at("ttft_ms").to_number<double>(), 40.25);
    QCOMPARE(l.at("completion_tokens").as_int64(), int64_t{9});
    QCOMPARE(Text(l, "input_sha256").size(), size_t{16});
    QVERIFY(Text(l, "ts").size() == 24 && Text(l, "ts").back() == 'Z');
    // The user is an HMAC, not the name; the key stays in the state dir.
    QCOMPARE(Text(l, "user").size(), size_t{16});
    QVERIFY(Text(l, "user") != "alice");
    const std::string key = dir.filePath("request-log.key").toStdString();
    QVERIFY(fs::exists(key));
    QCOMPARE(fs::status(dir.filePath("request-log.key").toStdString()).permissions() &
                 (fs::perms::group_all | fs::perms::others_all),
             fs::perms::none);
    // Control characters are escaped: a terminal tailing the log is safe.
    std::ifstream raw(path);
    const std::string text((std::istreambuf_iterator<char>(raw)), {});
    QVERIFY(text.find('\x1b') == std::string::npos);

    // The same key after a restart: one user's lines still join up.
    const std::string user = Text(l, "user");
    log->reset();
    auto again = RequestLog::Open({path, 1.0, 1u << 20, 2, dir.path().toStdString()});
    QVERIFY(again.ok());
    (*again)->Write(Entry("ok", "second"));
    QTRY_COMPARE_WITH_TIMEOUT((*again)->Lines(), uint64_t{1}, 5000);
    QCOMPARE(Text(ReadLines(path).back(), "user"), user);
    // A key others can read is refused: with it, hashes of likely user ids
    // could be computed and matched.
    again->reset();
    fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
    auto loose = RequestLog::Open({path, 1.0, 1u << 20, 2, dir.path().toStdString()});
    QVERIFY(!loose.ok());
    QVERIFY(std::string(loose.status().message()).find("chmod 600") != std::string::npos);
  }

  void samplingSparesFailures() {
    QTemporaryDir dir;
    auto log = RequestLog::Open({dir.filePath("r").toStdString(), 0.0, 1u << 20, 1, {}});
    QVERIFY(log.ok());
    int wanted_ok = 0, wanted_failed = 0;
    for (int i = 0; i < 1000; ++i) {
      wanted_ok += (*log)->Wanted(true);
      wanted_failed += (*log)->Wanted(false);
    }
    QCOMPARE(wanted_ok, 0);
    QCOMPARE(wanted_failed, 1000);
    auto tenth = RequestLog::Open({dir.filePath("s").toStdString(), 0.1, 1u << 20, 1, {}});
    QVERIFY(tenth.ok());
    int sampled = 0;
    for (int i = 0; i < 20000; ++i) sampled += (*tenth)->Wanted(true);
    QVERIFY2(sampled > 1600 && sampled < 2400, std::to_string(sampled).c_str());
    QVERIFY(!RequestLog::Open({dir.filePath("t").toStdString(), 1.5, 1u << 20, 1, {}}).ok());
  }

  void aFullDiskDropsAndCountsLines() {
    if (!fs::exists("/dev/full")) QSKIP("no /dev/full");
    QTemporaryDir dir;
    auto log = RequestLog::Open({"/dev/full", 1.0, 0, 0, dir.path().toStdString()});
    QVERIFY(log.ok());
    for (int i = 0; i < 50; ++i) (*log)->Write(Entry("ok", "x"));
    QTRY_COMPARE_WITH_TIMEOUT((*log)->Dropped(), uint64_t{50}, 5000);
    QCOMPARE((*log)->Lines(), uint64_t{0});
    // An unopenable path is refused at start, with the reason.
    auto bad = RequestLog::Open({dir.filePath("no/such/dir/r").toStdString(), 1.0, 1, 1, {}});
    QVERIFY(!bad.ok());
    QVERIFY(std::string(bad.status().message()).find("No such file") != std::string::npos);
  }

  // A FIFO: refused without a reader; a reader that stalls costs bounded
  // waits and counted drops, and shutdown does not wait on it; a reader
  // that leaves fails writes (no SIGPIPE death: servers ignore it).
  void aStalledOrVanishedReaderNeverHoldsTheLog() {
    std::signal(SIGPIPE, SIG_IGN);  // as ApplyServerProcessTuning does for the agent
    QTemporaryDir dir;
    const std::string fifo = dir.filePath("fifo").toStdString();
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    auto none = RequestLog::Open({fifo, 1.0, 1u << 20, 1, dir.path().toStdString()});
    QVERIFY(!none.ok());
    QVERIFY2(std::string(none.status().message()).find("no reader") != std::string::npos,
             std::string(none.status().message()).c_str());

    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    QVERIFY(reader >= 0);
    auto log = RequestLog::Open({fifo, 1.0, 1u << 20, 1, dir.path().toStdString()});
    QVERIFY2(log.ok(), std::string(log.status().message()).c_str());
    for (int i = 0; i < 3000; ++i) (*log)->Write(Entry("ok", "stalled-" + std::to_string(i)));
    // The pipe holds 64 KiB; the rest waits a bounded time and is dropped.
    QTRY_VERIFY_WITH_TIMEOUT((*log)->Dropped() > 0, 10000);
    const auto stop = Clock::now();
    log->reset();
    QVERIFY(Clock::now() - stop < std::chrono::seconds(3));

    auto again = RequestLog::Open({fifo, 1.0, 1u << 20, 1, dir.path().toStdString()});
    QVERIFY(again.ok());
    ::close(reader);  // the reader leaves
    for (int i = 0; i < 10; ++i) (*again)->Write(Entry("ok", "gone"));
    QTRY_COMPARE_WITH_TIMEOUT((*again)->Dropped(), uint64_t{10}, 5000);
  }

  // A log file deleted under the agent (or moved by logrotate, then SIGHUP)
  // is started again at its path: no line goes where nobody can read it.
  void aDeletedOrRotatedFileIsStartedAgain() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("r.jsonl").toStdString();
    auto log = RequestLog::Open({path, 1.0, 1u << 20, 1, dir.path().toStdString()});
    QVERIFY(log.ok());
    (*log)->Write(Entry("ok", "before"));
    QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t{1}, 5000);
    fs::remove(path);
    (*log)->Write(Entry("ok", "after-delete"));
    QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t{2}, 5000);
    QVERIFY(fs::exists(path));
    QCOMPARE(Text(ReadLines(path).back(), "request_id"), std::string("after-delete"));

    fs::rename(path, path + ".old");  // logrotate's move
    (*log)->Reopen();                 // its postrotate SIGHUP
    (*log)->Write(Entry("ok", "after-rotate"));
    QTRY_COMPARE_WITH_TIMEOUT((*log)->Lines(), uint64_t{3}, 5000);
    QCOMPARE(ReadLines(path).size(), size_t{1});
    QCOMPARE(Text(ReadLines(path).back(), "request_id"), std::string("after-rotate"));
  }

  // gRPC and REST ModelInfer both logged: version, slot, protocol, the
  // same input hash and user hash for the same tensor and user.
  void bothInferenceProtocolsAreLogged() {
    QTemporaryDir dir;
    AgentConfig config = DemoTestConfig(5000);
    config.state_dir = dir.filePath("state").toStdString();
    config.request_log.path = dir.filePath("requests.jsonl").toStdString();
    std::string error;
    auto agent = StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());
    Clients clients = Connect(*agent);
    const DigitsRow& row = Holdout()[1];
    inference::ModelInferResponse answer;
    QVERIFY(Infer(*clients.data, DigitsRequest(row), &answer, "user-7").ok());
    std::string pixels;
    for (size_t i = 0; i < row.pixels.size(); ++i)
      pixels += (i ? "," : "") + std::to_string(row.pixels[i]);
    const std::string body =
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":[" +
        pixels + "]}]}";
    const Reply reply = Exchange(agent->HttpAddress(),
                                 "POST /v2/models/digits/infer HTTP/1.1\r\nHost: t\r\n"
                                 "x-user-id: user-7\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body);
    QCOMPARE(reply.status, 200);
    QVERIFY(!Infer(*clients.data, DigitsRequest(row), &answer, "user-7", "v9").ok());
    agent.reset();  // writes what is queued
    const auto lines = ReadLines(config.request_log.path);
    QCOMPARE(lines.size(), size_t{3});
    QCOMPARE(Text(lines[0], "protocol"), std::string("oip-grpc"));
    QCOMPARE(Text(lines[0], "route"), std::string("ModelInfer"));
    QCOMPARE(Text(lines[1], "protocol"), std::string("oip-rest"));
    QCOMPARE(Text(lines[1], "route"), std::string("/v2/models/digits/infer"));
    QCOMPARE(Text(lines[0], "version"), Text(lines[1], "version"));  // sticky across planes
    QCOMPARE(Text(lines[0], "user"), Text(lines[1], "user"));
    QCOMPARE(Text(lines[0], "input_sha256"), Text(lines[1], "input_sha256"));
    QCOMPARE(Text(lines[0], "outcome"), std::string("ok"));
    QCOMPARE(Text(lines[2], "outcome"), std::string("client_error"));
    QCOMPARE(lines[2].at("status").as_int64(), int64_t{3});  // INVALID_ARGUMENT
    QVERIFY(Text(lines[2], "error").find("'v9' is not served here") != std::string::npos);
  }

  // The official client streams over HTTPS; each of its requests is logged
  // with its version, and a plaintext client gets nothing from the port.
  void theOpenAiClientWorksOverTlsAndIsLogged() {
    const QString node = QStandardPaths::findExecutable(QStringLiteral("node"));
    const QString check = QStringLiteral(GREYLANE_SOURCE_DIR "/tests/openai_client/check.mjs");
    if (node.isEmpty() || !QFile::exists(QStringLiteral(
                              GREYLANE_SOURCE_DIR "/tests/openai_client/node_modules/openai"))) {
      QSKIP("node or the npm openai package is missing (./dev.sh test installs them)");
    }
    QTemporaryDir dir;
    const TestPki pki = MakeTestPki(dir.path().toStdString(), "client");
    QVERIFY(!pki.server_cert.empty());
    AgentConfig config = DemoConfig(ModelsDir(), "lm");
    config.agent_id = "test-lm-tls";
    config.control_listen = config.data_listen = config.http_listen = "127.0.0.1:0";
    config.analysis.armed = false;
    config.state_dir = dir.filePath("state").toStdString();
    config.http_tls = {pki.server_cert, pki.server_key};
    config.request_log.path = dir.filePath("requests.jsonl").toStdString();
    std::string error;
    auto agent = StartAgent(config, &error);
    QVERIFY2(agent, error.c_str());

    QProcess client;
    client.setProcessChannelMode(QProcess::MergedChannels);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("NODE_EXTRA_CA_CERTS", QString::fromStdString(pki.ca_cert));
    client.setProcessEnvironment(env);
    client.start(node, {check, QString::fromStdString("https://" + agent->HttpAddress() + "/v1")});
    QVERIFY(client.waitForFinished(60000));
    const QByteArray output = client.readAll();
    QVERIFY2(client.exitCode() == 0, output.constData());
    QVERIFY2(output.contains("\"ok\":true"), output.constData());

    // Plain HTTP on the TLS port: no answer, the connection is closed.
    const Reply plain =
        Exchange(agent->HttpAddress(), "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(plain.status, 0);

    agent.reset();
    const auto lines = ReadLines(config.request_log.path);
    QVERIFY2(lines.size() >= 5, std::to_string(lines.size()).c_str());
    bool streamed = false;
    for (const auto& l : lines) {
      QCOMPARE(Text(l, "protocol"), std::string("openai"));
      if (Text(l, "outcome") != "ok") continue;
      QVERIFY(Text(l, "version") == "v1" || Text(l, "version") == "v2");
      if (Text(l, "route") == "/v1/chat/completions" && l.contains("ttft_ms")) {
        streamed = true;
        QVERIFY(l.at("ttft_ms").to_number<double>() > 0);
        QVERIFY(l.at("completion_tokens").as_int64() > 0);
        // 12 tokens, or the model's own end (two newlines after 8 characters).
        const std::string finish = Text(l, "finish_reason");
        QVERIFY2(finish == "length" || finish == "stop", boost::json::serialize(l).c_str());
      }
    }
    QVERIFY(streamed);
  }

  void badLogSettingsAreRefusedAtStart() {
    std::string error;
    auto cl = ParseCommandLine({"--demo", "--request-log", "r.jsonl", "--request-log-sample", "2"},
                               &error);
    QVERIFY(!cl);
    QVERIFY2(error.find("sample must be 0..1") != std::string::npos, error.c_str());
    cl = ParseCommandLine({"--demo", "--request-log-sample", "half"}, &error);
    QVERIFY(!cl);
    QVERIFY2(error.find("takes a share 0..1") != std::string::npos, error.c_str());
    cl = ParseCommandLine({"--demo", "--http-tls-cert", "c.pem"}, &error);
    QVERIFY(!cl);
    QVERIFY2(error.find("needs both --http-tls-cert and --http-tls-key") != std::string::npos,
             error.c_str());
    std::string example = ReadText(GREYLANE_SOURCE_DIR "/packaging/agent.example.yaml");
    // The example's own request_log block goes; the test adds its own.
    const size_t block = example.find("\nrequest_log:");
    QVERIFY(block != std::string::npos);
    example.erase(block, example.find("\n\n", block + 1) - block);
    std::optional<AgentConfig> parsed = ParseConfigYaml(
        example + "\nrequest_log:\n  path: r.jsonl\n  keep: 500\n", "/etc/greylane", &error);
    QVERIFY2(parsed, error.c_str());
    QCOMPARE(parsed->request_log.path, std::string("/etc/greylane/r.jsonl"));
    QVERIFY(ValidateConfig(*parsed).find("keep must be 0..100") != std::string::npos);
    QVERIFY(!ParseConfigYaml(example + "\nrequest_log:\n  paht: r\n", "", &error));
    QVERIFY2(error.find("unknown key 'paht'") != std::string::npos, error.c_str());
  }
};

QTEST_GUILESS_MAIN(TestRequestLog)
#include "test_request_log.moc"
