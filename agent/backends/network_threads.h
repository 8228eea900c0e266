#pragma once
// The agent's asynchronous network work (the HTTP data plane, connections
// to HTTP upstreams, the paced token streams of the built-in language
// model) runs on a few event loops, one thread each, started on first use
// and stopped at exit. As in nginx's workers, a connection lives on one
// loop, and what it starts (its upstream call, its timers) runs on that
// same loop: a request never wakes another thread, and a loop's handlers
// never run at once, so work tied to one loop needs no strand.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

namespace greylane {

// Pinned, loop i runs only on the i-th CPU the process may use. Unpinned,
// where busy processes (a load generator, model servers) share a few cores,
// the scheduler may put two loops on one core, where they take turns of a
// whole tick (4 ms) while their connections wait; pinned, they never share
// one. kAuto pins when there are at least as many loops as CPUs: then every
// CPU has its loop anyway, and an unpinned loop could only move onto
// another's. With more CPUs than loops, unpinned loops can leave a busy core.
enum class CpuPinning { kAuto, kOn, kOff };
// "auto", "yes"/"true"/"on", "no"/"false"/"off"; nullopt for anything else.
std::optional<CpuPinning> ParseCpuPinning(std::string_view text);

struct NetworkThreadsOptions {
  unsigned threads = 0;  // 0: one per core, at least 2, at most 8
  CpuPinning pin = CpuPinning::kAuto;
};
inline constexpr unsigned kMaxNetworkThreads = 64;
// Before the loops first start (the process's start); false with a reason
// when they already run or the options are out of bounds.
bool ConfigureNetworkThreads(const NetworkThreadsOptions& options, std::string* error);
// "2 network threads, pinned to CPUs 0,1", for the start-up lines.
std::string DescribeNetworkThreads();

// The loop the calling thread runs; from any other thread, one by turns.
boost::asio::io_context& NetworkContext();
// One by turns, whoever asks: where a new connection goes.
boost::asio::io_context& NextNetworkContext();
size_t NetworkLoopCount();
// Which loop (0 .. NetworkLoopCount()-1) `context` is.
size_t NetworkLoopIndex(const boost::asio::io_context& context);

}  // namespace greylane
