#pragma once
// The Open Inference Protocol's REST form of ModelInfer (JSON bodies, KServe
// v2 / Triton), read into and written from the gRPC messages, so the HTTP
// plane routes it through the same code and backends as gRPC ModelInfer.
//
// Requests: id, parameters, inputs[] {name, shape, datatype, parameters,
// data} with data flat or nested row-major, outputs[] {name, parameters}.
// Every input is sent on as raw_input_contents (little-endian, BYTES with a
// 4-byte length per element), which covers FP16/BF16 too; the protocol
// forbids mixing raw and typed inputs. Triton's binary-data extension (a
// JSON header followed by raw bytes) is not read: such a request is refused
// with a message saying so. Written by hand: no Debian library converts
// between the two forms.
#include <string>
#include <string_view>

#include "inference/grpc_service.pb.h"

namespace greylane {

// Fills `out` from a JSON body (model name and version are the caller's,
// from the URL). Empty when it could; else what is wrong, for a person.
std::string ReadRestInferRequest(std::string_view body, inference::ModelInferRequest* out);

// The JSON answer for a response, typed or raw outputs alike. Empty with
// `problem` set when the response is malformed (a raw output whose size
// does not match its shape and type).
std::string RestInferResponse(const inference::ModelInferResponse& response, std::string* problem);

// The protocol's error body: {"error": "<message>"}.
std::string RestErrorBody(std::string_view message);

// Half-precision conversions (IEEE 754 binary16 and bfloat16), rounding to
// nearest even; exposed for the tests.
uint16_t HalfBits(float value);
float HalfValue(uint16_t bits);
uint16_t Bfloat16Bits(float value);
float Bfloat16Value(uint16_t bits);

}  // namespace greylane
