#pragma once
// A read buffer for TCP sockets whose read tells Asio's reactor when it
// emptied the socket, so that the next read waits for epoll instead of
// trying the socket at once.
//
// Why: Asio 1.26 (Boost 1.81, Debian 12) starts every read with a recv,
// and counts a socket drained only after a read of 0 bytes (end of
// stream). A proxy's reads mostly have to wait: the read that watches a
// client for leaving while its answer is made, and the read kept on an
// idle upstream connection. Each cost one recv that failed with EAGAIN,
// two of a proxied request's six system calls (bench/http_proxy_syscalls.sh).
//
// A short read alone does not prove the socket empty: the peer's end of
// stream may have come in the same packets as the bytes, and once a read
// has taken them it raises no new epoll event. (Counted as drained, a
// client that sent a request and closed at once went unnoticed, and an
// upstream's half-closed kept connection was reused and its request
// stalled.) nginx learns of such an end from EPOLLRDHUP; here PeerEndWatch
// does (peer_end_watch.h): a read given the socket's PeerEnd counts a
// short read as drained only while no end has come, and when one comes
// after, the watch wakes the socket's waiting read.
//
// Written by hand because Asio has no public way to say it. Its receive
// operation is a template on the buffer type; for DrainingBuffer it is
// specialized here to report such a short read as "done and exhausted",
// which the reactor handles in the same step as the recv, under its own
// lock. It follows Asio 1.26's own receive operation, and is compiled for
// that version and the epoll reactor only; anywhere else DrainingBuffer is
// a plain buffer, which is correct and costs the recv again.
#include <boost/asio/buffer.hpp>
#include <boost/asio/version.hpp>

#include "agent/backends/peer_end_watch.h"

namespace greylane {

// A read into `buffer`, for a plain TCP stream socket (TLS reads the
// socket through its own buffer) watched as `peer_end` (null: not watched, and
// no short read counts as draining), which must outlive the read.
struct DrainingBuffer : boost::asio::mutable_buffer {
  DrainingBuffer(const boost::asio::mutable_buffer& buffer, const PeerEnd* peer_end)
      : boost::asio::mutable_buffer(buffer), end(peer_end) {}
  const PeerEnd* end;
};

}  // namespace greylane

#if defined(__linux__) && BOOST_ASIO_VERSION == 102600 && !defined(BOOST_ASIO_DISABLE_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_HAS_IOCP)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>

namespace greylane {
inline constexpr bool kShortReadDrains = true;
}

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<greylane::DrainingBuffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const greylane::DrainingBuffer& buffer,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(buffer),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    if (!socket_ops::non_blocking_recv1(o->socket_, o->buffer_.data(), o->buffer_.size(), o->flags_,
                                        stream, o->ec_, o->bytes_transferred_)) {
      return not_done;  // would block: the read waits for epoll
    }
    if (!stream) return done;
    if (o->bytes_transferred_ == 0) return done_and_exhausted;  // the end: Asio's own rule
    // Fewer bytes than asked: the socket is empty, unless the peer's end
    // came with them (and will be read next, at once).
    const greylane::PeerEnd* end = o->buffer_.end;
    if (o->bytes_transferred_ < o->buffer_.size() && end && !end->ended) return done_and_exhausted;
    return done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  greylane::DrainingBuffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
#else
namespace greylane {
inline constexpr bool kShortReadDrains = false;
}
#endif
