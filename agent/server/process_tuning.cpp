#include "agent/server/process_tuning.h"

#include <absl/synchronization/mutex.h>

namespace greylane {

void ApplyServerProcessTuning() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace greylane
