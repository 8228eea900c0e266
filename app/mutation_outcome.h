#pragma once
// What the console knows about a change it sent. A call that timed out (or
// lost its connection after sending) was not refused: the agent may have
// applied it. The console says "outcome unknown", re-reads the state once
// the agent answers, and judges from that fresh state whether it was
// applied. Pure logic, so it is tested without widgets.
#include <QString>

#include <cstdint>

#include "greylane/v1/agent.pb.h"

namespace greylane {

struct SentChange {
  QString action;  // ActionId: "set_split" | "rollback" | "promote"
  QString reason;
  QString identity;              // who sent it, as the agent knows them
  uint64_t revision_before = 0;  // the split revision when it was sent
  uint64_t sequence_before = 0;  // the last change's audit row then
  uint32_t basis_points = 0;     // set_split: the share asked for
};

// True when a failed call may still have been applied: it was sent and no
// answer came (deadline, connection lost mid-call), as against a refusal.
bool OutcomeUnknown(int grpc_code, const QString& message, double elapsed_ms);

struct ChangeVerdict {
  bool applied = false;
  QString text;  // plain, for the result line
};
// Judges `sent` from a state read after the call failed.
ChangeVerdict JudgeFromFreshState(const SentChange& sent, const v1::AgentState& fresh);

}  // namespace greylane
