#pragma once
// Reads an FP32 [N, width] input tensor out of a ModelInferRequest (raw or
// typed contents) and writes an FP32 [N, width] output the same way, with a
// message a client can act on for every way a request can be malformed.
#include <cstdint>
#include <string>
#include <vector>

#include "inference/grpc_service.pb.h"

namespace greylane {

struct Fp32Matrix {
  const float* data = nullptr;
  int64_t rows = 0;
  bool raw = false;  // the request used raw_input_contents; answer in kind
};

struct Fp32InputSpec {
  std::string name;
  int64_t width = 0;
  int64_t max_rows = 1024;
};

// Empty string when the request holds a valid input; else what is wrong.
// `scratch` backs the data when the raw bytes are not float-aligned.
std::string DecodeFp32Input(const inference::ModelInferRequest& request, const Fp32InputSpec& spec,
                            std::vector<float>* scratch, Fp32Matrix* out);

// Empty string when every requested output is `output_name`.
std::string CheckRequestedOutputs(const inference::ModelInferRequest& request,
                                  const std::string& output_name);

// Appends the output tensor header and returns where to write rows x width floats.
float* AddFp32Output(inference::ModelInferResponse* response, const std::string& name, int64_t rows,
                     int64_t width, bool raw);

}  // namespace greylane
