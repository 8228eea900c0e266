#pragma once
#include <functional>
// Process-wide settings every Greylane server applies at start-up.
namespace greylane {

// Debian builds abseil without NDEBUG, which leaves absl::Mutex's deadlock
// detector on: every gRPC lock then updates a global lock graph (about 6 %
// of the agent's CPU under load, measured with perf). It is a debugging aid,
// so servers switch it off.
//
// libprotobuf also logs an ERROR line for every message that fails to parse
// (a string that is not UTF-8): a client sending such requests in a loop
// would flood the agent's log. The caller already gets INVALID_ARGUMENT
// with a reason, so protobuf's lines are limited to one per 10 s, with a
// count of those left out.
void ApplyServerProcessTuning();

// Blocks SIGINT, SIGTERM and SIGHUP in this thread and every thread it
// starts from now on; call before starting servers. WaitForStopSignal then
// returns the stop signal that arrived (a server's clean stop: drain, then
// exit 0); a SIGHUP runs `on_hangup` (reopen logs, as logrotate expects)
// and waits on.
void BlockStopSignals();
int WaitForStopSignal(const std::function<void()>& on_hangup = {});

}  // namespace greylane
