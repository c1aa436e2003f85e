#pragma once
// A write that needs no asynchronous operation when the socket takes the whole message at once,
// as it does for answers of a few kilobytes on a connection whose peer keeps reading: one
// system call, no operation queued with the reactor, no completion posted to the scheduler,
// no suspension of the coroutine that writes. The rest, if any, goes out asynchronously.
#include <algorithm>
#include <array>
#include <cstddef>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace aiclient::net {

/// Writes to `s` (a plain TCP socket) what it takes now without blocking, and drops that from
/// the front of `bufs`. Returns true when the write is over: nothing is left, or `ec` holds an
/// error (other than the socket being full). False: the rest of `bufs` is to be written
/// asynchronously. Puts the socket in non-blocking mode (once; Asio's asynchronous operations
/// work in either mode).
template <class Socket, std::size_t N>
bool write_now(Socket& s, std::array<boost::asio::const_buffer, N>& bufs,
               boost::system::error_code& ec) {
  ec = {};
  if (!s.non_blocking()) {
    s.non_blocking(true, ec);
    if (ec) {
      ec = {};
      return false;
    }
  }
  std::size_t n = s.write_some(bufs, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec = {};
    return false;
  }
  if (ec) return true;
  bool left = false;
  for (auto& b : bufs) {
    const std::size_t used = std::min(n, b.size());
    b += used;
    n -= used;
    left = left || b.size() > 0;
  }
  return !left;
}

}  // namespace aiclient::net
