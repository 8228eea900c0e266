#include "agent/audit/audit_log.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>

namespace greylane {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS audit (
  sequence INTEGER PRIMARY KEY,
  time_unix_ms INTEGER NOT NULL,
  actor TEXT NOT NULL, role TEXT NOT NULL, peer TEXT NOT NULL,
  action TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
  before_basis_points INTEGER NOT NULL, before_revision INTEGER NOT NULL,
  before_baseline TEXT NOT NULL, before_candidate TEXT NOT NULL, before_phase TEXT NOT NULL,
  after_basis_points INTEGER NOT NULL, after_revision INTEGER NOT NULL,
  after_baseline TEXT NOT NULL, after_candidate TEXT NOT NULL, after_phase TEXT NOT NULL,
  evidence TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS release_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  audit_sequence INTEGER NOT NULL,
  state BLOB NOT NULL);
)sql";

constexpr char kColumns[] =
    "sequence, time_unix_ms, actor, role, peer, action, outcome, reason, "
    "before_basis_points, before_revision, before_baseline, before_candidate, before_phase, "
    "after_basis_points, after_revision, after_baseline, after_candidate, after_phase, "
    "evidence, prev_hash, hash";

// A prepared statement that finalises itself, or borrows a cached one
// (reset and cleared for reuse when done).
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr); }
  explicit Statement(sqlite3_stmt* cached) : m_stmt(cached), m_owned(false) {}
  ~Statement() {
    if (m_owned) {
      sqlite3_finalize(m_stmt);
    } else if (m_stmt) {
      sqlite3_reset(m_stmt);
      sqlite3_clear_bindings(m_stmt);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return m_stmt; }
  bool ok() const { return m_stmt != nullptr; }
  void Text(int i, const std::string& v) {
    sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Int(int i, int64_t v) { sqlite3_bind_int64(m_stmt, i, v); }
  void Blob(int i, const std::string& v) {
    sqlite3_bind_blob(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  std::string ColumnBlob(int i) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(m_stmt, i));
    return data ? std::string(data, static_cast<size_t>(sqlite3_column_bytes(m_stmt, i)))
                : std::string();
  }
  std::string ColumnText(int i) const {
    const auto* text = sqlite3_column_text(m_stmt, i);
    return text ? std::string(reinterpret_cast<const char*>(text),
                              static_cast<size_t>(sqlite3_column_bytes(m_stmt, i)))
                : std::string();
  }
  int64_t ColumnInt(int i) const { return sqlite3_column_int64(m_stmt, i); }

 private:
  sqlite3_stmt* m_stmt = nullptr;
  bool m_owned = true;
};

constexpr char kStoreState[] =
    "INSERT INTO release_state (id, audit_sequence, state) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET audit_sequence=excluded.audit_sequence, state=excluded.state";

AuditRecord ReadRow(const Statement& s) {
  AuditRecord r;
  r.sequence = static_cast<uint64_t>(s.ColumnInt(0));
  r.time_unix_ms = s.ColumnInt(1);
  r.actor = s.ColumnText(2);
  r.role = s.ColumnText(3);
  r.peer = s.ColumnText(4);
  r.action = s.ColumnText(5);
  r.outcome = s.ColumnText(6);
  r.reason = s.ColumnText(7);
  r.before = {static_cast<uint32_t>(s.ColumnInt(8)), static_cast<uint64_t>(s.ColumnInt(9)),
              s.ColumnText(10), s.ColumnText(11), s.ColumnText(12)};
  r.after = {static_cast<uint32_t>(s.ColumnInt(13)), static_cast<uint64_t>(s.ColumnInt(14)),
             s.ColumnText(15), s.ColumnText(16), s.ColumnText(17)};
  r.evidence = s.ColumnText(18);
  r.prev_hash = s.ColumnText(19);
  r.hash = s.ColumnText(20);
  return r;
}

}  // namespace

bool AuditLog::Exec(sqlite3* db, const char* sql, std::string* error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  *error = "audit database " + m_path + ": " + (message ? message : sqlite3_errmsg(db));
  sqlite3_free(message);
  return false;
}

std::unique_ptr<AuditLog> AuditLog::Open(const std::string& path, Mode mode, std::string* error) {
  std::unique_ptr<AuditLog> log(new AuditLog);
  log->m_path = path;
  const int flags =
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &log->m_writer, flags | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    *error = "cannot open audit database " + path + ": " + sqlite3_errmsg(log->m_writer);
    return nullptr;
  }
  sqlite3_busy_timeout(log->m_writer, 5000);
  if (mode == Mode::kReadWrite) {
    if (!log->Exec(log->m_writer,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                   "PRAGMA wal_autocheckpoint=0;",
                   error) ||
        !log->Exec(log->m_writer, kSchema, error)) {
      return nullptr;
    }
    const std::string insert = std::string("INSERT INTO audit (") + kColumns +
                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(log->m_writer, insert.c_str(), -1, &log->m_insert_row, nullptr) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(log->m_writer, kStoreState, -1, &log->m_store_state, nullptr) !=
            SQLITE_OK ||
        sqlite3_open_v2(path.c_str(), &log->m_checkpointer,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
      *error = "audit database " + path + ": " + sqlite3_errmsg(log->m_writer);
      return nullptr;
    }
  }
  if (sqlite3_open_v2(path.c_str(), &log->m_reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    *error =
        "cannot open audit database " + path + " for reading: " + sqlite3_errmsg(log->m_reader);
    return nullptr;
  }
  sqlite3_busy_timeout(log->m_reader, 5000);
  if (auto last = log->Last()) {
    log->m_last_sequence = last->sequence;
    log->m_last_hash = last->hash;
  } else if (mode == Mode::kReadOnly) {
    Statement probe(log->m_reader, "SELECT count(*) FROM audit");
    if (!probe.ok()) {
      *error = path + " is not a Greylane audit database";
      return nullptr;
    }
  }
  return log;
}

AuditLog::~AuditLog() {
  sqlite3_finalize(m_insert_row);
  sqlite3_finalize(m_store_state);
  sqlite3_close_v2(m_checkpointer);
  sqlite3_close_v2(m_reader);
  sqlite3_close_v2(m_writer);
}

void AuditLog::Checkpoint() {
  std::lock_guard lock(m_checkpoint_mutex);
  if (m_checkpointer) {
    sqlite3_wal_checkpoint_v2(m_checkpointer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

bool AuditLog::Append(AuditRecord* r, const std::string* state_blob, std::string* error) {
  std::lock_guard lock(m_write_mutex);
  r->sequence = m_last_sequence + 1;
  if (r->time_unix_ms == 0) {
    r->time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  }
  r->prev_hash = m_last_hash;
  r->hash = ComputeRowHash(*r);

  if (!Exec(m_writer, "BEGIN IMMEDIATE", error)) return false;
  bool ok = false;
  {
    Statement insert(m_insert_row);
    if (insert.ok()) {
      insert.Int(1, static_cast<int64_t>(r->sequence));
      insert.Int(2, r->time_unix_ms);
      insert.Text(3, r->actor);
      insert.Text(4, r->role);
      insert.Text(5, r->peer);
      insert.Text(6, r->action);
      insert.Text(7, r->outcome);
      insert.Text(8, r->reason);
      int i = 9;
      for (const AuditState* s : {&r->before, &r->after}) {
        insert.Int(i++, s->candidate_basis_points);
        insert.Int(i++, static_cast<int64_t>(s->revision));
        insert.Text(i++, s->baseline_version);
        insert.Text(i++, s->candidate_version);
        insert.Text(i++, s->phase);
      }
      insert.Text(19, r->evidence);
      insert.Text(20, r->prev_hash);
      insert.Text(21, r->hash);
      ok = sqlite3_step(insert.get()) == SQLITE_DONE;
    }
    if (ok && state_blob) {
      Statement state(m_store_state);
      ok = state.ok();
      if (ok) {
        state.Int(1, static_cast<int64_t>(r->sequence));
        state.Blob(2, *state_blob);
        ok = sqlite3_step(state.get()) == SQLITE_DONE;
      }
    }
  }
  if (!ok) {
    *error = "audit database " + m_path + ": " + sqlite3_errmsg(m_writer);
    std::string ignored;
    Exec(m_writer, "ROLLBACK", &ignored);
    return false;
  }
  if (!Exec(m_writer, "COMMIT", error)) {
    std::string ignored;
    Exec(m_writer, "ROLLBACK", &ignored);
    return false;
  }
  m_last_sequence = r->sequence;
  m_last_hash = r->hash;
  return true;
}

std::optional<std::string> AuditLog::LoadState(uint64_t* sequence) {
  std::lock_guard lock(m_read_mutex);
  Statement s(m_reader, "SELECT audit_sequence, state FROM release_state WHERE id = 1");
  if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  if (sequence) *sequence = static_cast<uint64_t>(s.ColumnInt(0));
  return s.ColumnBlob(1);
}

std::vector<AuditRecord> AuditLog::List(uint64_t after_sequence, size_t limit) {
  std::lock_guard lock(m_read_mutex);
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?";
  Statement s(m_reader, sql.c_str());
  std::vector<AuditRecord> rows;
  if (!s.ok()) return rows;
  s.Int(1, static_cast<int64_t>(after_sequence));
  s.Int(2, static_cast<int64_t>(limit));
  while (sqlite3_step(s.get()) == SQLITE_ROW) rows.push_back(ReadRow(s));
  return rows;
}

std::optional<AuditRecord> AuditLog::Last() {
  std::lock_guard lock(m_read_mutex);
  const std::string sql =
      std::string("SELECT ") + kColumns + " FROM audit ORDER BY sequence DESC LIMIT 1";
  Statement s(m_reader, sql.c_str());
  if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  return ReadRow(s);
}

uint64_t AuditLog::LastSequence() {
  std::lock_guard lock(m_write_mutex);
  return m_last_sequence;
}

ChainVerdict AuditLog::Verify() {
  ChainVerifier verifier;
  uint64_t after = 0;
  for (;;) {
    const std::vector<AuditRecord> rows = List(after, 1000);
    for (const AuditRecord& row : rows) {
      if (!verifier.Add(row)) return verifier.Verdict();
    }
    if (rows.size() < 1000) break;
    after = rows.back().sequence;
  }
  return verifier.Verdict();
}

}  // namespace greylane
