// DrainingBuffer and PeerEndWatch on real loopback sockets: a short read
// makes the next read wait for epoll instead of trying the socket, and no
// ordering of bytes, the peer's end, reads and epoll events leaves bytes or
// the end unread.
#include <QtTest>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "agent/backends/socket_drain.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using greylane::DrainingBuffer;

namespace {

// A connected pair on 127.0.0.1: `reader` is read with Asio, `writer`
// written to directly.
struct Pair {
  asio::io_context io{1};
  tcp::socket reader{io};
  tcp::socket writer{io};
  char buffer[64] = {};

  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    writer.set_option(tcp::no_delay(true));
    end = greylane::PeerEndWatch::Watch(reader);
  }
  std::shared_ptr<greylane::PeerEnd> end;
  void Send(const std::string& bytes) { asio::write(writer, asio::buffer(bytes)); }
};

// One read of at most `size` bytes; what it got once it ended.
struct Read {
  std::optional<std::string> got;
  boost::system::error_code ec;
};

void StartRead(Pair& pair, Read& read, size_t size) {
  pair.reader.async_read_some(DrainingBuffer(asio::buffer(pair.buffer, size), pair.end.get()),
                              [&pair, &read](boost::system::error_code ec, size_t n) {
                                read.ec = ec;
                                read.got = std::string(pair.buffer, n);
                              });
}

// Runs the loop until `read` ends, or `limit` passes.
void RunUntil(Pair& pair, const Read& read, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!read.got && std::chrono::steady_clock::now() < end) {
    pair.io.restart();
    pair.io.run_one_for(10ms);
  }
}

// Runs the loop for `time`, whatever happens (a timer keeps it busy).
void RunFor(Pair& pair, std::chrono::milliseconds time) {
  asio::steady_timer timer(pair.io, time);
  bool done = false;
  timer.async_wait([&done](boost::system::error_code) { done = true; });
  while (!done) {
    pair.io.restart();
    pair.io.run_one();
  }
}

// A read of at most `size` bytes, the loop run until it ends: what it
// got, or "(none)" after 2 s. (The read keeps its own result alive.)
std::string ReadNext(Pair& pair, size_t size) {
  auto read = std::make_shared<Read>();
  pair.reader.async_read_some(DrainingBuffer(asio::buffer(pair.buffer, size), pair.end.get()),
                              [&pair, read](boost::system::error_code ec, size_t n) {
                                read->ec = ec;
                                read->got = std::string(pair.buffer, n);
                              });
  RunUntil(pair, *read, 2000ms);
  return read->got.value_or("(none)");
}

}  // namespace

class SocketDrainTest : public QObject {
  Q_OBJECT

 private slots:
  // The point of it: after a short read the socket is not tried at once.
  // SO_RCVLOWAT keeps epoll quiet below 10 bytes while a recv would still
  // return the 3 there, so a read that tried the socket would end now.
  void aReadAfterAShortReadWaitsForEpoll() {
    if (!greylane::kShortReadDrains) QSKIP("not compiled for this Asio version");
    Pair pair;
    Read first;
    StartRead(pair, first, sizeof pair.buffer);
    pair.Send("hello");
    RunUntil(pair, first, 2000ms);
    QCOMPARE(first.got.value_or("(none)"), std::string("hello"));

    const int low = 10;
    QCOMPARE(setsockopt(pair.reader.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low), 0);
    pair.Send("abc");
    Read second;
    StartRead(pair, second, sizeof pair.buffer);
    RunFor(pair, 100ms);
    QVERIFY2(!second.got, "the read tried the socket instead of waiting for epoll");
    pair.Send("defghij");  // 10 bytes now: epoll reports it
    RunUntil(pair, second, 2000ms);
    QCOMPARE(second.got.value_or("(none)"), std::string("abcdefghij"));
  }

  // A socket not watched (no PeerEnd) has its every read try it first:
  // no short read can be known to have emptied it.
  void anUnwatchedSocketIsAlwaysTried() {
    Pair pair;
    pair.end.reset();
    pair.Send("hello");
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("hello"));
    const int low = 10;
    QCOMPARE(setsockopt(pair.reader.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low), 0);
    pair.Send("abc");
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("abc"));  // epoll was quiet
  }

  // Bytes that come after the short read, while no read waits: epoll's
  // event for them is taken with no read queued, and the next read must
  // still try the socket.
  void bytesThatCameBetweenReadsAreRead() {
    Pair pair;
    pair.Send("one");
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("one"));
    pair.Send("two");
    RunFor(pair, 50ms);  // epoll reports "two" while no read is queued
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("two"));
  }

  // The read completes at once (bytes were there), more bytes come before
  // its handler runs, and the loop takes their epoll event: the handler's
  // next read must still get them.
  void bytesThatCameBeforeTheHandlerRanAreRead() {
    Pair pair;
    pair.Send("early");
    Read second;
    Read first;
    pair.reader.async_read_some(
        DrainingBuffer(asio::buffer(pair.buffer, sizeof pair.buffer), pair.end.get()),
        [&](boost::system::error_code ec, size_t n) {
          first.ec = ec;
          first.got = std::string(pair.buffer, n);
          StartRead(pair, second, sizeof pair.buffer);
        });
    // The read above took "early" at once; its handler waits behind the
    // loop's epoll turn, which sees this.
    pair.Send("late");
    RunUntil(pair, second, 2000ms);
    QCOMPARE(first.got.value_or("(none)"), std::string("early"));
    QCOMPARE(second.got.value_or("(none)"), std::string("late"));
  }

  // A read that filled its buffer has not drained the socket: the rest
  // must be read though no new byte (and no epoll event) comes.
  void aFullReadIsNotTakenForDrained() {
    Pair pair;
    pair.Send("0123456789");
    RunFor(pair, 20ms);
    QCOMPARE(ReadNext(pair, 4), std::string("0123"));
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("456789"));
  }

  // Bytes and the end of the stream in the same packet: the read that
  // takes the bytes sees the end behind them, and the next read gets it at
  // once (epoll raises no second event for it). With the socket read
  // first, so that the reads run from epoll, and without.
  void theEndThatCameWithTheBytesIsRead() {
    for (const bool waiting : {false, true}) {
      Pair pair;
      Read first;
      if (waiting) StartRead(pair, first, sizeof pair.buffer);
      const int cork = 1;
      setsockopt(pair.writer.native_handle(), IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
      pair.Send("last words");
      pair.writer.shutdown(tcp::socket::shutdown_send);  // uncorks: bytes and FIN together
      if (waiting) {
        RunUntil(pair, first, 2000ms);
        QCOMPARE(first.got.value_or("(none)"), std::string("last words"));
      } else {
        RunFor(pair, 20ms);
        QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("last words"));
      }
      Read end;
      StartRead(pair, end, sizeof pair.buffer);
      RunUntil(pair, end, 500ms);
      QVERIFY2(end.got.has_value(), "the end of the stream was not read");
      QCOMPARE(end.ec, boost::system::error_code(asio::error::eof));
    }
  }

  // A socket the agent closed while another process still holds it (a
  // child that inherited it) stays in the watch's epoll set under its old
  // number; a new connection given that number is watched too. The old
  // peer's end must not be taken for the new connection's: it would be
  // shut for reading, and its request cut.
  void aNumberUsedAgainIsNotTakenForTheOldSocket() {
    Pair old;
    const int number = old.reader.native_handle();
    const int held = ::dup(number);  // the other process's hold on the file
    QVERIFY(held >= 0);
    old.reader.close();
    tcp::acceptor acceptor(old.io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket writer(old.io), accepted(old.io);
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(accepted);
    // The new connection under the old number, as the kernel would give it.
    QCOMPARE(::dup2(accepted.native_handle(), number), number);
    accepted.close();
    tcp::socket reader(old.io);
    reader.assign(tcp::v4(), number);
    const std::shared_ptr<greylane::PeerEnd> end = greylane::PeerEndWatch::Watch(reader);
    QVERIFY(end);
    old.writer.close();  // the old peer ends
    RunFor(old, 50ms);
    QVERIFY2(!end->ended, "the old socket's end was taken for the new one's");
    asio::write(writer, asio::buffer(std::string("fresh")));
    char bytes[16];
    std::optional<std::string> got;
    reader.async_read_some(DrainingBuffer(asio::buffer(bytes), end.get()),
                           [&](boost::system::error_code ec, size_t n) {
                             got = ec ? "error: " + ec.message() : std::string(bytes, n);
                           });
    for (int i = 0; i < 200 && !got; ++i) {
      old.io.restart();
      old.io.run_one_for(10ms);
    }
    QCOMPARE(got.value_or("(none)"), std::string("fresh"));
    ::close(held);
  }

  // The end of the stream and a reset still end a waiting read.
  void aClosedPeerEndsAWaitingRead() {
    Pair pair;
    pair.Send("x");
    QCOMPARE(ReadNext(pair, sizeof pair.buffer), std::string("x"));
    Read second;
    StartRead(pair, second, sizeof pair.buffer);
    pair.writer.shutdown(tcp::socket::shutdown_send);
    RunUntil(pair, second, 2000ms);
    QVERIFY(second.got.has_value());
    QCOMPARE(second.ec, boost::system::error_code(asio::error::eof));

    Pair reset;
    reset.Send("y");
    QCOMPARE(ReadNext(reset, sizeof reset.buffer), std::string("y"));
    Read fourth;
    StartRead(reset, fourth, sizeof reset.buffer);
    const linger hard{1, 0};
    setsockopt(reset.writer.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    reset.writer.close();
    RunUntil(reset, fourth, 2000ms);
    QVERIFY(fourth.got.has_value());
    QVERIFY(fourth.ec);
  }

  // Many small messages, each read as it comes, in every spacing.
  void aConversationLosesNothing() {
    Pair pair;
    std::string received;
    for (int i = 0; i < 200; ++i) {
      const std::string message = "m" + std::to_string(i) + ";";
      Read read;
      StartRead(pair, read, sizeof pair.buffer);
      if (i % 3 == 0) RunFor(pair, 1ms);  // sometimes the read waits first
      pair.Send(message);
      RunUntil(pair, read, 2000ms);
      QVERIFY2(read.got.has_value(), qPrintable(QString("message %1 never read").arg(i)));
      received += *read.got;
    }
    std::string expected;
    for (int i = 0; i < 200; ++i) expected += "m" + std::to_string(i) + ";";
    QCOMPARE(received, expected);
  }
};

QTEST_GUILESS_MAIN(SocketDrainTest)
#include "test_socket_drain.moc"
