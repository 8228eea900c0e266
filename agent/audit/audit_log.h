#pragma once
// The audit trail on disk: SQLite in WAL mode, synchronous FULL. Each row is
// appended in one transaction together with the release state it produced
// (when it changed anything), so after any crash the stored state is exactly
// that of the last committed row. Writes go through one connection,
// serialised; reads use a second connection and never wait on a write; a
// third, on a background thread, checkpoints the write-ahead log so it stays
// small.
//
// Safety actions (a rollback) may not wait for the disk: when the trail
// cannot be written (disk full, I/O error) their rows go to a journal file
// reserved beside the database at start-up (written in place, so it needs no
// new space) or, if even that fails, stay in memory; either way they are
// chained like any row and written to the trail as soon as it can be
// written, and a restart writes the journal's rows first.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/audit_record.h"

struct sqlite3;
struct sqlite3_stmt;

namespace greylane {

// A page of rows for a reader ends here, well under gRPC's 4 MiB default.
inline constexpr size_t kAuditPageBytes = 1u << 20;

struct AuditLogOptions {
  // A journal that is missing (the database says one was made) or damaged
  // may have held rows not yet in the trail: opening fails unless this
  // accepts the trail as it stands (--recover-state).
  bool accept_lost_journal = false;
};

class AuditLog {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  // Where a safety row went.
  enum class Durability { kTrail, kJournal, kMemory };
  using Options = AuditLogOptions;

  // Read-only opens touch nothing: no -wal/-shm files are created, and a
  // database in a read-only folder can be read.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path, Mode mode,
                                                        Options options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Bounds the row's fields, assigns the sequence, time (unless set),
  // prev_hash and hash, then stores the row and, when given, the release
  // state, durably. Pending rows are written first; an error stores nothing.
  absl::Status Append(AuditRecord* record, const std::string* state_blob);
  // The same for an action that must take effect anyway: never fails to
  // assign the row its place in the chain; says where it was kept and, when
  // not in the trail, why (`why`).
  Durability AppendSafety(AuditRecord* record, const std::string* state_blob, std::string* why);
  // Writes pending rows to the trail. OK when none remain.
  absl::Status FlushPending();
  // Once a second: makes a journal again if its file was removed under the
  // agent, then writes pending rows if the trail takes them.
  void Keep();
  // What became of a lost journal at open (empty when nothing did).
  const std::string& JournalNote() const { return m_journal_note; }
  // Rows chained but not yet in the database, and why.
  size_t PendingRows(std::string* detail = nullptr);

  // The release state last stored (pending rows included), and the sequence
  // of the row that stored it.
  std::optional<std::string> LoadState(uint64_t* sequence);
  // Rows after a sequence, oldest first: at most max_rows, and stopping
  // once max_bytes of row text are gathered (at least one row).
  std::vector<AuditRecord> List(uint64_t after_sequence, size_t max_rows,
                                size_t max_bytes = kAuditPageBytes);
  std::optional<AuditRecord> Last();
  // The newest row's sequence (0 for an empty trail), pending rows included.
  uint64_t LastSequence();
  // Recomputes the whole chain from the rows on disk (and pending ones).
  ChainVerdict Verify();
  // Moves committed WAL pages into the database file without blocking
  // writers. The background thread does this every 2 s and whenever the
  // log passes about 4 MiB; tests call it to be sure.
  void Checkpoint();
  const std::string& Path() const { return m_path; }

 private:
  struct PendingRow {
    AuditRecord record;
    std::optional<std::string> state;
  };
  class Journal;

  AuditLog() = default;
  absl::Status OpenReadWrite(const Options& options);
  absl::Status OpenJournal(const Options& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  absl::Status OpenReadOnly();
  absl::Status Exec(sqlite3* db, const char* sql);
  absl::Status Insert(const AuditRecord& row, const std::string* state_blob)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  absl::Status FlushPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  void ChainLocked(AuditRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  absl::Status ReplayJournal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  absl::Status SaveJournal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_write_mutex);
  std::optional<AuditRecord> LastStored();
  void CheckpointLoop();
  bool KeeperWoken() const ABSL_SHARED_LOCKS_REQUIRED(m_keeper_mutex) {
    return m_stopping || m_checkpoint_wanted;
  }
  std::optional<AuditRecord> StoredRow(uint64_t sequence);
  void RequestCheckpoint();
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);

  std::string m_path;
  std::string m_columns;  // what a SELECT of a whole row names; set once at open
  std::string m_journal_note;
  std::string m_journal_id;  // the journal this database owns (meta `pending_journal`)

  absl::Mutex m_write_mutex;
  sqlite3* m_writer ABSL_GUARDED_BY(m_write_mutex) = nullptr;
  sqlite3_stmt* m_insert_row ABSL_GUARDED_BY(m_write_mutex) = nullptr;
  sqlite3_stmt* m_store_state ABSL_GUARDED_BY(m_write_mutex) = nullptr;
  uint64_t m_last_sequence ABSL_GUARDED_BY(m_write_mutex) = 0;
  std::string m_last_hash ABSL_GUARDED_BY(m_write_mutex) = kGenesisHash;
  std::vector<PendingRow> m_pending ABSL_GUARDED_BY(m_write_mutex);
  std::string m_pending_why ABSL_GUARDED_BY(m_write_mutex);
  std::unique_ptr<Journal> m_journal ABSL_GUARDED_BY(m_write_mutex);

  absl::Mutex m_read_mutex;
  sqlite3* m_reader ABSL_GUARDED_BY(m_read_mutex) = nullptr;

  absl::Mutex m_checkpoint_mutex;
  sqlite3* m_checkpointer ABSL_GUARDED_BY(m_checkpoint_mutex) = nullptr;

  absl::Mutex m_keeper_mutex;
  bool m_checkpoint_wanted ABSL_GUARDED_BY(m_keeper_mutex) = false;
  bool m_stopping ABSL_GUARDED_BY(m_keeper_mutex) = false;
  std::thread m_checkpoint_thread;
};

}  // namespace greylane
