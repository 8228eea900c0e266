#include "agent/backends/builtin_lm_backend.h"

#include <chrono>
#include <ctime>
#include <random>

#include <openssl/evp.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include "agent/backends/network_threads.h"
#include "agent/backends/openai_wire.h"

namespace greylane {
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

enum class Endpoint { kChat, kCompletions, kEmbeddings, kModels, kUnknown };

Endpoint EndpointOf(std::string_view path) {
  if (const size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path == "/v1/chat/completions") return Endpoint::kChat;
  if (path == "/v1/completions") return Endpoint::kCompletions;
  if (path == "/v1/embeddings") return Endpoint::kEmbeddings;
  if (path == "/v1/models") return Endpoint::kModels;
  return Endpoint::kUnknown;
}

// What the model is asked to do, read from the body.
struct Ask {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string model;
  std::string prompt;               // chat messages joined, or the completion prompt
  std::vector<std::string> inputs;  // embeddings
  int64_t max_tokens = BuiltinLmBackend::kDefaultMaxTokens;
  double temperature = 1.0;
  uint64_t seed = 0;
  bool seeded = false;
  bool stream = false;
  bool include_usage = false;
  bool base64 = false;  // embeddings as base64 of little-endian float32 (encoding_format)
  std::vector<std::string> stop;
};

std::string ReadAsk(const GenerationRequest& request, Ask* ask) {
  ask->endpoint = EndpointOf(request.path);
  if (ask->endpoint == Endpoint::kUnknown) return "no such endpoint: " + request.path;
  if (ask->endpoint == Endpoint::kModels) return {};
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  const json::value value = json::parse(request.body, ec, json::storage_ptr(), options);
  if (ec || !value.is_object()) return "the body must be a JSON object";
  const json::object& o = value.as_object();
  if (const json::value* m = o.if_contains("model"); m && m->is_string()) {
    ask->model = std::string(m->as_string());
  }
  auto text_of = [](const json::value& v, std::string* out) {
    if (v.is_string()) {
      out->append(v.as_string());
      return true;
    }
    if (!v.is_array()) return false;
    for (const json::value& part : v.as_array()) {  // [{"type":"text","text":…}]
      if (!part.is_object()) return false;
      const json::value* t = part.as_object().if_contains("text");
      if (t && t->is_string()) out->append(t->as_string());
    }
    return true;
  };
  if (ask->endpoint == Endpoint::kChat) {
    const json::value* messages = o.if_contains("messages");
    if (!messages || !messages->is_array() || messages->as_array().empty()) {
      return "'messages' must be a non-empty array";
    }
    for (const json::value& m : messages->as_array()) {
      const json::value* content = m.is_object() ? m.as_object().if_contains("content") : nullptr;
      if (!content) return "each message needs 'content'";
      if (!content->is_null() && !text_of(*content, &ask->prompt)) {
        return "a message's 'content' must be a string or an array of text parts";
      }
      ask->prompt += '\n';
    }
  } else if (ask->endpoint == Endpoint::kCompletions) {
    const json::value* prompt = o.if_contains("prompt");
    if (!prompt) return "'prompt' is required";
    if (prompt->is_array() && !prompt->as_array().empty() && prompt->as_array()[0].is_string()) {
      if (prompt->as_array().size() > 1) return "this model takes one prompt per request";
      ask->prompt = std::string(prompt->as_array()[0].as_string());
    } else if (!prompt->is_string()) {
      return "'prompt' must be a string (this model reads text, not token ids)";
    } else {
      ask->prompt = std::string(prompt->as_string());
    }
  } else {
    const json::value* input = o.if_contains("input");
    if (input && input->is_string()) {
      ask->inputs.emplace_back(input->as_string());
    } else if (input && input->is_array() && input->as_array().size() <= 256) {
      for (const json::value& v : input->as_array()) {
        if (!v.is_string()) return "'input' must be a string or an array of strings";
        ask->inputs.emplace_back(v.as_string());
      }
    } else {
      return "'input' must be a string or an array of at most 256 strings";
    }
  }
  const int64_t n = JsonInt(o, "n", 1);
  if (n != 1) return "'n' must be 1 for this model";
  ask->max_tokens = JsonInt(o, "max_completion_tokens", JsonInt(o, "max_tokens", ask->max_tokens));
  if (ask->max_tokens < 1 || ask->max_tokens > BuiltinLmBackend::kMaxTokens) {
    return "'max_tokens' must be 1.." + std::to_string(BuiltinLmBackend::kMaxTokens);
  }
  ask->temperature = JsonDouble(o, "temperature", 1.0);
  if (!(ask->temperature >= 0 && ask->temperature <= 2)) return "'temperature' must be 0..2";
  if (o.contains("seed")) {
    ask->seed = static_cast<uint64_t>(JsonInt(o, "seed", 0));
    ask->seeded = true;
  }
  if (const json::value* stop = o.if_contains("stop"); stop && !stop->is_null()) {
    if (stop->is_string()) {
      ask->stop.emplace_back(stop->as_string());
    } else if (stop->is_array() && stop->as_array().size() <= 4) {
      for (const json::value& s : stop->as_array()) {
        if (!s.is_string() || s.as_string().empty()) return "'stop' holds non-empty strings";
        ask->stop.emplace_back(s.as_string());
      }
    } else {
      return "'stop' must be a string or up to 4 strings";
    }
  }
  // The caller read (and checked) these from the same body.
  ask->stream = request.stream;
  ask->include_usage = request.include_usage;
  if (ask->stream && ask->endpoint == Endpoint::kEmbeddings) return "embeddings do not stream";
  if (const json::value* f = o.if_contains("encoding_format"); f && !f->is_null()) {
    if (!f->is_string() || (f->as_string() != "float" && f->as_string() != "base64")) {
      return "'encoding_format' must be float or base64";
    }
    ask->base64 = f->as_string() == "base64";
  }
  return {};
}

int64_t UnixSeconds() {
  return static_cast<int64_t>(std::time(nullptr));
}

// One request from start to end, on its own strand of the network threads.
class LmGeneration final : public GenerationCall,
                           public std::enable_shared_from_this<LmGeneration> {
 public:
  LmGeneration(std::shared_ptr<const CharLanguageModel> model, Ask ask, GenerationRequest request,
               std::shared_ptr<GenerationSink> sink, std::shared_ptr<std::atomic<int>> running)
      : m_model(std::move(model)),
        m_ask(std::move(ask)),
        m_request(std::move(request)),
        m_sink(std::move(sink)),
        m_running(std::move(running)),
        m_strand(asio::make_strand(NetworkContext())),
        m_timer(m_strand) {
    m_rng.seed(m_ask.seeded ? m_ask.seed : std::random_device()());
    m_history = CharLanguageModel::Encode(m_ask.prompt);
    m_prompt_tokens = static_cast<int64_t>(m_history.size());
    m_model_name = m_ask.model.empty() ? m_model->ModelName() : m_ask.model;
  }
  ~LmGeneration() override { m_running->fetch_sub(1); }

  void Start() {
    asio::post(m_strand, [self = shared_from_this()] {
      if (self->m_ask.stream) self->m_sink->OnHead({200, "text/event-stream", {}});
      size_t prompt = static_cast<size_t>(self->m_prompt_tokens);
      if (self->m_ask.endpoint == Endpoint::kEmbeddings) {
        prompt = 0;
        for (const std::string& in : self->m_ask.inputs) prompt += in.size();
      }
      self->m_next = std::chrono::steady_clock::now();
      self->Wait(self->Jittered(self->m_model->FirstTokenDelay(prompt)));
    });
  }

  void Cancel() override {
    asio::post(m_strand, [self = shared_from_this()] {
      self->m_cancelled = true;
      self->m_timer.cancel();
    });
  }

 private:
  std::chrono::microseconds Jittered(std::chrono::microseconds d) {
    // Real servers wobble: within ±15 %, so percentiles are not flat lines.
    const double f = std::uniform_real_distribution<double>(0.85, 1.15)(m_rng);
    return std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(d.count()) * f));
  }

  void Wait(std::chrono::microseconds delay) {
    m_next += delay;  // absolute: the pace does not drift with handler delays
    m_timer.expires_at(m_next);
    m_timer.async_wait([self = shared_from_this()](boost::system::error_code) { self->Step(); });
  }

  void Step() {
    if (m_ended) return;
    if (m_cancelled) return End({GenerationFailure::kNone, "cancelled: the client went away"});
    if (m_ask.endpoint == Endpoint::kEmbeddings) return AnswerEmbeddings();
    const uint8_t token = m_model->Next(m_history, m_ask.temperature, m_rng);
    const char c = CharLanguageModel::Decode(token);
    // Two newlines end a paragraph: the model's own end of text.
    if (c == '\n' && !m_text.empty() && m_text.back() == '\n' && m_text.size() > 8) {
      return Finish("stop");
    }
    m_history.push_back(token);
    m_text += c;
    ++m_completion_tokens;
    if (m_ask.stream) m_sink->OnData(Event(Chunk(std::string(1, c), nullptr)));
    for (const std::string& stop : m_ask.stop) {
      if (m_text.size() >= stop.size() &&
          m_text.compare(m_text.size() - stop.size(), stop.size(), stop) == 0) {
        m_text.resize(m_text.size() - stop.size());
        return Finish("stop");
      }
    }
    if (m_completion_tokens >= m_ask.max_tokens) return Finish("length");
    Wait(Jittered(m_model->TokenDelay()));
  }

  std::string Id() const {
    return (m_ask.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + m_request.request_id;
  }

  json::object Usage() const {
    json::object usage;
    usage["prompt_tokens"] = m_prompt_tokens;
    usage["completion_tokens"] = m_completion_tokens;
    usage["total_tokens"] = m_prompt_tokens + m_completion_tokens;
    return usage;
  }

  // One chunk of a stream: a token, or the finish (text empty, reason set).
  json::object Chunk(const std::string& text, const char* finish) {
    json::object choice;
    choice["index"] = 0;
    if (m_ask.endpoint == Endpoint::kChat) {
      json::object delta;
      if (!m_sent_role) delta["role"] = "assistant";
      m_sent_role = true;
      if (!text.empty() || !finish) delta["content"] = text;
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = text;
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish ? json::value(finish) : json::value(nullptr);
    json::object chunk =
        Envelope(m_ask.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion");
    json::array choices;
    choices.push_back(std::move(choice));
    chunk["choices"] = std::move(choices);
    if (m_ask.include_usage) chunk["usage"] = nullptr;
    return chunk;
  }

  json::object Envelope(const char* object) const {
    json::object o;
    o["id"] = Id();
    o["object"] = object;
    o["created"] = UnixSeconds();
    o["model"] = m_model_name;
    o["system_fingerprint"] = "greylane-charlm-" + m_model->Version();
    return o;
  }

  static std::string Event(const json::object& o) { return "data: " + json::serialize(o) + "\n\n"; }

  void Finish(const char* reason) {
    if (m_ask.stream) {
      m_sink->OnData(Event(Chunk("", reason)));
      if (m_ask.include_usage) {
        json::object last = Envelope(m_ask.endpoint == Endpoint::kChat ? "chat.completion.chunk"
                                                                       : "text_completion");
        last["choices"] = json::array();
        last["usage"] = Usage();
        m_sink->OnData(Event(last));
      }
      m_sink->OnData("data: [DONE]\n\n");
      return End({});
    }
    json::object choice;
    choice["index"] = 0;
    if (m_ask.endpoint == Endpoint::kChat) {
      json::object message;
      message["role"] = "assistant";
      message["content"] = m_text;
      choice["message"] = std::move(message);
    } else {
      choice["text"] = m_text;
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = reason;
    json::object body =
        Envelope(m_ask.endpoint == Endpoint::kChat ? "chat.completion" : "text_completion");
    json::array choices;
    choices.push_back(std::move(choice));
    body["choices"] = std::move(choices);
    body["usage"] = Usage();
    m_sink->OnHead({200, "application/json", {}});
    m_sink->OnData(json::serialize(body));
    End({});
  }

  void AnswerEmbeddings() {
    json::array data;
    int64_t tokens = 0;
    for (size_t i = 0; i < m_ask.inputs.size(); ++i) {
      const std::vector<uint8_t> ids = CharLanguageModel::Encode(m_ask.inputs[i]);
      tokens += static_cast<int64_t>(ids.size());
      const std::vector<float> values = m_model->Embed(ids);
      json::object item;
      item["object"] = "embedding";
      item["index"] = static_cast<int64_t>(i);
      if (m_ask.base64) {
        // x86 and ARM are little-endian, as the format wants.
        std::string encoded(4 * ((values.size() * sizeof(float) + 2) / 3), '\0');
        const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                      reinterpret_cast<const unsigned char*>(values.data()),
                                      static_cast<int>(values.size() * sizeof(float)));
        encoded.resize(static_cast<size_t>(std::max(n, 0)));
        item["embedding"] = encoded;
      } else {
        json::array vector;
        for (const float v : values) vector.push_back(v);
        item["embedding"] = std::move(vector);
      }
      data.push_back(std::move(item));
    }
    json::object body;
    body["object"] = "list";
    body["data"] = std::move(data);
    body["model"] = m_model_name;
    json::object usage;
    usage["prompt_tokens"] = tokens;
    usage["total_tokens"] = tokens;
    body["usage"] = std::move(usage);
    m_sink->OnHead({200, "application/json", {}});
    m_sink->OnData(json::serialize(body));
    End({});
  }

  void End(GenerationEnd end) {
    m_ended = true;
    m_sink->OnEnd(std::move(end));
    m_sink.reset();
  }

  const std::shared_ptr<const CharLanguageModel> m_model;
  const Ask m_ask;
  const GenerationRequest m_request;
  std::shared_ptr<GenerationSink> m_sink;
  std::shared_ptr<std::atomic<int>> m_running;
  asio::strand<asio::io_context::executor_type> m_strand;
  asio::steady_timer m_timer;
  std::mt19937_64 m_rng;
  std::vector<uint8_t> m_history;
  std::string m_text;
  std::string m_model_name;
  int64_t m_prompt_tokens = 0;
  int64_t m_completion_tokens = 0;
  std::chrono::steady_clock::time_point m_next;
  bool m_sent_role = false;
  bool m_cancelled = false;
  bool m_ended = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BuiltinLmBackend>> BuiltinLmBackend::Open(
    const std::string& model_file) {
  absl::StatusOr<std::shared_ptr<const CharLanguageModel>> model =
      CharLanguageModel::Load(model_file);
  if (!model.ok()) return model.status();
  return std::unique_ptr<BuiltinLmBackend>(new BuiltinLmBackend(std::move(*model), model_file));
}

BuiltinLmBackend::BuiltinLmBackend(std::shared_ptr<const CharLanguageModel> model, std::string file)
    : m_model(std::move(model)), m_file(std::move(file)) {}

void BuiltinLmBackend::Infer(const inference::ModelInferRequest&, inference::ModelInferResponse*,
                             InferCompletion* done, const std::string&) {
  done->OnInferDone({grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                  "version '" + m_model->Version() +
                                      "' is a language model: it takes the OpenAI API on the "
                                      "agent's HTTP data plane (--http-listen), not ModelInfer"),
                     true});
}

grpc::Status BuiltinLmBackend::Probe(std::chrono::milliseconds, const std::string&) {
  std::mt19937_64 rng(1);
  std::vector<uint8_t> history = CharLanguageModel::Encode("The ");
  for (int i = 0; i < 4; ++i) history.push_back(m_model->Next(history, 0.0, rng));
  if (history.size() != 8) return {grpc::StatusCode::INTERNAL, "the model did not generate"};
  return grpc::Status::OK;
}

BackendDescription BuiltinLmBackend::Description() const {
  BackendDescription d;
  d.kind = "builtin-lm";
  d.target = m_file;
  d.platform = "greylane_builtin_charlm";
  return d;
}

std::shared_ptr<GenerationCall> BuiltinLmBackend::Generate(GenerationRequest request,
                                                           std::shared_ptr<GenerationSink> sink) {
  Ask ask;
  if (std::string problem = ReadAsk(request, &ask); !problem.empty()) {
    sink->OnEnd({GenerationFailure::kRefused, problem});
    return FinishedCall();
  }
  if (ask.endpoint == Endpoint::kModels) {
    json::object model;
    model["id"] = m_model->ModelName();
    model["object"] = "model";
    model["created"] = UnixSeconds();
    model["owned_by"] = "greylane";
    model["root"] = m_model->Version();
    json::array data;
    data.push_back(std::move(model));
    json::object body;
    body["object"] = "list";
    body["data"] = std::move(data);
    sink->OnHead({200, "application/json", {}});
    sink->OnData(json::serialize(body));
    sink->OnEnd({});
    return FinishedCall();
  }
  if (m_running->fetch_add(1) >= kMaxConcurrent) {
    m_running->fetch_sub(1);
    sink->OnEnd({GenerationFailure::kUpstream, "the built-in model is generating " +
                                                   std::to_string(kMaxConcurrent) +
                                                   " answers already (its batch is full)"});
    return FinishedCall();
  }
  auto call = std::make_shared<LmGeneration>(m_model, std::move(ask), std::move(request),
                                             std::move(sink), m_running);
  call->Start();
  return call;
}

}  // namespace greylane
