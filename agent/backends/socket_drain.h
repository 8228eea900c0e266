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
// A short read alone does not prove the socket is empty: the peer's end of
// stream may have come in the same packets as the bytes, and it raises no
// new epoll event once the read has taken them. (Counting every short read
// as draining, a client that sent a request and closed at once went
// unnoticed, and an upstream's half-closed connection was reused and its
// request stalled to the first-byte timeout.) nginx learns of such an end
// from EPOLLRDHUP, which Asio neither asks for nor hands to a read. So the
// read here is one recvmmsg of two messages: the first takes the bytes
// into all but the buffer's last byte, the second, into that byte, says
// what follows them. Would block: the socket is empty, and the next read
// waits for epoll (Asio's "done and exhausted", under the reactor's lock,
// in the same step). 0 bytes: the end of stream is there, and the next
// read finds it at once. A byte: more was there, and it is kept. One
// system call still, as the plain recv was.
//
// Written by hand because Asio has no public way to say any of it. Its
// receive operation is a template on the buffer type; for DrainingBuffer
// it is specialized here, following Asio 1.26's own receive operation,
// and compiled for that version and the epoll reactor only. Anywhere else
// DrainingBuffer is a plain buffer, which is correct and costs the recv
// again.
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
#include <sys/socket.h>

#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <cerrno>
#include <cstring>

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
    auto* data = static_cast<char*>(o->buffer_.data());
    const size_t size = o->buffer_.size();
    if ((o->state_ & socket_ops::stream_oriented) == 0 || size < 2) {
      // Not a case of ours: Asio's own rule.
      if (!socket_ops::non_blocking_recv1(o->socket_, data, size, o->flags_,
                                          (o->state_ & socket_ops::stream_oriented) != 0, o->ec_,
                                          o->bytes_transferred_)) {
        return not_done;
      }
      return o->bytes_transferred_ == 0 ? done_and_exhausted : done;
    }
    iovec parts[2] = {{data, size - 1}, {data + size - 1, 1}};
    mmsghdr messages[2] = {};
    messages[0].msg_hdr.msg_iov = &parts[0];
    messages[0].msg_hdr.msg_iovlen = 1;
    messages[1].msg_hdr.msg_iov = &parts[1];
    messages[1].msg_hdr.msg_iovlen = 1;
    int got = -1;
    do {
      got = ::recvmmsg(o->socket_, messages, 2, o->flags_ | MSG_DONTWAIT, nullptr);
    } while (got < 0 && errno == EINTR);
    o->bytes_transferred_ = 0;
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
      return done;
    }
    o->ec_ = boost::system::error_code();
    const size_t first = messages[0].msg_len;
    if (first == 0) {
      o->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    o->bytes_transferred_ = first;
    if (got == 1) return done_and_exhausted;  // the second would have blocked
    const size_t second = messages[1].msg_len;
    if (second == 0) return done;  // the end of stream follows: the next read takes it at once
    // One more byte came: it follows the first message's bytes.
    if (first < size - 1) std::memmove(data + first, data + size - 1, second);
    o->bytes_transferred_ = first + second;
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
