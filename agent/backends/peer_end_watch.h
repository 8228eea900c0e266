#pragma once
// Learns of a TCP peer's end of stream (its FIN) as it comes, apart from
// the socket's reads.
//
// Why: a read into a DrainingBuffer (socket_drain.h) that empties the
// socket makes the next read wait for epoll. When the peer's FIN came in
// the same packets as the bytes just read, it raises no new epoll event,
// and the waiting read would never learn of it: a client that sent a
// request and closed at once would be answered for nobody, and an
// upstream's half-closed kept connection reused until a timeout. nginx
// learns of such an end from EPOLLRDHUP, which Asio's reactor does not ask
// for and does not hand to reads.
//
// Written by hand, as no library offers it: each io_context (an Asio
// service) keeps an epoll set of its own, with each watched socket in it
// for EPOLLRDHUP alone, edge-triggered; the set's descriptor waits in
// Asio's reactor like any other. When a peer's end comes, its PeerEnd is
// marked (a DrainingBuffer read then does not count the socket drained)
// and the socket is shut for reading, which wakes Asio's reactor for it:
// a read waiting on it runs and finds the end (after any bytes before it).
// Per connection this costs one epoll_ctl, and per peer's end a shutdown;
// per request, nothing.
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace greylane {

// Whether a watched socket's peer has ended its stream.
struct PeerEnd {
  bool ended = false;
};

class PeerEndWatch final : public boost::asio::execution_context::service {
 public:
  using key_type = PeerEndWatch;
  static inline boost::asio::execution_context::id id;

  explicit PeerEndWatch(boost::asio::execution_context& context);
  ~PeerEndWatch() override;

  // Watches the connected `socket`, on the thread that runs its
  // io_context (one thread only), until it is closed. Null where it cannot
  // be watched (then DrainingBuffer reads of it must be given none: they
  // count no short read as draining).
  template <typename Socket>
  static std::shared_ptr<PeerEnd> Watch(Socket& socket) {
    auto& context = static_cast<boost::asio::io_context&>(socket.get_executor().context());
    return boost::asio::use_service<PeerEndWatch>(context).Add(socket.native_handle());
  }

 private:
  void shutdown() override;
  std::shared_ptr<PeerEnd> Add(int fd);
  void Arm();
  void Ready();

  std::optional<boost::asio::posix::stream_descriptor> m_descriptor;  // its epoll set
  bool m_armed = false;
  // By descriptor number: a number closed and used again is watched again,
  // which replaces its entry; `serial` tells its events from the old one's.
  struct Watched {
    uint32_t serial = 0;
    std::weak_ptr<PeerEnd> end;
  };
  std::unordered_map<int, Watched> m_watched;
  uint32_t m_serial = 0;
};

}  // namespace greylane
