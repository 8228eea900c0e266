#include "agent/server/refusal_ledger.h"

#include "common/audit_export.h"
#include "common/unix_time.h"

namespace greylane {
bool RefusalLedger::Admit(const AuditRecord& row, Clock::time_point now) {
  std::string key = row.actor + '\n' + row.action + '\n' + row.outcome;
  if (!m_windows.count(key) && m_windows.size() >= kMaxKeys) key = "*";
  Window& w = m_windows[key];
  if (w.rows == 0 && w.counted == 0) w.start = now;
  if (now - w.start >= kWindow && w.counted == 0) {
    w = Window{};  // a quiet window closes without a summary
    w.start = now;
  }
  if (w.rows < kRowsPerWindow && w.counted == 0) {
    ++w.rows;
    return true;
  }
  const int64_t unix_ms = row.time_unix_ms ? row.time_unix_ms : NowUnixMillis();
  if (w.counted == 0) w.first_counted_unix_ms = unix_ms;
  w.last_counted_unix_ms = unix_ms;
  ++w.counted;
  w.last = row;
  return false;
}

std::vector<AuditRecord> RefusalLedger::TakeSummaries(Clock::time_point now, bool all) {
  std::vector<AuditRecord> rows;
  for (auto it = m_windows.begin(); it != m_windows.end();) {
    Window& w = it->second;
    if (!all && now - w.start < kWindow) {
      ++it;
      continue;
    }
    if (w.counted > 0) {
      AuditRecord row = w.last;
      row.sequence = 0;
      row.time_unix_ms = 0;
      row.evidence = std::to_string(w.counted) + " more " + row.outcome + " " + row.action +
                     " attempts by this identity from " + AuditIsoTime(w.first_counted_unix_ms) +
                     " to " + AuditIsoTime(w.last_counted_unix_ms) +
                     " were counted, not recorded one by one (at most " +
                     std::to_string(kRowsPerWindow) +
                     " rows each minute); this row carries the last one's reason. Its answer: " +
                     w.last.evidence;
      rows.push_back(std::move(row));
    }
    it = m_windows.erase(it);
  }
  return rows;
}

uint64_t RefusalLedger::Counted() const {
  uint64_t n = 0;
  for (const auto& [key, w] : m_windows) n += w.counted;
  return n;
}

}  // namespace greylane
