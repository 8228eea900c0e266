#pragma once
// One row of the audit trail and the hash chain over the rows. Shared by
// the agent (which writes the chain) and the console (which recomputes it
// from the rows it receives), so both encode a row byte for byte alike.
// Depends only on OpenSSL's SHA-256.
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

struct AuditRecord {
  uint64_t sequence = 0;
  int64_t time_unix_ms = 0;  // UTC
  std::string actor;         // identity; "agent" for automatic actions
  std::string role;
  std::string peer;
  std::string action;   // initialize | start | set_split | rollback | promote | load_candidate
  std::string outcome;  // ok | denied | rejected
  std::string reason;
  AuditState before;
  AuditState after;
  std::string evidence;   // what caused an automatic action; or the detail of a refusal
  std::string prev_hash;  // hex SHA-256 of the previous row; 64 zeros for the first
  std::string hash;       // hex SHA-256(prev_hash bytes || CanonicalEncoding(row))
};

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
  uint64_t verified_through = 0;  // last sequence whose hash and link hold
  uint64_t broken_at = 0;         // first sequence that does not (0 when ok)
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

}  // namespace greylane
