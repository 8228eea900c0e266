// The built-in model pair: both files load, both classify the held-out
// digits well and differently, bad files and bad tensors get clear errors.
#include <QtTest>

#include <sys/stat.h>

#include <fstream>

#include "agent/backends/builtin_backend.h"
#include "support/agent_test_support.h"

using namespace greylane;

namespace {
double Accuracy(const MlpModel& model, std::vector<int>* predictions = nullptr) {
  const auto& rows = test::Holdout();
  int correct = 0;
  for (const DigitsRow& row : rows) {
    float p[10];
    model.Predict(row.pixels.data(), 1, p);
    const int guess = test::ArgMax(p);
    if (predictions) predictions->push_back(guess);
    correct += guess == row.label;
  }
  return static_cast<double>(correct) / static_cast<double>(rows.size());
}

std::string WriteTemp(const QString& name, const std::string& bytes) {
  static QTemporaryDir dir;
  const std::string path = dir.filePath(name).toStdString();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}
}  // namespace

class TestBuiltinModel final : public QObject {
  Q_OBJECT

 private slots:
  void bothVersionsLoadAndClassify() const {
    const auto loaded1 = MlpModel::Load(test::ModelsDir() + "/digits-v1.glm");
    QVERIFY2(loaded1.ok(), std::string(loaded1.status().message()).c_str());
    const auto loaded2 = MlpModel::Load(test::ModelsDir() + "/digits-v2.glm");
    QVERIFY2(loaded2.ok(), std::string(loaded2.status().message()).c_str());
    const MlpModel& v1 = *loaded1;
    const MlpModel& v2 = *loaded2;
    QCOMPARE(v1.InputWidth(), 64);
    QCOMPARE(v2.OutputWidth(), 10);
    QVERIFY(v2.ParameterCount() > 4 * v1.ParameterCount());  // v2 is the larger network
    std::vector<int> p1, p2;
    const double a1 = Accuracy(v1, &p1);
    const double a2 = Accuracy(v2, &p2);
    qInfo("holdout accuracy: v1 %.4f, v2 %.4f over %zu rows", a1, a2, test::Holdout().size());
    QVERIFY(a1 >= 0.90);
    QVERIFY(a2 >= 0.90);
    QVERIFY2(p1 != p2, "the two versions should disagree on some digits");
  }

  void batchEqualsSingleRows() const {
    const MlpModel v2 = *MlpModel::Load(test::ModelsDir() + "/digits-v2.glm");
    std::vector<float> batch;
    for (int r = 0; r < 8; ++r) {
      const auto& px = test::Holdout()[static_cast<size_t>(r)].pixels;
      batch.insert(batch.end(), px.begin(), px.end());
    }
    std::vector<float> out(80);
    v2.Predict(batch.data(), 8, out.data());
    for (int r = 0; r < 8; ++r) {
      float single[10];
      v2.Predict(test::Holdout()[static_cast<size_t>(r)].pixels.data(), 1, single);
      for (int k = 0; k < 10; ++k) QCOMPARE(out[static_cast<size_t>(r * 10 + k)], single[k]);
    }
  }

  void badFilesAreRefusedWithReason_data() const {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not a model") << QByteArray("hello\n") << "not a greylane-mlp";
    QTest::newRow("no end") << QByteArray("greylane-mlp 1\nlayers 1\ndense 2 2 softmax\n")
                            << "incomplete";
    QTest::newRow("bad activation")
        << QByteArray("greylane-mlp 1\nlayers 1\ndense 2 2 gelu\nend\n") << "bad layer";
    QTest::newRow("layers do not chain")
        << QByteArray("greylane-mlp 1\nlayers 2\ndense 2 3 relu\ndense 4 2 softmax\nend\n")
        << "does not fit";
    QTest::newRow("truncated weights")
        << QByteArray("greylane-mlp 1\nlayers 1\ndense 2 2 softmax\nend\n\x01\x02", 47)
        << "declares 24 bytes of weights but 1 follow";
    // A 92-byte file declaring 2^32 weights once ended in std::bad_alloc:
    // the declared sizes are now checked against the bytes present first.
    QTest::newRow("huge declared layer")
        << QByteArray(
               "greylane-mlp 1\nmodel m\nversion x\nlayers 1\ndense 65536 65536 softmax\nend\n"
               "0123456789012345")
        << "declares 17180131328 bytes of weights but 16 follow";
    QTest::newRow("too wide") << QByteArray("greylane-mlp 1\nlayers 1\ndense 65537 2 relu\nend\n")
                              << "widths 1..65536";
    QTest::newRow("too many layers")
        << QByteArray("greylane-mlp 1\nlayers 100000\nend\n") << "at most 64";
    QTest::newRow("latin-1 name")
        << QByteArray("greylane-mlp 1\nmodel ren\xe9\nlayers 1\ndense 2 2 softmax\nend\n")
        << "not valid UTF-8";
    QTest::newRow("escape in header")
        << QByteArray("greylane-mlp 1\nversion \x1b[31mred\nend\n") << "control character";
    QTest::newRow("endless header line")
        << (QByteArray("greylane-mlp 1\nmodel ") + QByteArray(100000, 'a')) << "malformed";
    QTest::newRow("not a number")
        << QByteArray("greylane-mlp 1\ninput_scale nan\nlayers 1\ndense 2 2 softmax\nend\n")
        << "input_scale nan";
    QTest::newRow("trailing words")
        << QByteArray("greylane-mlp 1\nlayers 1 2\ndense 2 2 softmax\nend\n") << "cannot parse";
  }
  void badFilesAreRefusedWithReason() const {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    const auto model = MlpModel::Load(WriteTemp(QTest::currentDataTag(), bytes.toStdString()));
    QVERIFY(!model.ok());
    const QString error = QString::fromStdString(std::string(model.status().message()));
    QVERIFY2(error.contains(expected), qPrintable(error));
  }

  // Only regular files of bounded size: a FIFO would block the loader (and
  // with it LoadCandidate and the agent's shutdown), a device never ends.
  void onlyRegularFilesOfBoundedSize() const {
    QTemporaryDir dir;
    const std::string fifo = dir.filePath("fifo").toStdString();
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    QElapsedTimer timer;
    timer.start();
    auto model = MlpModel::Load(fifo);
    QVERIFY(timer.elapsed() < 2000);
    QVERIFY(!model.ok());
    QVERIFY(std::string(model.status().message()).find("not a regular file") != std::string::npos);
    model = MlpModel::Load("/dev/zero");
    QVERIFY(std::string(model.status().message()).find("not a regular file") != std::string::npos);
    model = MlpModel::Load(dir.path().toStdString());
    QVERIFY(!model.ok());
    // A sparse file: 300 MB on paper, nothing on disk.
    const std::string big = dir.filePath("big.glm").toStdString();
    QFile file(QString::fromStdString(big));
    QVERIFY(file.open(QIODevice::WriteOnly));
    QVERIFY(file.resize(300ll << 20));
    file.close();
    model = MlpModel::Load(big);
    QVERIFY(std::string(model.status().message()).find("at most") != std::string::npos);
    model = MlpModel::Load("/nonexistent/model.glm");
    QVERIFY(std::string(model.status().message()).find("No such file") != std::string::npos);
  }

  void malformedRequestsNameTheProblem_data() const {
    QTest::addColumn<int>("mutation");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no inputs") << 0 << "expected 1 input tensor, got 0";
    QTest::newRow("wrong input name") << 1 << "unknown input 'pixels'";
    QTest::newRow("wrong datatype") << 2 << "datatype 'INT32'";
    QTest::newRow("wrong width") << 3 << "shape [1,63]";
    QTest::newRow("raw size mismatch") << 4 << "needs 256 bytes of raw data, got 252";
    QTest::newRow("typed count mismatch") << 5 << "needs 64 FP32 values, got 3";
    QTest::newRow("no data") << 6 << "has no data";
    QTest::newRow("raw and typed") << 7 << "send the data one way";
    QTest::newRow("unknown output") << 8 << "unknown output 'logits'";
    QTest::newRow("zero rows") << 9 << "shape [0,64]";
    QTest::newRow("too many rows") << 10 << "at most 1024";
  }
  void malformedRequestsNameTheProblem() const {
    QFETCH(int, mutation);
    QFETCH(QString, expected);
    auto opened = BuiltinBackend::Open(test::ModelsDir() + "/digits-v1.glm");
    QVERIFY(opened.ok());
    auto& backend = *opened;
    auto request = test::DigitsRequest(test::Holdout()[0], /*raw=*/mutation != 5 && mutation != 6);
    auto* input = request.mutable_inputs(0);
    switch (mutation) {
      case 0:
        request.clear_inputs();
        break;
      case 1:
        input->set_name("pixels");
        break;
      case 2:
        input->set_datatype("INT32");
        break;
      case 3:
        input->set_shape(1, 63);
        break;
      case 4:
        request.mutable_raw_input_contents(0)->resize(252);
        break;
      case 5:
        input->mutable_contents()->mutable_fp32_contents()->Truncate(3);
        break;
      case 6:
        input->mutable_contents()->clear_fp32_contents();
        break;
      case 7:
        input->mutable_contents()->add_fp32_contents(1.0f);
        break;
      case 8:
        request.add_outputs()->set_name("logits");
        break;
      case 9:
        input->set_shape(0, 0);
        break;
      case 10:
        input->set_shape(0, 5000);
        break;
    }
    inference::ModelInferResponse response;
    const InferOutcome outcome = backend->Compute(request, &response);
    QCOMPARE(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    QVERIFY(outcome.client_error);
    QVERIFY2(QString::fromStdString(outcome.status.error_message()).contains(expected),
             outcome.status.error_message().c_str());
  }

  void answersInTheFormItWasAsked() const {
    auto opened = BuiltinBackend::Open(test::ModelsDir() + "/digits-v2.glm");
    QVERIFY(opened.ok());
    auto& backend = *opened;
    for (const bool raw : {true, false}) {
      inference::ModelInferResponse response;
      QVERIFY(
          backend->Compute(test::DigitsRequest(test::Holdout()[3], raw), &response).status.ok());
      QCOMPARE(response.raw_output_contents_size(), raw ? 1 : 0);
      QCOMPARE(response.outputs(0).name(), std::string("probabilities"));
      const auto p = test::Probabilities(response);
      QCOMPARE(p.size(), 10u);
      float sum = 0;
      for (const float v : p) sum += v;
      QVERIFY(std::abs(sum - 1.0f) < 1e-4f);
    }
    QVERIFY(backend->Probe(std::chrono::milliseconds(100), "test").ok());
  }
};

QTEST_GUILESS_MAIN(TestBuiltinModel)
#include "test_builtin_model.moc"
