#pragma once
// The agent's asynchronous network work (the HTTP data plane, connections
// to HTTP upstreams, the paced token streams of the built-in language
// model) runs on a few event loops, one thread each, started on first use
// and stopped at exit. As in nginx's workers, a connection lives on one
// loop, and what it starts (its upstream call, its timers) runs on that
// same loop: a request never wakes another thread, and a loop's handlers
// never run at once, so work tied to one loop needs no strand.
#include <cstddef>

#include <boost/asio/io_context.hpp>

namespace greylane {

// The loop the calling thread runs; from any other thread, one by turns.
boost::asio::io_context& NetworkContext();
// One by turns, whoever asks: where a new connection goes.
boost::asio::io_context& NextNetworkContext();
size_t NetworkLoopCount();
// Which loop (0 .. NetworkLoopCount()-1) `context` is.
size_t NetworkLoopIndex(const boost::asio::io_context& context);

}  // namespace greylane
