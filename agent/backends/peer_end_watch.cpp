#include "agent/backends/peer_end_watch.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace greylane {

PeerEndWatch::PeerEndWatch(boost::asio::execution_context& context)
    : boost::asio::execution_context::service(context) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return;
  boost::system::error_code ec;
  m_descriptor.emplace(static_cast<boost::asio::io_context&>(context));
  m_descriptor->assign(epoll, ec);
  if (ec) {
    m_descriptor.reset();
    ::close(epoll);
  }
}

PeerEndWatch::~PeerEndWatch() {
  shutdown();
}

void PeerEndWatch::shutdown() {
  if (m_descriptor) {
    boost::system::error_code ignored;
    m_descriptor->close(ignored);
    m_descriptor.reset();
  }
  m_watched.clear();
}

std::shared_ptr<PeerEnd> PeerEndWatch::Add(int fd) {
  if (!m_descriptor || fd < 0) return nullptr;
  const int epoll = m_descriptor->native_handle();
  // The number alone does not name the socket: a file another process
  // still holds stays in the set after the agent closed its number, and
  // the number may be a new socket's by the time that file's peer ends.
  const uint32_t serial = ++m_serial;
  epoll_event event{};
  event.events = EPOLLRDHUP | EPOLLET;
  event.data.u64 = (static_cast<uint64_t>(serial) << 32) | static_cast<uint32_t>(fd);
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    // Still in the set: the same file under the same number (never
    // closed), watched again.
    if (errno != EEXIST || ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event) != 0) return nullptr;
  }
  auto end = std::make_shared<PeerEnd>();
  m_watched[fd] = Watched{serial, end};
  Arm();
  return end;
}

void PeerEndWatch::Arm() {
  if (m_armed || !m_descriptor) return;
  m_armed = true;
  m_descriptor->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           [this](boost::system::error_code ec) {
                             m_armed = false;
                             if (ec) return;  // closed: the io_context is going
                             Ready();
                           });
}

void PeerEndWatch::Ready() {
  epoll_event events[64];
  int n = 0;
  do {
    n = ::epoll_wait(m_descriptor->native_handle(), events, 64, 0);
    for (int i = 0; i < n; ++i) {
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      const auto serial = static_cast<uint32_t>(events[i].data.u64 >> 32);
      const auto found = m_watched.find(fd);
      if (found == m_watched.end() || found->second.serial != serial) continue;
      const std::shared_ptr<PeerEnd> end = found->second.end.lock();
      m_watched.erase(found);
      // Its owner is gone, and the number may be another file's now.
      if (!end) continue;
      end->ended = true;
      // Wakes the reactor for the socket: a read waiting on it finds the
      // end. (Only the reading side is shut: an answer may still go out.)
      ::shutdown(fd, SHUT_RD);
    }
  } while (n == 64 || (n < 0 && errno == EINTR));
  Arm();
}

}  // namespace greylane
