#pragma once
// Seals the one-second windows into MetricsFrames, keeps them in a ring
// (17 minutes at the default size) and fans them out to subscribers.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/version_recorder.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

using FramePtr = std::shared_ptr<const v1::MetricsFrame>;

// Receives frames. Every call comes with the hub's lock held, so a sink
// must only queue (never block); Unsubscribe() returning means no call is in
// progress or will follow.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // History, oldest first, before any live frame.
  virtual void OnBackfill(std::vector<FramePtr> history) = 0;
  virtual void OnFrame(const FramePtr& frame) = 0;
  // The hub is going away (agent shutdown): finish up.
  virtual void OnClosed() = 0;
};

struct WindowSource {
  v1::Slot slot;
  std::string version;
  VersionRecorder* recorder;
};

class MetricsHub {
 public:
  static constexpr size_t kDefaultRingFrames = 1024;

  explicit MetricsHub(std::string agent_id, size_t ring_frames = kDefaultRingFrames);

  // Seals the window that ends now: counters since the previous call.
  // Serialised internally; the agent's ticker calls it once a second.
  // `annotate` (may be empty) adds to the frame before anyone sees it (the
  // analysis's verdict of this very second).
  FramePtr Seal(int64_t window_end_unix_ms, uint64_t split_revision,
                uint32_t candidate_basis_points, std::span<const WindowSource> sources,
                const std::function<void(v1::MetricsFrame*)>& annotate = {});

  // Hands the sink up to `backfill` newest frames, then registers it for
  // live ones, atomically: no frame is missed or repeated.
  void Subscribe(FrameSink* sink, uint32_t backfill);
  void Unsubscribe(FrameSink* sink);
  void CloseSinks();
  size_t SubscriberCount() const;
  std::vector<FramePtr> Recent(size_t count) const;
  size_t RingCapacity() const { return m_ring_frames; }

 private:
  const std::string m_agent_id;
  const size_t m_ring_frames;
  absl::Mutex m_seal_mutex;  // taken before m_mutex, never after it
  std::vector<VersionTotals> m_previous ABSL_GUARDED_BY(m_seal_mutex);  // per source index
  mutable absl::Mutex m_mutex;
  std::deque<FramePtr> m_ring ABSL_GUARDED_BY(m_mutex);
  std::vector<FrameSink*> m_sinks ABSL_GUARDED_BY(m_mutex);
  bool m_closed ABSL_GUARDED_BY(m_mutex) = false;
  uint64_t m_sequence ABSL_GUARDED_BY(m_mutex) = 0;
};

}  // namespace greylane
