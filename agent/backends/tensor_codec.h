#pragma once
// Reads an FP32 [N, width] input tensor out of a ModelInferRequest (raw or
// typed contents) and writes an FP32 [N, width] output the same way, with a
// message a client can act on for every way a request can be malformed;
// and finds the class a response's scores rank highest, for the outcome
// quality the analysis judges (any backend's answer, upstream ones too).
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

// Where the first output of a response keeps one score per class for each
// row: FP32 or FP64, shape [rows, classes] or [classes], typed or raw
// contents. Not a class score (one value per row, another type, a size
// that does not match the shape, a hostile shape): rows == 0.
struct ClassScores {
  int64_t rows = 0;
  int64_t classes = 0;
  bool fp64 = false;
  const char* bytes = nullptr;  // raw contents (any alignment), else null
};
ClassScores FindClassScores(const inference::ModelInferResponse& response);
// The class row `row` ranks highest (the first of equals).
int TopClass(const inference::ModelInferResponse& response, const ClassScores& scores, int64_t row);
// Swaps the top score of `row` with the next class's, so the answer's top
// class moves to the next one (a wrong-answer drill).
void MoveTopClass(inference::ModelInferResponse* response, const ClassScores& scores, int64_t row);

}  // namespace greylane
