#pragma once
// A read buffer whose short read tells Asio's reactor that the TCP socket's
// receive queue is empty, so that the next read on it waits for epoll
// instead of trying the socket at once.
//
// Why: Asio 1.26 (Boost 1.81, Debian 12) starts every read with a recv,
// and counts a socket drained only after a read of 0 bytes (end of
// stream). A proxy's reads mostly have to wait: the read that watches a
// client for leaving while its answer is made, and the read kept on an
// idle upstream connection. Each cost one recv that failed with EAGAIN,
// two of a proxied request's six system calls (bench/http_proxy_syscalls.sh).
// A stream read that returns fewer bytes than asked for emptied the queue
// at that moment, which is the rule nginx reads sockets by; bytes that
// arrive after it raise a new edge-triggered epoll event, and that runs
// the waiting read. Asio already applies this rule to writes: a partial
// send marks the socket full the same way.
//
// Written by hand because Asio has no public way to say it. Its receive
// operation is a template on the buffer type; for DrainingBuffer it is
// specialized here to report a short read as "done and exhausted", which
// the reactor handles in the same step as the recv, under its own lock.
// (Marking it later, from the read's handler, would be right only while
// the loop runs that handler before any later epoll event's reads: true of
// one thread per loop, not of a loop run by several.) It follows
// Asio 1.26's own receive operation, and is compiled for that version and
// the epoll reactor only; anywhere else DrainingBuffer is a plain buffer,
// which is correct and costs the recv again.
#include <boost/asio/buffer.hpp>
#include <boost/asio/version.hpp>

namespace greylane {

// A read into `buffer`, for a plain TCP stream socket (TLS reads the
// socket through its own buffer).
struct DrainingBuffer : boost::asio::mutable_buffer {
  explicit DrainingBuffer(const boost::asio::mutable_buffer& buffer)
      : boost::asio::mutable_buffer(buffer) {}
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
    // 0 bytes is the end of the stream, which Asio counts as drained too.
    if (stream && !o->ec_ && o->bytes_transferred_ < o->buffer_.size()) return done_and_exhausted;
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
