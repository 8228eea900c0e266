#include "agent/server/raw_unary.h"

#include "common/text.h"

namespace greylane {

grpc::Status Bounded(const grpc::Status& status) {
  constexpr size_t kMaxMessageBytes = 1024;
  if (status.ok()) return status;
  const std::string& message = status.error_message();
  if (message.size() <= kMaxMessageBytes && IsValidUtf8(message)) return status;
  return {status.error_code(), ClampText(message, kMaxMessageBytes)};
}

}  // namespace greylane
