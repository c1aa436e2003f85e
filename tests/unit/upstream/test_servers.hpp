#pragma once
// Small servers for the upstream client tests: an HTTP proxy and a raw-bytes server.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aiclient::upstream::test {

/// A tiny HTTP proxy on 127.0.0.1, port 0, on its own thread. CONNECT host:port opens a
/// tunnel; an absolute-form request is forwarded with its request line rewritten to
/// origin-form (only the first request of a connection). Every target host is reached at
/// 127.0.0.1 with the target's port, so tests can use names that do not resolve.
class test_proxy {
 public:
  test_proxy();
  ~test_proxy();
  test_proxy(const test_proxy&) = delete;
  test_proxy& operator=(const test_proxy&) = delete;

  /// Listening port.
  std::uint16_t port() const;
  /// "http://127.0.0.1:PORT".
  std::string url() const;
  /// First line of every request head the proxy received, in order.
  std::vector<std::string> request_lines() const;
  /// Connections accepted so far.
  int connections() const;
  /// CONNECT requests to this host are answered 403.
  void refuse_host(const std::string& host);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A server on 127.0.0.1, port 0, on its own thread, that answers every connection by
/// reading a request head, writing `reply` verbatim and closing. An empty `reply` means
/// silence: it reads until the peer closes. With `half_close`, it ends its side after the
/// reply (FIN) but keeps reading until the peer closes, counting the bytes that still arrive.
class raw_server {
 public:
  explicit raw_server(std::string reply, bool half_close = false);
  ~raw_server();
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;

  /// Listening port.
  std::uint16_t port() const;
  /// Connections accepted so far.
  int connections() const;
  /// half_close: bytes received on connections after their reply (a request written to a
  /// connection the server had already ended).
  std::size_t late_bytes() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aiclient::upstream::test
