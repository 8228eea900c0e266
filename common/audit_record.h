#pragma once
// One row of the audit trail and the hash chain over the rows. Shared by
// the agent (which writes the chain) and the console (which recomputes it
// from the rows it receives), so both encode a row byte for byte alike.
// Depends only on OpenSSL's SHA-256.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace greylane {

// The release state before or after an action, as the audit records it.
struct AuditState {
  uint32_t candidate_basis_points = 0;
  uint64_t revision = 0;
  std::string baseline_version;
  std::string candidate_version;
  std::string phase;  // STEADY | CANARY | PROMOTED | ROLLED_BACK
  friend bool operator==(const AuditState&, const AuditState&) = default;
};

// What one version did during the step a change ends (from the change
// before it, or the agent's start, to this one).
struct StepFigures {
  std::string slot;  // baseline | candidate
  std::string version;
  uint64_t requests = 0;
  uint64_t server_errors = 0;
  uint64_t client_errors = 0;
  // From the step's merged latency sketch, over successful requests; 0 when none.
  uint64_t p50_us = 0;
  uint64_t p90_us = 0;
  uint64_t p99_us = 0;
  friend bool operator==(const StepFigures&, const StepFigures&) = default;
};

struct AuditStep {
  int64_t started_unix_ms = 0;
  int64_t ended_unix_ms = 0;
  uint32_t candidate_basis_points = 0;  // the split in force during the step
  std::vector<StepFigures> versions;    // baseline first
  friend bool operator==(const AuditStep&, const AuditStep&) = default;
};

struct AuditRecord {
  uint64_t sequence = 0;
  int64_t time_unix_ms = 0;  // UTC
  std::string actor;         // identity; "agent" for automatic actions
  std::string role;
  std::string peer;
  std::string action;   // an AuditActionName (common/audit_vocabulary.h)
  std::string outcome;  // an AuditOutcomeName
  std::string reason;
  AuditState before;
  AuditState after;
  std::string evidence;  // what caused an automatic action; or the detail of a refusal
  // Every applied change carries the figures of the step it ends; rows of
  // agents before 0.2, refusals and health rows have none.
  std::optional<AuditStep> step;
  std::string prev_hash;  // hex SHA-256 of the previous row; 64 zeros for the first
  std::string hash;       // hex SHA-256(prev_hash bytes || CanonicalEncoding(row))
  // Set by a reader, never stored: a row an older agent stored too large or
  // not in UTF-8 arrives cut and escaped, so its hash cannot be recomputed
  // from what arrived.
  bool cut_for_transport = false;
};

// What one row may hold. Every row is bounded before it is hashed and
// stored, whatever its outcome, so no attempt can grow the trail by more
// than a few KiB, and every text in it is valid UTF-8.
inline constexpr size_t kMaxReasonBytes = 1024;
inline constexpr size_t kMaxIdentityBytes = 256;  // actor, with a certificate subject
inline constexpr size_t kMaxPeerBytes = 256;
inline constexpr size_t kMaxVersionBytes = 128;
inline constexpr size_t kMaxEvidenceBytes = 2048;
inline constexpr size_t kMaxWordBytes = 32;  // role, action, outcome, phase
inline constexpr size_t kMaxStepVersions = 2;
// A row larger than this (only an older agent wrote such rows) is sent cut.
inline constexpr size_t kMaxAuditEntryWireBytes = 64 * 1024;

// Cuts every field to its bound (marking the cut) and makes it valid UTF-8.
void BoundAuditRecord(AuditRecord* record);
// The stored size of a row's texts, as a reader budgets pages by bytes.
size_t AuditRecordBytes(const AuditRecord& record);
// Every text field is valid UTF-8 (rows an older agent stored may not be,
// and protobuf readers reject such a message whole).
bool AuditRecordIsValidUtf8(const AuditRecord& record);

inline const std::string kGenesisHash(64, '0');

// Every field but `hash`, length-prefixed in a fixed order: unambiguous and
// independent of any serialisation library's choices.
std::string CanonicalEncoding(const AuditRecord& record);
// The hash this row must carry, given its prev_hash.
std::string ComputeRowHash(const AuditRecord& record);
std::string Sha256Hex(const std::string& bytes);

struct ChainVerdict {
  bool ok = true;
  uint64_t rows = 0;
  uint64_t rows_not_recomputed = 0;  // cut for transport: linked, but hashes not recomputed
  uint64_t verified_through = 0;     // last sequence whose hash and link hold
  uint64_t broken_at = 0;            // first sequence that does not (0 when ok)
  std::string why;
  std::string head_hash;  // hash of the last verified row
};

// Checks rows one at a time, in order: each links to the one before, carries
// the hash of its own content, and sequences have no gap.
class ChainVerifier {
 public:
  // Continue a chain whose last verified row had this sequence and hash.
  explicit ChainVerifier(uint64_t last_sequence = 0, std::string last_hash = kGenesisHash);
  bool Add(const AuditRecord& record);  // false once broken; later rows are ignored
  const ChainVerdict& Verdict() const { return m_verdict; }

 private:
  uint64_t m_last_sequence;
  std::string m_last_hash;
  ChainVerdict m_verdict;
};

std::string FormatState(const AuditState& state);  // "5.00 % r3 v1/v2 CANARY"
// "5m 12s at 5.00 %: baseline v1 1200 req, 0 errors, p50/p90/p99 1.20/2.00/3.10 ms; candidate …"
std::string FormatStep(const AuditStep& step);
std::string FormatDuration(int64_t millis);  // "3h 05m", "5m 12s", "42 s", "0.4 s"
// A row's own hash agrees with its content and prev_hash.
bool RowHashHolds(const AuditRecord& record);

}  // namespace greylane
