#pragma once
// Unary methods that take their request as bytes and parse it here.
// gRPC 1.51 answers a request that does not parse (a damaged message, or a
// proto3 string that is not valid UTF-8) with UNIMPLEMENTED and an empty
// message before any handler runs: the caller cannot tell what is wrong
// and the data plane cannot count it. Parsed here, it is INVALID_ARGUMENT
// with a reason, and counted as the client's error.
#include <string>

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

namespace greylane {

template <typename Message>
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes, Message* out) {
  grpc::ByteBuffer copy(bytes);  // Deserialize consumes its buffer; the copy shares the slices
  if (grpc::SerializationTraits<Message>::Deserialize(&copy, out).ok()) return grpc::Status::OK;
  return {grpc::StatusCode::INVALID_ARGUMENT,
          "the request is not a valid " + std::string(Message::descriptor()->full_name()) + " (" +
              std::to_string(bytes.Length()) +
              " bytes): a damaged message, or a string field that is not valid UTF-8"};
}

template <typename Message>
grpc::Status SerializeResponse(const Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, out, &own_buffer);
}

// The status with its message as bounded, valid UTF-8: a message quoting an
// oversized input would otherwise overflow the peer's metadata limit.
grpc::Status Bounded(const grpc::Status& status);

inline grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx,
                                           const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(Bounded(status));
  return reactor;
}

}  // namespace greylane
