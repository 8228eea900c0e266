#include "agent/backends/backend.h"

#include <algorithm>
#include <cctype>

#include "common/text.h"

namespace greylane {

std::string ForwardingName(std::string_view agent_id) {
  const bool plain = !agent_id.empty() && std::all_of(agent_id.begin(), agent_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
  return plain ? std::string(agent_id) : "hex-" + HexEncode(agent_id);
}

std::shared_ptr<GenerationCall> FinishedCall() {
  class Finished final : public GenerationCall {
   public:
    void Cancel() override {}
  };
  return std::make_shared<Finished>();
}

std::shared_ptr<GenerationCall> Backend::Generate(GenerationRequest,
                                                  std::shared_ptr<GenerationSink> sink) {
  sink->OnEnd(
      {GenerationFailure::kRefused, "this version serves a tensor model (" + Description().kind +
                                        "): it takes the Open Inference Protocol (gRPC, or POST "
                                        "/v2/models/.../infer), not the OpenAI API"});
  return FinishedCall();
}

}  // namespace greylane
