// libFuzzer: an Open Inference Protocol ModelInferRequest as it arrives on
// the data plane, through protobuf parsing, the FP32 tensor decoder and the
// built-in model: every request is answered or refused with a reason.
#include <cstddef>
#include <cstdint>
#include <memory>

#include <google/protobuf/stubs/logging.h>

#include "agent/backends/builtin_backend.h"
#include "common/models_dir.h"

namespace {
greylane::BuiltinBackend& Backend() {
  static std::unique_ptr<greylane::BuiltinBackend> backend = [] {
    auto opened = greylane::BuiltinBackend::Open(greylane::FindModelsDir() + "/digits-v1.glm");
    if (!opened.ok()) __builtin_trap();
    return std::move(*opened);
  }();
  return *backend;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // parse failures are expected here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  inference::ModelInferResponse response;
  const greylane::InferOutcome outcome = Backend().Compute(request, &response);
  if (!outcome.status.ok() && (!outcome.client_error || outcome.status.error_message().empty())) {
    __builtin_trap();  // a bad tensor is the client's error, and says why
  }
  return 0;
}
