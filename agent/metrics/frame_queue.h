#pragma once
// A subscriber's bounded backlog of frames. When full, the oldest frame is
// dropped and the next frame handed out says how many were lost, so a slow
// reader costs only itself. Not thread-safe: its owner locks.
#include <cstdint>
#include <deque>

#include "agent/metrics/metrics_hub.h"

namespace greylane {

class FrameQueue {
 public:
  explicit FrameQueue(size_t capacity = 32) : m_capacity(capacity ? capacity : 1) {}

  void SetCapacity(size_t capacity) { m_capacity = capacity ? capacity : 1; }
  void Push(FramePtr frame, bool backfill = false);
  bool Empty() const { return m_frames.empty(); }
  size_t Size() const { return m_frames.size(); }
  // The oldest frame, marked with the drops since the previous Pop.
  FramePtr Pop();
  void Clear() { m_frames.clear(); }
  uint64_t DroppedTotal() const { return m_dropped_total; }

 private:
  struct Entry {
    FramePtr frame;
    bool backfill;
  };
  size_t m_capacity;
  std::deque<Entry> m_frames;
  uint64_t m_dropped_pending = 0;
  uint64_t m_dropped_total = 0;
};

}  // namespace greylane
