#pragma once
// The agent's asynchronous network work (the HTTP data plane, connections
// to HTTP upstreams, the paced token streams of the built-in language
// model) runs on one Asio io_context served by a few threads, started on
// first use and stopped at exit.
#include <boost/asio/io_context.hpp>

namespace greylane {

boost::asio::io_context& NetworkContext();

}  // namespace greylane
