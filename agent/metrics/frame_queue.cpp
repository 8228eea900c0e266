#include "agent/metrics/frame_queue.h"

namespace greylane {

void FrameQueue::Push(FramePtr frame, bool backfill) {
  if (m_frames.size() >= m_capacity) {
    m_frames.pop_front();
    ++m_dropped_pending;
    ++m_dropped_total;
  }
  m_frames.push_back({std::move(frame), backfill});
}

FramePtr FrameQueue::Pop() {
  Entry entry = std::move(m_frames.front());
  m_frames.pop_front();
  if (m_dropped_pending == 0 && !entry.backfill) return entry.frame;
  // Frames are shared by every subscriber: mark a copy.
  auto marked = std::make_shared<v1::MetricsFrame>(*entry.frame);
  marked->set_dropped_before(m_dropped_pending);
  marked->set_backfill(entry.backfill);
  m_dropped_pending = 0;
  return marked;
}

}  // namespace greylane
