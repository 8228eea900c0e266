#pragma once
// An HTTP message head written into one string, its pieces copied in
// place. Written by hand: std::string::append checks, and may grow, the
// string for every piece, and a proxied request's two heads are twenty
// such pieces each (a tenth of the relay's own work, measured by
// bench/http_proxy_instructions.sh). The string is sized once from the
// caller's estimate; a piece past it grows the string, so an estimate
// that is wrong costs time, never memory safety.
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace greylane {

class WireText {
 public:
  // Writes into `out` (its contents replaced); `room`: what the caller
  // expects to write.
  WireText(std::string& out, size_t room) : m_out(out) {
    m_out.resize(room);
    m_at = m_out.data();
    m_end = m_at + room;
  }
  WireText(const WireText&) = delete;
  WireText& operator=(const WireText&) = delete;
  // The string cut to what was written.
  ~WireText() { m_out.resize(static_cast<size_t>(m_at - m_out.data())); }

  [[gnu::always_inline]] WireText& Put(std::string_view text) {
    if (static_cast<size_t>(m_end - m_at) < text.size()) Grow(text.size());
    std::memcpy(m_at, text.data(), text.size());
    m_at += text.size();
    return *this;
  }
  WireText& Number(uint64_t n) {
    if (m_end - m_at < 20) Grow(20);
    m_at = std::to_chars(m_at, m_end, n).ptr;
    return *this;
  }
  // A header's name or value that may come from outside: CR, LF and NUL
  // are dropped, or one value could write a second header.
  WireText& Field(std::string_view text) {
    Put(text);
    if (MayHoldBreak(text)) {
      char* const start = m_at - text.size();
      char* kept = start;
      for (char* p = start; p < m_at; ++p) {
        if (*p != '\r' && *p != '\n' && *p != '\0') *kept++ = *p;
      }
      m_at = kept;
    }
    return *this;
  }

  // Whether `text` has a byte below 0x0e (CR, LF and NUL are such): eight
  // bytes at a time, as almost no value has one.
  static bool MayHoldBreak(std::string_view text) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHighs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if (((word - kOnes * 0x0e) & ~word & kHighs) != 0) return true;
    }
    for (; i < text.size(); ++i) {
      if (static_cast<unsigned char>(text[i]) < 0x0e) return true;
    }
    return false;
  }

 private:
  [[gnu::noinline]] void Grow(size_t n) {
    const auto used = static_cast<size_t>(m_at - m_out.data());
    m_out.resize(2 * (used + n));
    m_at = m_out.data() + used;
    m_end = m_out.data() + m_out.size();
  }

  std::string& m_out;
  char* m_at;
  char* m_end;
};

}  // namespace greylane
