#pragma once
// Refused attempts (denied for the caller's role, or rejected as invalid)
// belong in the audit trail, but a flood of them must not fill the disk: a
// viewer looping on SetSplit once filled a 16 MB volume in 1.3 s, after
// which the operator's rollback could not be written. Per identity, action
// and outcome, the first few attempts in a window get a row each; the rest
// are counted, and one summary row with the count follows when the window
// closes. The trail then grows by at most (kRowsPerWindow + 1) rows per
// identity, action and outcome a minute, whatever the rate of attempts.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/audit_record.h"

namespace greylane {

class RefusalLedger {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kRowsPerWindow = 10;
  static constexpr std::chrono::seconds kWindow{60};
  // More keys than this (identities x actions x outcomes) share one entry.
  static constexpr size_t kMaxKeys = 1024;

  // True: record this attempt as a row of its own. False: it was counted.
  bool Admit(const AuditRecord& row, Clock::time_point now);
  // Summary rows for windows that have closed by `now` with attempts
  // counted (every open window when `all`, at shutdown). Their before and
  // after states are the caller's to fill.
  std::vector<AuditRecord> TakeSummaries(Clock::time_point now, bool all);
  // Attempts counted and not yet summarised.
  uint64_t Counted() const;

 private:
  struct Window {
    Clock::time_point start;
    int rows = 0;
    uint64_t counted = 0;
    int64_t first_counted_unix_ms = 0;
    int64_t last_counted_unix_ms = 0;
    AuditRecord last;  // the newest counted attempt
  };
  std::map<std::string, Window> m_windows;
};

}  // namespace greylane
