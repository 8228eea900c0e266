#include "agent/server/control_service.h"

#include "agent/metrics/frame_queue.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace greylane {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, grpc::Status status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

// Streams frames to one subscriber. Frames queue here and are written one
// at a time; a subscriber that reads too slowly loses its oldest frames,
// never the agent's time, and learns how many from `dropped_before`.
class MetricsWriter final : public grpc::ServerWriteReactor<v1::MetricsFrame>, public FrameSink {
 public:
  MetricsWriter(MetricsHub& hub, uint32_t backfill) : m_hub(hub) {
    m_hub.Subscribe(this, backfill);
  }

  void OnBackfill(std::vector<FramePtr> history) override {
    std::lock_guard lock(m_mutex);
    m_queue.SetCapacity(history.size() + kSubscriberLagFrames);
    for (FramePtr& frame : history) m_queue.Push(std::move(frame), true);
    WriteNextLocked();
  }

  void OnFrame(const FramePtr& frame) override {
    std::lock_guard lock(m_mutex);
    if (m_finished) return;
    m_queue.Push(frame);
    WriteNextLocked();
  }

  void OnClosed() override {
    std::lock_guard lock(m_mutex);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down"));
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(m_mutex);
    m_writing = false;
    m_in_write.reset();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return;
    }
    if (m_closing) {
      FinishLocked(m_close_status);
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(m_mutex);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    m_hub.Unsubscribe(this);
    delete this;
  }

 private:
  void WriteNextLocked() {
    if (m_writing || m_finished || m_closing || m_queue.Empty()) return;
    m_in_write = m_queue.Pop();
    m_writing = true;
    StartWrite(m_in_write.get());
  }

  // Finish only once, and never while a write is outstanding.
  void FinishLocked(grpc::Status status) {
    if (m_finished) return;
    if (m_writing) {
      m_closing = true;
      m_close_status = std::move(status);
      return;
    }
    m_finished = true;
    m_queue.Clear();
    Finish(std::move(status));
  }

  MetricsHub& m_hub;
  std::mutex m_mutex;
  FrameQueue m_queue;
  FramePtr m_in_write;
  bool m_writing = false;
  bool m_closing = false;
  bool m_finished = false;
  grpc::Status m_close_status;
};

}  // namespace

ControlService::ControlService(CanaryPair& pair, MetricsHub& hub, AgentIdentity identity)
    : m_pair(pair), m_hub(hub), m_identity(std::move(identity)) {}

v1::AgentState ControlService::State() const {
  v1::AgentState state;
  state.set_agent_id(m_identity.agent_id);
  state.set_node_name(m_identity.node_name);
  state.set_model_name(m_identity.model_name);
  state.set_sticky_header(m_identity.sticky_header);
  state.set_agent_version(m_identity.agent_version);
  state.set_started_unix_ms(m_identity.started_unix_ms);
  for (const SlotId slot : {SlotId::kBaseline, SlotId::kCandidate}) {
    const SlotVersion& version = m_pair.Version(slot);
    const BackendDescription d = version.backend->Description();
    const SlotHealth health = m_pair.Health(slot);
    auto* v = state.add_versions();
    v->set_slot(ToProto(slot));
    v->set_version(version.version);
    v->set_backend_kind(d.kind);
    v->set_backend_target(d.target);
    v->set_health(health.health);
    v->set_health_detail(health.detail);
    v->set_health_checked_unix_ms(health.checked_unix_ms);
  }
  const SplitValue split = m_pair.Split().Load();
  state.mutable_split()->set_candidate_basis_points(split.candidate_basis_points);
  state.mutable_split()->set_revision(split.revision);
  return state;
}

grpc::ServerUnaryReactor* ControlService::GetState(grpc::CallbackServerContext* ctx,
                                                   const v1::GetStateRequest*,
                                                   v1::AgentState* response) {
  *response = State();
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlService::SetSplit(grpc::CallbackServerContext* ctx,
                                                   const v1::SetSplitRequest* request,
                                                   v1::AgentState* response) {
  const uint32_t bp = request->candidate_basis_points();
  if (bp > kMaxBasisPoints) {
    return FinishNow(
        ctx, {grpc::StatusCode::INVALID_ARGUMENT,
              "candidate_basis_points must be 0..10000 (0.01 % steps), got " + std::to_string(bp)});
  }
  if (request->reason().empty()) {
    return FinishNow(ctx, {grpc::StatusCode::INVALID_ARGUMENT,
                           "a reason is required: say why the split changes"});
  }
  if (request->reason().size() > kMaxReasonBytes) {
    return FinishNow(ctx, {grpc::StatusCode::INVALID_ARGUMENT,
                           "the reason is " + std::to_string(request->reason().size()) +
                               " bytes; at most " + std::to_string(kMaxReasonBytes)});
  }
  const auto [split, changed] = m_pair.Split().CompareAndSet(request->expected_revision(), bp);
  if (!changed) {
    return FinishNow(
        ctx,
        {grpc::StatusCode::ABORTED,
         "the split changed since revision " + std::to_string(request->expected_revision()) +
             ": it is now " + std::to_string(split.candidate_basis_points) + " bp at revision " +
             std::to_string(split.revision) + "; re-read the state and decide again"});
  }
  std::fprintf(stderr, "greylane-agent: split -> %u bp (revision %llu) from %s: %s\n", bp,
               static_cast<unsigned long long>(split.revision), ctx->peer().c_str(),
               request->reason().c_str());
  *response = State();
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::MetricsFrame>* ControlService::WatchMetrics(
    grpc::CallbackServerContext*, const v1::WatchMetricsRequest* request) {
  const auto backfill =
      static_cast<uint32_t>(std::min<size_t>(request->backfill_seconds(), m_hub.RingCapacity()));
  return new MetricsWriter(m_hub, backfill);
}

}  // namespace greylane
