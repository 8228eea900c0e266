#pragma once
// The figures of the step in progress: every sealed second merged per
// version since the last change, so the change that ends the step can write
// them into its audit row. Step boundaries are whole seconds: the second in
// which a change happens counts toward the step it begins.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/window_merge.h"
#include "common/audit_record.h"
#include "greylane/v1/agent.pb.h"

namespace greylane {

class StepLedger {
 public:
  explicit StepLedger(int64_t started_unix_ms);

  // The ticker, once a second.
  void Add(const v1::MetricsFrame& frame);

  // The step so far, as if it ended at `now`. Until Commit or Abandon,
  // seconds that arrive count toward both this step and the next, so a
  // change whose row cannot be written loses nothing.
  AuditStep Peek(int64_t now_unix_ms, uint32_t candidate_basis_points);
  // The change was recorded: the next step starts at the peeked end.
  void Commit();
  void Abandon();

 private:
  absl::Mutex m_mutex;
  int64_t m_started ABSL_GUARDED_BY(m_mutex);
  std::vector<MergedWindow> m_current ABSL_GUARDED_BY(m_mutex);
  bool m_peeked ABSL_GUARDED_BY(m_mutex) = false;
  int64_t m_peeked_end ABSL_GUARDED_BY(m_mutex) = 0;
  std::vector<MergedWindow> m_since_peek ABSL_GUARDED_BY(m_mutex);
};

}  // namespace greylane
