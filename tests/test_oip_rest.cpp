// The Open Inference Protocol's REST form (POST /v2/models/{m}/infer): the
// JSON codec for every datatype (nested and flat data, half precision,
// ranges, malformed bodies), and on a real digits agent the same answer as
// gRPC ModelInfer, the same sticky routing and pins, counting per version,
// and clear errors for bad requests.
#include <QtTest>

#include <cmath>
#include <limits>

#include "agent/backends/oip_rest_json.h"
#include "support/agent_test_support.h"
#include "support/http_test_client.h"

using namespace greylane;
using namespace greylane::test;

namespace {

std::string InferPost(const std::string& path, const std::string& body,
                      const std::string& headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string PixelsJson(const DigitsRow& row, bool nested) {
  std::string out = nested ? "[[" : "[";
  for (size_t i = 0; i < row.pixels.size(); ++i) {
    out += (i ? "," : "") + std::to_string(row.pixels[i]);
  }
  return out + (nested ? "]]" : "]");
}

std::string DigitsBody(const DigitsRow& row, bool nested = false, const std::string& id = {}) {
  return std::string("{") + (id.empty() ? "" : "\"id\":\"" + id + "\",") +
         R"("inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":)" +
         PixelsJson(row, nested) + "}]}";
}

// The numbers of the first output's "data" array.
std::vector<double> DataOf(const std::string& json) {
  std::vector<double> out;
  const size_t at = json.find("\"data\":[");
  if (at == std::string::npos) return out;
  const char* p = json.c_str() + at + 8;
  while (*p && *p != ']') {
    char* end = nullptr;
    out.push_back(std::strtod(p, &end));
    if (end == p) break;
    p = end;
    if (*p == ',') ++p;
  }
  return out;
}

// A response whose raw outputs are the request's raw inputs, so a request
// read from JSON can be written back and compared.
inference::ModelInferResponse EchoOf(const inference::ModelInferRequest& request) {
  inference::ModelInferResponse response;
  response.set_model_name("m");
  response.set_model_version("1");
  for (int i = 0; i < request.inputs_size(); ++i) {
    auto* out = response.add_outputs();
    out->set_name(request.inputs(i).name());
    out->set_datatype(request.inputs(i).datatype());
    *out->mutable_shape() = request.inputs(i).shape();
    response.add_raw_output_contents(request.raw_input_contents(i));
  }
  return response;
}

std::string Tensor(const std::string& type, const std::string& shape, const std::string& data) {
  return R"({"inputs":[{"name":"x","datatype":")" + type + R"(","shape":)" + shape + R"(,"data":)" +
         data + "}]}";
}

}  // namespace

class TestOipRest final : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    AgentConfig config = DemoTestConfig(5000);
    config.http_listen = "127.0.0.1:0";
    std::string error;
    m_agent = StartAgent(config, &error);
    QVERIFY2(m_agent, error.c_str());
    m_http = m_agent->HttpAddress();
    m_clients = Connect(*m_agent);
  }
  void cleanupTestCase() { m_agent.reset(); }

  void halfPrecisionRoundsToNearestEven() {
    QCOMPARE(HalfBits(1.0f), uint16_t{0x3c00});
    QCOMPARE(HalfBits(-2.0f), uint16_t{0xc000});
    QCOMPARE(HalfBits(65504.0f), uint16_t{0x7bff});
    QCOMPARE(HalfBits(65520.0f), uint16_t{0x7c00});  // rounds up to infinity
    QCOMPARE(HalfBits(0.1f), uint16_t{0x2e66});
    QCOMPARE(HalfBits(5.960464e-8f), uint16_t{0x0001});  // the smallest subnormal
    QCOMPARE(HalfBits(1e-9f), uint16_t{0x0000});
    QCOMPARE(HalfBits(1.0f + 1.0f / 2048), uint16_t{0x3c00});  // a tie goes to even
    QCOMPARE(HalfBits(1.0f + 3.0f / 2048), uint16_t{0x3c02});
    QVERIFY(std::isnan(HalfValue(HalfBits(std::numeric_limits<float>::quiet_NaN()))));
    for (const float v : {0.0f, 1.0f, -3.5f, 0.333251953125f, 65504.0f, 6.103515625e-05f}) {
      QCOMPARE(HalfValue(HalfBits(v)), v);
    }
    QCOMPARE(Bfloat16Bits(1.0f), uint16_t{0x3f80});
    QCOMPARE(Bfloat16Value(Bfloat16Bits(-2.5f)), -2.5f);
    QCOMPARE(Bfloat16Value(Bfloat16Bits(1.00390625f)), 1.0f);  // tie to even
  }

  void everyDatatypeRoundTrips() {
    const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
        {"BOOL", "[[true,false],[false,true]]", "[true,false,false,true]"},
        {"INT8", "[[-128,127],[0,-1]]", "[-128,127,0,-1]"},
        {"INT16", "[[-32768,32767],[5,-5]]", "[-32768,32767,5,-5]"},
        {"INT32", "[[-2147483648,2147483647],[1,2]]", "[-2147483648,2147483647,1,2]"},
        {"INT64", "[[-9223372036854775808,9223372036854775807],[0,1]]",
         "[-9223372036854775808,9223372036854775807,0,1]"},
        {"UINT8", "[[0,255],[1,2]]", "[0,255,1,2]"},
        {"UINT16", "[[0,65535],[1,2]]", "[0,65535,1,2]"},
        {"UINT32", "[[0,4294967295],[1,2]]", "[0,4294967295,1,2]"},
        {"UINT64", "[[0,18446744073709551615],[1,2]]", "[0,18446744073709551615,1,2]"},
        {"FP16", "[[1,-0.5],[65504,0.099975586]]", "[1,-0.5,65504,0.099975586]"},
        {"BF16", "[[1,-0.5],[3,0.25]]", "[1,-0.5,3,0.25]"},
        {"FP32", "[[1.5,-0.25],[3.4028235e+38,1e-45]]", "[1.5,-0.25,3.4028235e+38,1e-45]"},
        {"FP64", "[[0.1,-2],[1e300,5e-324]]", "[0.1,-2,1e+300,5e-324]"},
        {"BYTES", "[[\"a\",\"\\u00e9t\\u00e9\"],[\"\",  \"x\\\"y\"]]",
         "[\"a\",\"\u00e9t\u00e9\",\"\",\"x\\\"y\"]"},
    };
    for (const auto& [type, nested, flat] : cases) {
      for (const std::string& data : {nested, flat}) {
        inference::ModelInferRequest request;
        const std::string problem = ReadRestInferRequest(Tensor(type, "[2,2]", data), &request);
        QVERIFY2(problem.empty(), (type + ": " + problem).c_str());
        QCOMPARE(request.raw_input_contents_size(), 1);
        std::string wrong;
        const std::string json = RestInferResponse(EchoOf(request), &wrong);
        QVERIFY2(wrong.empty(), wrong.c_str());
        const std::string expected =
            "\"datatype\":\"" + type + "\",\"shape\":[2,2],\"data\":" + flat;
        QVERIFY2(json.find(expected) != std::string::npos, (type + ": " + json).c_str());
      }
    }
  }

  void typedOutputsAreWrittenToo() {
    inference::ModelInferResponse response;
    auto* t = response.add_outputs();
    t->set_name("scores");
    t->set_datatype("FP32");
    t->add_shape(3);
    for (const float v : {0.5f, std::numeric_limits<float>::infinity(), 2.0f})
      t->mutable_contents()->add_fp32_contents(v);
    auto* ids = response.add_outputs();
    ids->set_name("ids");
    ids->set_datatype("INT64");
    ids->add_shape(1);
    ids->mutable_contents()->add_int64_contents(-7);
    (*response.mutable_parameters())["note"].set_string_param("hi");
    std::string problem;
    const std::string json = RestInferResponse(response, &problem);
    QVERIFY2(problem.empty(), problem.c_str());
    QVERIFY2(json.find("\"data\":[0.5,null,2]") != std::string::npos, json.c_str());
    QVERIFY2(json.find("\"data\":[-7]") != std::string::npos, json.c_str());
    QVERIFY2(json.find("\"parameters\":{\"note\":\"hi\"}") != std::string::npos, json.c_str());

    t->mutable_contents()->add_fp32_contents(1);  // four values for a shape of three
    QVERIFY(RestInferResponse(response, &problem).empty());
    QVERIFY2(problem.find("4 values for a shape of 3") != std::string::npos, problem.c_str());
    problem.clear();
    response.clear_outputs();
    auto* raw = response.add_outputs();
    raw->set_name("r");
    raw->set_datatype("FP32");
    raw->add_shape(2);
    response.add_raw_output_contents(std::string(7, '\0'));
    QVERIFY(RestInferResponse(response, &problem).empty());
    QVERIFY2(problem.find("7 bytes for 2 FP32 elements") != std::string::npos, problem.c_str());
  }

  void badRequestsSayWhatIsWrong() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{", "not valid JSON"},
        {"[1]", "must be a JSON object"},
        {"{\"inputs\":[]}", "non-empty array"},
        {"{\"id\":5,\"inputs\":[]}", "'id' must be a string"},
        {Tensor("FP32", "[2]", "[1]"), "'data' holds 1 elements; the shape says 2"},
        {Tensor("FP32", "[1]", "[\"a\"]"), "is not a number"},
        {Tensor("FP32", "[1]", "[1e39]"), "outside FP32's range"},
        {Tensor("FP64", "[1]", "[1e309]"), "outside FP64's range"},
        {Tensor("FP16", "[1]", "[70000]"), "outside FP16's range"},
        {Tensor("FP32", "[2,2]", "[[1,2,3],[4]]"), "nested unlike the shape"},
        {Tensor("FP32", "[2,2]", "[[[1,2]],[3,4]]"), "nested unlike the shape"},
        {Tensor("INT8", "[1]", "[128]"), "outside INT8's range"},
        {Tensor("UINT8", "[1]", "[-1]"), "is not an integer UINT8 holds"},
        {Tensor("INT32", "[1]", "[1.5]"), "is not an integer"},
        {Tensor("BOOL", "[1]", "[1]"), "is not true or false"},
        {Tensor("BYTES", "[1]", "[1]"), "is not a string"},
        {Tensor("FP8", "[1]", "[1]"), "is not one of BOOL"},
        {Tensor("FP32", "[-1]", "[1]"), "sizes are whole numbers"},
        {Tensor("FP32", "[1000000,1000000]", "[1]"), "more than"},
        {"{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{"
         "\"binary_data_size\":4}}]}",
         "binary-data extension"},
        {"{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}],"
         "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}",
         "binary data"},
        {"{\"inputs\":[{\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}", "needs a 'name'"},
        {"{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1],"
         "\"parameters\":{\"p\":[1]}}]}",
         "must be a string, number or boolean"},
    };
    for (const auto& [body, expected] : cases) {
      inference::ModelInferRequest request;
      const std::string problem = ReadRestInferRequest(body, &request);
      QVERIFY2(problem.find(expected) != std::string::npos,
               (body + " -> " + problem + " (expected: " + expected + ")").c_str());
    }
  }

  // The REST answer is the gRPC answer: same version, same probabilities.
  void restAnswersAsGrpcDoes() {
    const DigitsRow& row = Holdout()[3];
    for (const std::string version : {"v1", "v2"}) {
      inference::ModelInferResponse grpc_answer;
      QVERIFY(Infer(*m_clients.data, DigitsRequest(row), &grpc_answer, {}, version).ok());
      const std::vector<float> expected = Probabilities(grpc_answer);
      for (const bool nested : {false, true}) {
        const Reply reply =
            Exchange(m_http, InferPost("/v2/models/digits/versions/" + version + "/infer",
                                       DigitsBody(row, nested, "rest-" + version)));
        QVERIFY2(reply.status == 200, reply.body.c_str());
        QVERIFY(reply.head.find("x-greylane-version: " + version) != std::string::npos);
        QVERIFY(reply.head.find("x-request-id: rest-" + version) != std::string::npos);
        QVERIFY(reply.body.find("\"model_version\":\"" + version + "\"") != std::string::npos);
        QVERIFY(reply.body.find("\"shape\":[1,10]") != std::string::npos);
        const std::vector<double> got = DataOf(reply.body);
        QCOMPARE(got.size(), expected.size());
        for (size_t i = 0; i < got.size(); ++i) {
          QVERIFY2(std::abs(got[i] - expected[i]) <= 1e-6 * std::max(1.0, std::abs(got[i])),
                   (std::to_string(got[i]) + " vs " + std::to_string(expected[i])).c_str());
        }
      }
    }
  }

  void theRequestIdHeaderIsTakenWhenTheBodyHasNone() {
    Reply reply = Exchange(m_http, InferPost("/v2/models/digits/infer", DigitsBody(Holdout()[2]),
                                             "x-request-id: hdr-77\r\n"));
    QCOMPARE(reply.status, 200);
    QVERIFY2(reply.head.find("x-request-id: hdr-77") != std::string::npos, reply.head.c_str());
    QVERIFY(reply.body.find("\"id\":\"hdr-77\"") != std::string::npos);
    reply =
        Exchange(m_http, InferPost("/v2/models/digits/versions//infer", DigitsBody(Holdout()[2])));
    QCOMPARE(reply.status, 404);  // an empty version is no version
  }

  // Clients quote model and version names in paths (tritonclient does):
  // %XX escapes are decoded, an encoded slash is not a separator, and a
  // broken escape is a 400 that says so.
  void escapedPathsAreDecoded() {
    Reply reply = Exchange(
        m_http, InferPost("/v2/models/%64igits/versions/v%32/infer", DigitsBody(Holdout()[2])));
    QVERIFY2(reply.status == 200, reply.body.c_str());
    QVERIFY(reply.head.find("x-greylane-version: v2") != std::string::npos);
    reply = Exchange(m_http, "GET /v2/models/digit%73/ready HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(reply.status, 200);
    reply = Exchange(m_http, "GET /v2/models/digits%2Fx HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(reply.status, 404);
    QVERIFY2(reply.body.find("unknown model 'digits%2Fx'") != std::string::npos,
             reply.body.c_str());
    reply = Exchange(m_http, "GET /v2/models/cat%0As HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(reply.status, 404);
    QVERIFY2(reply.body.find("unknown model 'cat\\\\ns'") != std::string::npos, reply.body.c_str());
    for (const char* broken : {"/v2/models/digits%", "/v2/models/digits%4", "/v2/models/d%zzigits",
                               "/v2/models/digits%00"}) {
      reply = Exchange(m_http, std::string("GET ") + broken + " HTTP/1.1\r\nHost: t\r\n\r\n");
      QCOMPARE(reply.status, 400);
      QVERIFY2(reply.body.find("broken %XX escape") != std::string::npos, reply.body.c_str());
    }
  }

  // A user keeps one version whichever protocol it speaks.
  void stickyUsersSeeOneVersionOnBothPlanes() {
    const DigitsRow& row = Holdout()[0];
    int checked = 0;
    for (int u = 0; u < 20; ++u) {
      const std::string user = "user-" + std::to_string(u);
      std::string slot;
      inference::ModelInferResponse answer;
      QVERIFY(Infer(*m_clients.data, DigitsRequest(row), &answer, user, {}, &slot).ok());
      const Reply reply = Exchange(m_http, InferPost("/v2/models/digits/infer", DigitsBody(row),
                                                     "x-user-id: " + user + "\r\n"));
      QCOMPARE(reply.status, 200);
      QVERIFY2(
          reply.head.find("x-greylane-version: " + answer.model_version()) != std::string::npos,
          (user + ": " + reply.head).c_str());
      QVERIFY(reply.head.find("x-greylane-slot: " + slot) != std::string::npos);
      ++checked;
    }
    QCOMPARE(checked, 20);
  }

  void errorsAreCountedWhereTheyWouldHaveGone() {
    const std::string before = Metrics(m_http);
    const double v2_errors = MetricValue(before, "greylane_request_client_errors_total", "v2");
    const double v2_requests = MetricValue(before, "greylane_requests_total", "v2");

    Reply reply = Exchange(m_http, InferPost("/v2/models/digits/versions/v2/infer",
                                             Tensor("FP32", "[1,3]", "[1,2,3]")));
    QCOMPARE(reply.status, 400);
    QVERIFY2(reply.body.find("the model takes one input 'input' FP32 [-1,64]") != std::string::npos,
             reply.body.c_str());
    QVERIFY(reply.head.find("x-greylane-version: v2") != std::string::npos);

    reply = Exchange(
        m_http, InferPost("/v2/models/digits/infer", "{nope", "x-greylane-version: candidate\r\n"));
    QCOMPARE(reply.status, 400);
    QVERIFY2(reply.body.find("{\"error\":\"the body is not valid JSON") == 0, reply.body.c_str());

    reply = Exchange(m_http,
                     InferPost("/v2/models/digits/versions/v7/infer", DigitsBody(Holdout()[0])));
    QCOMPARE(reply.status, 400);
    QVERIFY2(reply.body.find("version 'v7' is not served here") != std::string::npos,
             reply.body.c_str());

    reply = Exchange(m_http, InferPost("/v2/models/cats/infer", DigitsBody(Holdout()[0])));
    QCOMPARE(reply.status, 400);
    QVERIFY2(reply.body.find("unknown model 'cats'") != std::string::npos, reply.body.c_str());

    reply = Exchange(m_http, "GET /v2/models/digits/infer HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(reply.status, 405);
    QVERIFY(reply.head.find("Allow: POST") != std::string::npos);

    reply = Exchange(m_http, InferPost("/v2/models/digits/infer", DigitsBody(Holdout()[0]),
                                       "Inference-Header-Content-Length: 10\r\n"));
    QCOMPARE(reply.status, 400);
    QVERIFY(reply.body.find("binary-data extension") != std::string::npos);

    // Counted in the frame the agent seals every second.
    QTRY_VERIFY_WITH_TIMEOUT(
        MetricValue(Metrics(m_http), "greylane_request_client_errors_total", "v2") >= v2_errors + 1,
        5000);
    QVERIFY(MetricValue(Metrics(m_http), "greylane_requests_total", "v2") >= v2_requests + 1);
  }

  void aDrillFailsRestRequestsAsItFailsGrpc() {
    const std::string admin = test::DemoToken(*m_agent, "admin");
    QVERIFY(Drill(*m_clients.control, admin, v1::CANDIDATE, 0, 1.0, 30).ok());
    const Reply reply = Exchange(
        m_http, InferPost("/v2/models/digits/versions/v2/infer", DigitsBody(Holdout()[0])));
    QVERIFY(Drill(*m_clients.control, admin, v1::CANDIDATE, 0, 0, 0).ok());
    QCOMPARE(reply.status, 502);
    QVERIFY2(reply.body.find("injected fault") != std::string::npos, reply.body.c_str());
  }

 private:
  std::unique_ptr<CanaryAgent> m_agent;
  std::string m_http;
  Clients m_clients;
};

QTEST_GUILESS_MAIN(TestOipRest)
#include "test_oip_rest.moc"
