#pragma once
// The audit trail on disk: SQLite in WAL mode, synchronous FULL. Each row is
// appended in one transaction together with the release state it produced
// (when it changed anything), so after any crash the stored state is exactly
// that of the last committed `ok` row. Writes go through one connection,
// serialised; reads use a second connection and never wait on a write.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/audit/audit_export.h"
#include "agent/audit/audit_record.h"

struct sqlite3;
struct sqlite3_stmt;

namespace greylane {

class AuditLog {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  static std::unique_ptr<AuditLog> Open(const std::string& path, Mode mode, std::string* error);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Assigns the sequence, time (unless set), prev_hash and hash, then stores
  // the row and, when given, the release state, durably. False on failure
  // (disk full, read-only...), with nothing stored.
  bool Append(AuditRecord* record, const std::string* state_blob, std::string* error);

  // The release state last stored, and the sequence of the row that stored it.
  std::optional<std::string> LoadState(uint64_t* sequence);
  std::vector<AuditRecord> List(uint64_t after_sequence, size_t limit);
  std::optional<AuditRecord> Last();
  // The newest row's sequence (0 for an empty trail), without a query.
  uint64_t LastSequence();
  // Recomputes the whole chain from the rows on disk.
  ChainVerdict Verify();
  // Moves committed WAL pages into the database file without blocking
  // writers. Appends never checkpoint themselves (that put multi-ms spikes
  // into Rollback), so the agent calls this from a background thread.
  void Checkpoint();
  const std::string& Path() const { return m_path; }

 private:
  AuditLog() = default;
  bool Exec(sqlite3* db, const char* sql, std::string* error);

  std::string m_path;
  std::mutex m_write_mutex;
  sqlite3* m_writer = nullptr;
  sqlite3_stmt* m_insert_row = nullptr;  // prepared once: preparing cost ~tens of us per append
  sqlite3_stmt* m_store_state = nullptr;
  std::mutex m_checkpoint_mutex;
  sqlite3* m_checkpointer = nullptr;
  std::mutex m_read_mutex;
  sqlite3* m_reader = nullptr;
  uint64_t m_last_sequence = 0;
  std::string m_last_hash = kGenesisHash;
};

}  // namespace greylane
