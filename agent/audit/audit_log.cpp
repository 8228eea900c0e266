#include "agent/audit/audit_log.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/audit_proto.h"
#include "common/text.h"
#include "greylane/v1/agent.pb.h"

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
  hash TEXT NOT NULL,
  step BLOB);
CREATE TABLE IF NOT EXISTS release_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  audit_sequence INTEGER NOT NULL,
  state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

constexpr char kColumns[] =
    "sequence, time_unix_ms, actor, role, peer, action, outcome, reason, "
    "before_basis_points, before_revision, before_baseline, before_candidate, before_phase, "
    "after_basis_points, after_revision, after_baseline, after_candidate, after_phase, "
    "evidence, prev_hash, hash";
// Trails written before 0.2 have no `step` column: a writer adds it, a
// read-only reader selects NULL in its place.
constexpr char kStepColumn[] = ", step";
constexpr char kNoStepColumn[] = ", NULL";

constexpr char kStoreState[] =
    "INSERT INTO release_state (id, audit_sequence, state) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET audit_sequence=excluded.audit_sequence, state=excluded.state";

// The write-ahead log is checkpointed when it passes this many 4 KiB pages,
// and truncated back to this size after a checkpoint resets it.
constexpr int kCheckpointAfterFrames = 1024;
constexpr int64_t kWalSizeLimitBytes = 4 << 20;
// A writer waits this long for a lock another process holds: a rollback
// must not hang behind someone's open sqlite3 shell.
constexpr int kBusyTimeoutMs = 250;

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
  if (sqlite3_column_type(s.get(), 21) == SQLITE_BLOB) {
    v1::AuditStep step;
    if (step.ParseFromString(s.ColumnBlob(21))) r.step = StepFromProto(step);
  }
  return r;
}

bool HasStepColumn(sqlite3* db) {
  Statement s(db, "SELECT 1 FROM pragma_table_info('audit') WHERE name = 'step'");
  return s.ok() && sqlite3_step(s.get()) == SQLITE_ROW;
}

// A path as an SQLite URI ("file:" + percent-encoded path).
std::string FileUri(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (const unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    }
  }
  return uri;
}

bool Exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

}  // namespace

// Two halves written alternately, each with a generation and a SHA-256, so
// a crash while writing one leaves the other intact. A new journal starts
// with an empty image in one half, so from then on at least one half is
// always valid: a journal with no valid half was damaged by more than a
// torn write, and the agent refuses to start on it rather than guess. The
// file is filled with zeros when created: later writes overwrite blocks it
// already owns and need no free space.
class AuditLog::Journal {
 public:
  static constexpr size_t kHalfBytes = 512 * 1024;
  // "GLPJ", u32 format 1, u64 generation, u64 payload length.
  static constexpr size_t kHeaderBytes = 24;

  // A new journal (replacing any file at `path`) belonging to the database
  // that names `id`.
  static absl::StatusOr<std::unique_ptr<Journal>> Create(const std::string& path,
                                                         const std::string& id) {
    const std::string tmp = path + ".new";
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return absl::ResourceExhaustedError("cannot create the pending-rows journal " + path + ": " +
                                          std::strerror(errno));
    }
    std::unique_ptr<Journal> journal(new Journal(fd, path));
    journal->m_id = id;
    const std::string zeros(64 * 1024, '\0');
    for (size_t at = 0; at < 2 * kHalfBytes; at += zeros.size()) {
      const ssize_t n = ::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(at));
      if (n != static_cast<ssize_t>(zeros.size())) {
        const int err = n < 0 ? errno : ENOSPC;
        ::unlink(tmp.c_str());
        return absl::ResourceExhaustedError(
            "cannot reserve 1 MiB for the pending-rows journal " + path + ": " +
            std::strerror(err) +
            " (it lets a rollback take effect while the disk is full; free some space)");
      }
    }
    journal->m_next_half = 1;
    if (absl::Status s = journal->Write({}); !s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return absl::FailedPreconditionError("cannot create the pending-rows journal " + path + ": " +
                                           std::strerror(err));
    }
    return journal;
  }

  // An existing journal; its rows come from Read(). An empty `id` (a
  // database from before journals had one) accepts any.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& path, bool writable,
                                                       const std::string& id) {
    const int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      return absl::FailedPreconditionError("cannot open the pending-rows journal " + path + ": " +
                                           std::strerror(errno));
    }
    std::unique_ptr<Journal> journal(new Journal(fd, path));
    journal->m_id = id;
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        static_cast<size_t>(info.st_size) != 2 * kHalfBytes) {
      return absl::DataLossError("the pending-rows journal " + path +
                                 " is not a 1 MiB regular file: it was replaced or damaged");
    }
    return journal;
  }

  ~Journal() { ::close(m_fd); }

  const std::string& Id() const { return m_id; }
  void SetId(const std::string& id) { m_id = id; }

  // The rows of the newest valid half. DataLoss when no half is valid (a
  // journal is made with one, so a blank or wholly damaged file was
  // replaced) or the journal belongs to another database.
  absl::StatusOr<std::vector<PendingRow>> Read() {
    v1::PendingAuditJournal newest;
    bool found = false;
    int blank = 0;
    for (size_t half = 0; half < 2; ++half) {
      v1::PendingAuditJournal candidate;
      const HalfState state = ReadHalf(half, &candidate);
      blank += state == HalfState::kBlank;
      if (state != HalfState::kValid) continue;
      if (!m_id.empty() && candidate.journal_id() != m_id) {
        return absl::DataLossError("the pending-rows journal " + m_path +
                                   " belongs to another audit database (journal id '" +
                                   ClampText(candidate.journal_id(), 64) + "', this one owns '" +
                                   m_id + "'): it was replaced");
      }
      if (!found || candidate.generation() > newest.generation()) {
        newest = std::move(candidate);
        found = true;
        m_next_half = 1 - half;
      }
    }
    if (!found) {
      return absl::DataLossError("the pending-rows journal " + m_path +
                                 (blank == 2 ? " holds nothing (it was blanked or replaced)"
                                             : " has no valid half (damaged or replaced)"));
    }
    if (m_id.empty()) m_id = newest.journal_id();
    m_generation = newest.generation();
    std::vector<PendingRow> rows;
    for (const v1::PendingAuditRow& r : newest.rows()) {
      PendingRow row{FromProto(r.entry()), std::nullopt};
      if (r.has_state()) row.state = r.state();
      rows.push_back(std::move(row));
    }
    return rows;
  }

  absl::Status Write(const std::vector<PendingRow>& rows) {
    v1::PendingAuditJournal journal;
    journal.set_generation(m_generation + 1);
    journal.set_journal_id(m_id);
    for (const PendingRow& row : rows) {
      v1::PendingAuditRow* r = journal.add_rows();
      ToProto(row.record, r->mutable_entry());
      if (row.state) {
        r->set_state(*row.state);
        r->set_has_state(true);
      }
    }
    const std::string payload = journal.SerializeAsString();
    if (kHeaderBytes + payload.size() + SHA256_DIGEST_LENGTH > kHalfBytes) {
      return absl::ResourceExhaustedError("the pending-rows journal is full (" +
                                          std::to_string(rows.size()) + " rows)");
    }
    std::string image = "GLPJ";
    const uint32_t format = 1;
    const uint64_t generation = journal.generation();
    const uint64_t length = payload.size();
    image.append(reinterpret_cast<const char*>(&format), sizeof(format));
    image.append(reinterpret_cast<const char*>(&generation), sizeof(generation));
    image.append(reinterpret_cast<const char*>(&length), sizeof(length));
    image += payload;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(image.data()), image.size(), digest);
    image.append(reinterpret_cast<const char*>(digest), sizeof(digest));
    const off_t offset = static_cast<off_t>(m_next_half * kHalfBytes);
    if (::pwrite(m_fd, image.data(), image.size(), offset) != static_cast<ssize_t>(image.size()) ||
        ::fdatasync(m_fd) != 0) {
      return absl::UnavailableError("cannot write the pending-rows journal " + m_path + ": " +
                                    std::strerror(errno));
    }
    m_generation = generation;
    m_next_half = 1 - m_next_half;
    return absl::OkStatus();
  }

  // True once the file was removed or replaced under the open descriptor:
  // what is written here would no longer be found by a restart.
  bool Detached() const {
    struct stat open_file {
    }, at_path{};
    if (::fstat(m_fd, &open_file) != 0 || open_file.st_nlink == 0) return true;
    return ::lstat(m_path.c_str(), &at_path) != 0 || at_path.st_ino != open_file.st_ino ||
           at_path.st_dev != open_file.st_dev;
  }

 private:
  enum class HalfState { kBlank, kValid, kDamaged };

  Journal(int fd, std::string path) : m_fd(fd), m_path(std::move(path)) {}

  HalfState ReadHalf(size_t half, v1::PendingAuditJournal* out) {
    char header[kHeaderBytes];
    const off_t offset = static_cast<off_t>(half * kHalfBytes);
    if (::pread(m_fd, header, sizeof(header), offset) != static_cast<ssize_t>(sizeof(header))) {
      return HalfState::kDamaged;
    }
    if (std::memcmp(header, "GLPJ", 4) != 0) {
      return std::all_of(header, header + sizeof(header), [](char c) { return c == 0; })
                 ? HalfState::kBlank
                 : HalfState::kDamaged;
    }
    uint32_t format = 0;
    uint64_t generation = 0, length = 0;
    std::memcpy(&format, header + 4, sizeof(format));
    std::memcpy(&generation, header + 8, sizeof(generation));
    std::memcpy(&length, header + 16, sizeof(length));
    if (format != 1 || length > kHalfBytes - kHeaderBytes - SHA256_DIGEST_LENGTH) {
      return HalfState::kDamaged;
    }
    std::string image(kHeaderBytes + length + SHA256_DIGEST_LENGTH, '\0');
    if (::pread(m_fd, image.data(), image.size(), offset) != static_cast<ssize_t>(image.size())) {
      return HalfState::kDamaged;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(image.data()), kHeaderBytes + length, digest);
    if (std::memcmp(digest, image.data() + kHeaderBytes + length, sizeof(digest)) != 0 ||
        !out->ParseFromArray(image.data() + kHeaderBytes, static_cast<int>(length)) ||
        out->generation() != generation) {
      return HalfState::kDamaged;
    }
    return HalfState::kValid;
  }

  int m_fd;
  std::string m_path;
  uint64_t m_generation = 0;
  size_t m_next_half = 0;
  std::string m_id;
};

absl::Status AuditLog::Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return absl::OkStatus();
  const std::string text = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return absl::UnavailableError("audit database " + m_path + ": " + text);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, Mode mode,
                                                         Options options) {
  std::unique_ptr<AuditLog> log(new AuditLog);
  log->m_path = path;
  absl::Status status = mode == Mode::kReadOnly ? log->OpenReadOnly() : log->OpenReadWrite(options);
  if (!status.ok()) return status;
  return log;
}

absl::Status AuditLog::OpenReadWrite(const Options& options) {
  absl::MutexLock write(&m_write_mutex);
  if (sqlite3_open_v2(m_path.c_str(), &m_writer,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return absl::FailedPreconditionError("cannot open audit database " + m_path + ": " +
                                         sqlite3_errmsg(m_writer));
  }
  sqlite3_busy_timeout(m_writer, kBusyTimeoutMs);
  const std::string pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
      "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=" +
      std::to_string(kWalSizeLimitBytes) + ";";
  if (absl::Status s = Exec(m_writer, pragmas.c_str()); !s.ok()) return s;
  if (absl::Status s = Exec(m_writer, kSchema); !s.ok()) return s;
  if (!HasStepColumn(m_writer)) {
    if (absl::Status s = Exec(m_writer, "ALTER TABLE audit ADD COLUMN step BLOB"); !s.ok()) {
      return s;
    }
  }
  m_columns = std::string(kColumns) + kStepColumn;
  const std::string insert =
      "INSERT INTO audit (" + m_columns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  if (sqlite3_prepare_v2(m_writer, insert.c_str(), -1, &m_insert_row, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(m_writer, kStoreState, -1, &m_store_state, nullptr) != SQLITE_OK) {
    return absl::FailedPreconditionError("audit database " + m_path + ": " +
                                         sqlite3_errmsg(m_writer));
  }
  sqlite3_wal_hook(m_writer, &AuditLog::OnWalCommit, this);
  {
    absl::MutexLock lock(&m_checkpoint_mutex);
    if (sqlite3_open_v2(m_path.c_str(), &m_checkpointer,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError("audit database " + m_path + ": " +
                                           sqlite3_errmsg(m_checkpointer));
    }
    // A connection learns that the file is in WAL mode only when it first
    // reads it; until then sqlite3_wal_checkpoint_v2 does nothing (this is
    // why no checkpoint ever ran before).
    if (absl::Status s = Exec(m_checkpointer, "SELECT count(*) FROM sqlite_master"); !s.ok()) {
      return s;
    }
  }
  {
    absl::MutexLock lock(&m_read_mutex);
    if (sqlite3_open_v2(m_path.c_str(), &m_reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError("cannot open audit database " + m_path +
                                           " for reading: " + sqlite3_errmsg(m_reader));
    }
    sqlite3_busy_timeout(m_reader, 5000);
  }
  if (auto last = LastStored()) {
    m_last_sequence = last->sequence;
    m_last_hash = last->hash;
  }
  if (absl::Status s = OpenJournal(options); !s.ok()) return s;
  m_checkpoint_thread = std::thread([this] { CheckpointLoop(); });
  return absl::OkStatus();
}

absl::Status AuditLog::OpenJournal(const Options& options) {
  const std::string path = m_path + "-pending";
  // The database remembers the journal it made (by a random id, which the
  // journal carries), so one that vanished, was blanked or came from
  // another state dir is noticed, not silently taken for it.
  bool made_before = false;
  {
    Statement s(m_writer, "SELECT value FROM meta WHERE key = 'pending_journal'");
    if (s.ok() && sqlite3_step(s.get()) == SQLITE_ROW) {
      made_before = true;
      const unsigned char* value = sqlite3_column_text(s.get(), 0);
      m_journal_id = value ? reinterpret_cast<const char*>(value) : "";
      if (m_journal_id == "1") m_journal_id.clear();  // made before journals had ids
    }
  }
  const std::string what_to_do =
      ". Nothing was started: it may hold rows (a rollback) that are not in the trail yet. Look "
      "at it, then start once with --recover-state to accept the trail as it stands (the release "
      "state then follows the trail's last row)";
  absl::Status lost = absl::OkStatus();
  if (!Exists(path)) {
    if (made_before) lost = absl::DataLossError("the pending-rows journal " + path + " is missing");
  } else {
    absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(path, true, m_journal_id);
    if (journal.ok()) {
      m_journal = std::move(*journal);
      lost = ReplayJournal();
    } else {
      lost = journal.status();
    }
  }
  if (!lost.ok()) {
    if (!options.accept_lost_journal)
      return absl::DataLossError(std::string(lost.message()) + what_to_do);
    const std::string aside = path + ".lost-" + std::to_string(::time(nullptr));
    if (Exists(path) && ::rename(path.c_str(), aside.c_str()) == 0) {
      m_journal_note = std::string(lost.message()) + "; kept as " + aside + ", a new one made";
    } else {
      m_journal_note = std::string(lost.message()) + "; a new one made";
    }
    m_journal.reset();
    m_pending.clear();
  }
  if (m_journal_id.empty() && m_journal) m_journal_id = m_journal->Id();
  if (m_journal_id.empty()) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return absl::InternalError("cannot draw a random id for the pending-rows journal");
    }
    m_journal_id = HexEncode({reinterpret_cast<const char*>(bytes), sizeof(bytes)});
  }
  if (!m_journal) {
    absl::StatusOr<std::unique_ptr<Journal>> fresh = Journal::Create(path, m_journal_id);
    if (!fresh.ok()) return fresh.status();
    m_journal = std::move(*fresh);
  }
  m_journal->SetId(m_journal_id);
  // Best effort: on a full disk the next start records it (the journal is
  // then taken as it is, once).
  Statement save(m_writer,
                 "INSERT OR REPLACE INTO meta (key, value) VALUES ('pending_journal', ?1)");
  if (save.ok()) {
    sqlite3_bind_text(save.get(), 1, m_journal_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(save.get());
  }
  return absl::OkStatus();
}

absl::Status AuditLog::OpenReadOnly() {
  // Without a -wal file no agent has the database open: read it as
  // immutable, which creates no -wal/-shm files and works in a read-only
  // folder. With one, SQLite reads through it (the -shm must exist).
  const bool live = Exists(m_path + "-wal");
  const std::string uri = FileUri(m_path) + (live ? "?mode=ro" : "?mode=ro&immutable=1");
  {
    absl::MutexLock lock(&m_read_mutex);
    if (sqlite3_open_v2(uri.c_str(), &m_reader,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError("cannot open audit database " + m_path + ": " +
                                           sqlite3_errmsg(m_reader));
    }
    sqlite3_busy_timeout(m_reader, 5000);
    Statement probe(m_reader, "SELECT count(*) FROM audit");
    if (!probe.ok()) {
      const std::string why = sqlite3_errmsg(m_reader);
      if (why.find("no such table") != std::string::npos ||
          why.find("not a database") != std::string::npos) {
        return absl::InvalidArgumentError(m_path + " is not a Greylane audit database (" + why +
                                          ")");
      }
      return absl::FailedPreconditionError("cannot read audit database " + m_path + ": " + why);
    }
    m_columns = std::string(kColumns) + (HasStepColumn(m_reader) ? kStepColumn : kNoStepColumn);
  }
  absl::MutexLock write(&m_write_mutex);
  if (auto last = LastStored()) {
    m_last_sequence = last->sequence;
    m_last_hash = last->hash;
  }
  // Rows an agent kept pending belong to the trail as it will be replayed.
  if (Exists(m_path + "-pending")) {
    absl::StatusOr<std::unique_ptr<Journal>> journal =
        Journal::Open(m_path + "-pending", false, "");
    if (journal.ok()) {
      absl::StatusOr<std::vector<PendingRow>> rows = (*journal)->Read();
      if (rows.ok()) {
        for (PendingRow& row : *rows) {
          if (row.record.sequence != m_last_sequence + 1) continue;
          m_last_sequence = row.record.sequence;
          m_last_hash = row.record.hash;
          m_pending.push_back(std::move(row));
        }
      }
    }
  }
  return absl::OkStatus();
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&m_keeper_mutex);
    m_stopping = true;
  }
  if (m_checkpoint_thread.joinable()) m_checkpoint_thread.join();
  {
    absl::MutexLock lock(&m_checkpoint_mutex);
    sqlite3_close_v2(m_checkpointer);
  }
  {
    absl::MutexLock lock(&m_read_mutex);
    sqlite3_close_v2(m_reader);
  }
  absl::MutexLock lock(&m_write_mutex);
  sqlite3_finalize(m_insert_row);
  sqlite3_finalize(m_store_state);
  sqlite3_close_v2(m_writer);
}

int AuditLog::OnWalCommit(void* self, sqlite3*, const char*, int frames) {
  if (frames >= kCheckpointAfterFrames) static_cast<AuditLog*>(self)->RequestCheckpoint();
  return SQLITE_OK;
}

void AuditLog::RequestCheckpoint() {
  absl::MutexLock lock(&m_keeper_mutex);
  m_checkpoint_wanted = true;
}

void AuditLog::CheckpointLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&m_keeper_mutex);
      m_keeper_mutex.AwaitWithTimeout(absl::Condition(this, &AuditLog::KeeperWoken),
                                      absl::Seconds(2));
      if (m_stopping) return;
      m_checkpoint_wanted = false;
    }
    Checkpoint();
  }
}

void AuditLog::Checkpoint() {
  absl::MutexLock lock(&m_checkpoint_mutex);
  if (m_checkpointer) {
    sqlite3_wal_checkpoint_v2(m_checkpointer, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

void AuditLog::ChainLocked(AuditRecord* r) {
  BoundAuditRecord(r);
  r->sequence = m_last_sequence + 1;
  if (r->time_unix_ms == 0) {
    r->time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  }
  r->prev_hash = m_last_hash;
  r->hash = ComputeRowHash(*r);
}

absl::Status AuditLog::Insert(const AuditRecord& r, const std::string* state_blob) {
  if (absl::Status s = Exec(m_writer, "BEGIN IMMEDIATE"); !s.ok()) return s;
  bool ok = false;
  {
    Statement insert(m_insert_row);
    if (insert.ok()) {
      insert.Int(1, static_cast<int64_t>(r.sequence));
      insert.Int(2, r.time_unix_ms);
      insert.Text(3, r.actor);
      insert.Text(4, r.role);
      insert.Text(5, r.peer);
      insert.Text(6, r.action);
      insert.Text(7, r.outcome);
      insert.Text(8, r.reason);
      int i = 9;
      for (const AuditState* s : {&r.before, &r.after}) {
        insert.Int(i++, s->candidate_basis_points);
        insert.Int(i++, static_cast<int64_t>(s->revision));
        insert.Text(i++, s->baseline_version);
        insert.Text(i++, s->candidate_version);
        insert.Text(i++, s->phase);
      }
      insert.Text(19, r.evidence);
      insert.Text(20, r.prev_hash);
      insert.Text(21, r.hash);
      if (r.step) {
        v1::AuditStep step;
        StepToProto(*r.step, &step);
        insert.Blob(22, step.SerializeAsString());
      }
      ok = sqlite3_step(insert.get()) == SQLITE_DONE;
    }
    if (ok && state_blob) {
      Statement state(m_store_state);
      ok = state.ok();
      if (ok) {
        state.Int(1, static_cast<int64_t>(r.sequence));
        state.Blob(2, *state_blob);
        ok = sqlite3_step(state.get()) == SQLITE_DONE;
      }
    }
  }
  absl::Status status = absl::OkStatus();
  if (!ok) {
    status = absl::UnavailableError("audit database " + m_path + ": " + sqlite3_errmsg(m_writer));
  } else {
    status = Exec(m_writer, "COMMIT");
  }
  if (!status.ok()) Exec(m_writer, "ROLLBACK").IgnoreError();
  return status;
}

absl::Status AuditLog::Append(AuditRecord* record, const std::string* state_blob) {
  absl::MutexLock lock(&m_write_mutex);
  if (!m_writer) return absl::FailedPreconditionError("the audit trail is open read-only");
  if (absl::Status s = FlushPendingLocked(); !s.ok()) {
    return absl::UnavailableError("earlier rows are still waiting to be written (" +
                                  std::string(s.message()) + ")");
  }
  ChainLocked(record);
  if (absl::Status s = Insert(*record, state_blob); !s.ok()) return s;
  m_last_sequence = record->sequence;
  m_last_hash = record->hash;
  return absl::OkStatus();
}

AuditLog::Durability AuditLog::AppendSafety(AuditRecord* record, const std::string* state_blob,
                                            std::string* why) {
  absl::MutexLock lock(&m_write_mutex);
  absl::Status status = m_writer ? FlushPendingLocked()
                                 : absl::FailedPreconditionError("the trail is open read-only");
  ChainLocked(record);
  if (status.ok()) status = Insert(*record, state_blob);
  m_last_sequence = record->sequence;
  m_last_hash = record->hash;
  if (status.ok()) return Durability::kTrail;
  *why = std::string(status.message());
  m_pending.push_back({*record, state_blob ? std::optional<std::string>(*state_blob)
                                           : std::optional<std::string>()});
  m_pending_why = *why;
  absl::Status saved = SaveJournal();
  if (saved.ok()) return Durability::kJournal;
  *why += "; " + std::string(saved.message());
  m_pending_why = *why;
  return Durability::kMemory;
}

absl::Status AuditLog::SaveJournal() {
  if (m_journal && m_journal->Detached()) {
    // Removed under us: rows written there would be lost to a restart.
    // Closing it first frees its blocks, so a new one fits on a full disk.
    m_journal.reset();
  }
  if (!m_journal) {
    absl::StatusOr<std::unique_ptr<Journal>> fresh =
        Journal::Create(m_path + "-pending", m_journal_id);
    if (!fresh.ok()) {
      return absl::UnavailableError(
          "the pending-rows journal was removed and cannot be made "
          "again (" +
          std::string(fresh.status().message()) + "): pending rows are kept in memory only");
    }
    m_journal = std::move(*fresh);
  }
  if (!m_journal) return absl::UnavailableError("no pending-rows journal");
  return m_journal->Write(m_pending);
}

void AuditLog::Keep() {
  absl::MutexLock lock(&m_write_mutex);
  if (!m_writer) return;
  if (!m_journal || m_journal->Detached()) {
    absl::Status s = SaveJournal();
    if (!s.ok() && !m_pending.empty()) m_pending_why = std::string(s.message());
  }
  if (!m_pending.empty()) FlushPendingLocked().IgnoreError();
}

absl::Status AuditLog::FlushPendingLocked() {
  if (m_pending.empty()) return absl::OkStatus();
  while (!m_pending.empty()) {
    const PendingRow& row = m_pending.front();
    if (absl::Status s = Insert(row.record, row.state ? &*row.state : nullptr); !s.ok()) {
      m_pending_why = std::string(s.message());
      return s;
    }
    m_pending.erase(m_pending.begin());
  }
  m_pending_why.clear();
  // Rows the journal still lists are now in the trail (a replay skips them),
  // so a failure to clear it costs nothing.
  SaveJournal().IgnoreError();
  return absl::OkStatus();
}

absl::Status AuditLog::FlushPending() {
  absl::MutexLock lock(&m_write_mutex);
  if (!m_writer) return absl::FailedPreconditionError("the audit trail is open read-only");
  return FlushPendingLocked();
}

size_t AuditLog::PendingRows(std::string* detail) {
  absl::MutexLock lock(&m_write_mutex);
  if (detail) *detail = m_pending_why;
  return m_pending.size();
}

absl::Status AuditLog::ReplayJournal() {
  absl::StatusOr<std::vector<PendingRow>> rows = m_journal->Read();
  if (!rows.ok()) return rows.status();
  for (PendingRow& row : *rows) {
    const AuditRecord& r = row.record;
    if (!RowHashHolds(r)) {
      return absl::DataLossError("the pending-rows journal's row #" + std::to_string(r.sequence) +
                                 " does not match its hash");
    }
    if (r.sequence <= m_last_sequence) {
      const std::optional<AuditRecord> stored = StoredRow(r.sequence);
      if (!stored || stored->hash != r.hash) {
        return absl::DataLossError("the pending-rows journal's row #" + std::to_string(r.sequence) +
                                   " differs from the trail's row of that number");
      }
      continue;  // written before the journal was cleared
    }
    if (r.sequence != m_last_sequence + 1 || r.prev_hash != m_last_hash) {
      return absl::DataLossError("the pending-rows journal's row #" + std::to_string(r.sequence) +
                                 " does not follow the trail's last row #" +
                                 std::to_string(m_last_sequence));
    }
    m_last_sequence = r.sequence;
    m_last_hash = r.hash;
    m_pending.push_back(std::move(row));
  }
  if (!m_pending.empty()) m_pending_why = "rows from the journal of an earlier run";
  FlushPendingLocked().IgnoreError();  // still pending if the disk is still full
  return absl::OkStatus();
}

std::optional<std::string> AuditLog::LoadState(uint64_t* sequence) {
  {
    absl::MutexLock lock(&m_write_mutex);
    for (auto it = m_pending.rbegin(); it != m_pending.rend(); ++it) {
      if (!it->state) continue;
      if (sequence) *sequence = it->record.sequence;
      return it->state;
    }
  }
  absl::MutexLock lock(&m_read_mutex);
  Statement s(m_reader, "SELECT audit_sequence, state FROM release_state WHERE id = 1");
  if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  if (sequence) *sequence = static_cast<uint64_t>(s.ColumnInt(0));
  return s.ColumnBlob(1);
}

std::vector<AuditRecord> AuditLog::List(uint64_t after_sequence, size_t max_rows,
                                        size_t max_bytes) {
  std::vector<AuditRecord> rows;
  if (max_rows == 0) return rows;
  // Pending rows first: one flushed meanwhile is then found in the
  // database as well (and skipped here), never in neither.
  std::vector<AuditRecord> pending;
  {
    absl::MutexLock lock(&m_write_mutex);
    for (const PendingRow& p : m_pending) {
      if (p.record.sequence > after_sequence) pending.push_back(p.record);
    }
  }
  size_t bytes = 0;
  bool page_full = false;
  if (after_sequence < static_cast<uint64_t>(INT64_MAX)) {
    absl::MutexLock lock(&m_read_mutex);
    const std::string sql =
        "SELECT " + m_columns + " FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?";
    Statement s(m_reader, sql.c_str());
    if (!s.ok()) return rows;
    s.Int(1, static_cast<int64_t>(after_sequence));
    s.Int(2, static_cast<int64_t>(std::min<size_t>(max_rows, INT_MAX)));
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      rows.push_back(ReadRow(s));
      bytes += std::min(AuditRecordBytes(rows.back()), kMaxAuditEntryWireBytes);
      if (bytes >= max_bytes) {
        page_full = true;
        break;
      }
    }
    page_full = page_full || rows.size() >= max_rows;
  }
  const uint64_t last = rows.empty() ? after_sequence : rows.back().sequence;
  for (AuditRecord& p : pending) {
    if (page_full || rows.size() >= max_rows) break;
    if (p.sequence <= last) continue;
    rows.push_back(std::move(p));
    bytes += AuditRecordBytes(rows.back());
    page_full = bytes >= max_bytes;
  }
  return rows;
}

std::optional<AuditRecord> AuditLog::LastStored() {
  absl::MutexLock lock(&m_read_mutex);
  const std::string sql = "SELECT " + m_columns + " FROM audit ORDER BY sequence DESC LIMIT 1";
  Statement s(m_reader, sql.c_str());
  if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  return ReadRow(s);
}

std::optional<AuditRecord> AuditLog::StoredRow(uint64_t sequence) {
  absl::MutexLock lock(&m_read_mutex);
  const std::string sql = "SELECT " + m_columns + " FROM audit WHERE sequence = ?";
  Statement s(m_reader, sql.c_str());
  if (!s.ok() || sequence > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  s.Int(1, static_cast<int64_t>(sequence));
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  return ReadRow(s);
}

std::optional<AuditRecord> AuditLog::Last() {
  {
    absl::MutexLock lock(&m_write_mutex);
    if (!m_pending.empty()) return m_pending.back().record;
  }
  return LastStored();
}

uint64_t AuditLog::LastSequence() {
  absl::MutexLock lock(&m_write_mutex);
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
    if (rows.empty()) break;
    after = rows.back().sequence;
  }
  return verifier.Verdict();
}

}  // namespace greylane
