#include "agent/server/outcome_service.h"

#include <charconv>

#include "agent/server/raw_unary.h"
#include "common/text.h"

namespace greylane {
namespace {
// A class index: decimal digits only ("7"), at most 2^24.
bool ParseLabel(std::string_view text, int* out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0 ||
      value > (1 << 24))
    return false;
  *out = value;
  return true;
}
}  // namespace

grpc::Status OutcomeService::Record(const v1::RecordOutcomeRequest& r,
                                    v1::RecordOutcomeResponse* out) {
  using grpc::StatusCode;
  if (r.request_id().empty() || r.request_id().size() > kMaxRequestIdBytes) {
    return {StatusCode::INVALID_ARGUMENT,
            "request_id must be the id of a ModelInfer response (1 to " +
                std::to_string(kMaxRequestIdBytes) + " bytes)"};
  }
  int label = -1;
  switch (r.truth_case()) {
    case v1::RecordOutcomeRequest::kLabel:
      if (!ParseLabel(r.label(), &label)) {
        return {StatusCode::INVALID_ARGUMENT,
                "label " + Quote(r.label(), 64) +
                    " is not a class index: send the index of the true class as the model's "
                    "output orders them (e.g. \"7\"), or correct=true/false"};
      }
      break;
    case v1::RecordOutcomeRequest::kCorrect:
      break;
    default:
      return {StatusCode::INVALID_ARGUMENT,
              "an outcome needs label (the true class index) or correct (true/false)"};
  }
  ServedRequest served;
  const std::string id = Quote(r.request_id(), 80);
  switch (m_ledger.Claim(r.request_id(), label, &served)) {
    case OutcomeClaim::kUnknown:
      return {StatusCode::NOT_FOUND,
              "request " + id + " is not among the last " + std::to_string(m_ledger.Capacity()) +
                  " requests this agent answered (never served here, failed, or forgotten)"};
    case OutcomeClaim::kAlreadyRecorded:
      return {StatusCode::ALREADY_EXISTS,
              "request " + id + " already has an outcome; each request counts once"};
    case OutcomeClaim::kNoPrediction:
      return {StatusCode::FAILED_PRECONDITION,
              "request " + id +
                  " has no single predicted class (a batch, or an answer without a score per "
                  "class) to compare a label with: send correct=true/false for it instead"};
    case OutcomeClaim::kLabelNotAClass:
      return {StatusCode::INVALID_ARGUMENT,
              "label " + std::to_string(label) + " is not a class of the answer to request " + id +
                  ": it scored classes 0 to " + std::to_string(served.classes - 1) +
                  " (labels count from 0, in the order of the model's output)"};
    case OutcomeClaim::kClaimed:
      break;
  }
  if (served.version != &m_pair.VersionAt(served.slot)) {
    return {StatusCode::FAILED_PRECONDITION,
            "request " + id + " was answered by " + Quote(served.version->version) +
                ", which has since been replaced in its slot; the outcome is not counted"};
  }
  const bool correct = label >= 0 ? label == served.predicted : r.correct();
  m_pair.RecorderAt(served.slot).RecordOutcome(correct);
  out->set_version(served.version->version);
  out->set_slot(ToProto(CanaryPair::RoleOf(served.slot, m_pair.Split().Load())));
  out->set_correct(correct);
  out->set_predicted(served.predicted);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* OutcomeService::RecordOutcome(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* raw,
                                                        grpc::ByteBuffer* response) {
  v1::RecordOutcomeRequest request;
  grpc::Status status = ParseRequest(*raw, &request);
  v1::RecordOutcomeResponse answer;
  if (status.ok()) status = Record(request, &answer);
  if (status.ok()) status = SerializeResponse(answer, response);
  return FinishNow(ctx, status);
}

}  // namespace greylane
