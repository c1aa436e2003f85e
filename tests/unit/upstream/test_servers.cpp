#include "test_servers.hpp"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "aiclient/upstream/url.hpp"

namespace aiclient::upstream::test {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// An io_context on its own thread with a listening acceptor on 127.0.0.1:0.
struct server_base {
  server_base() : acceptor(ioc) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
  }
  void start() {
    thread = std::thread([this] { ioc.run(); });
  }
  void stop() {
    asio::post(ioc, [this] {
      error_code ec;
      acceptor.close(ec);
      ioc.stop();
    });
    thread.join();
  }

  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::thread thread;
};

/// Copies bytes from one socket to the other until either side ends, then closes both.
asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  char buf[16384];
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf, n), use_tuple);
    if (wec) break;
  }
  error_code ec;
  from->close(ec);
  to->close(ec);
}

}  // namespace

struct test_proxy::impl : server_base {
  mutable std::mutex mu;
  std::vector<std::string> lines;
  std::set<std::string> refused;
  int accepted = 0;

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      {
        std::lock_guard lock(mu);
        ++accepted;
      }
      asio::co_spawn(ioc, session(std::make_shared<tcp::socket>(std::move(sock))), asio::detached);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> client) {
    std::string data;
    auto [ec, n] =
        co_await asio::async_read_until(*client, asio::dynamic_buffer(data), "\r\n\r\n", use_tuple);
    if (ec) co_return;
    std::string line = data.substr(0, data.find("\r\n"));
    {
      std::lock_guard lock(mu);
      lines.push_back(line);
    }
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 <= sp1) co_return;
    std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string version = line.substr(sp2 + 1);

    std::string host;
    std::uint16_t port = 0;
    std::string forward;
    if (method == "CONNECT") {
      auto colon = target.rfind(':');
      if (colon == std::string::npos) co_return;
      host = target.substr(0, colon);
      port = static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1)));
      bool refuse;
      {
        std::lock_guard lock(mu);
        refuse = refused.count(host) > 0;
      }
      if (refuse) {
        std::string no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        co_await asio::async_write(*client, asio::buffer(no), use_tuple);
        co_return;
      }
      forward = data.substr(n);
    } else {
      auto u = url::parse(target);
      if (!u) co_return;
      host = u->host;
      port = u->port;
      forward = method + " " + u->path + " " + version + data.substr(line.size());
    }

    auto upstream = std::make_shared<tcp::socket>(ioc);
    auto [cec] = co_await upstream->async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), use_tuple);
    if (cec) {
      std::string bad = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
      co_await asio::async_write(*client, asio::buffer(bad), use_tuple);
      co_return;
    }
    if (method == "CONNECT") {
      std::string ok = "HTTP/1.1 200 Connection Established\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(*client, asio::buffer(ok), use_tuple);
      if (wec) co_return;
    }
    if (!forward.empty()) {
      auto [wec, wn] = co_await asio::async_write(*upstream, asio::buffer(forward), use_tuple);
      if (wec) co_return;
    }
    asio::co_spawn(ioc, pump(upstream, client), asio::detached);
    co_await pump(client, upstream);
  }
};

test_proxy::test_proxy() : impl_(std::make_unique<impl>()) {
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->start();
}

test_proxy::~test_proxy() {
  impl_->stop();
}

std::uint16_t test_proxy::port() const {
  return impl_->port;
}

std::string test_proxy::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

std::vector<std::string> test_proxy::request_lines() const {
  std::lock_guard lock(impl_->mu);
  return impl_->lines;
}

int test_proxy::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->accepted;
}

void test_proxy::refuse_host(const std::string& host) {
  std::lock_guard lock(impl_->mu);
  impl_->refused.insert(host);
}

struct raw_server::impl : server_base {
  std::string reply;
  bool half_close = false;
  std::atomic<int> accepted{0};
  std::atomic<std::size_t> late{0};

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(ioc, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket sock) {
    std::string data;
    if (reply.empty()) {
      char buf[4096];
      for (;;) {
        auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), use_tuple);
        if (ec) co_return;
      }
    }
    auto [ec, n] =
        co_await asio::async_read_until(sock, asio::dynamic_buffer(data), "\r\n\r\n", use_tuple);
    if (ec) co_return;
    co_await asio::async_write(sock, asio::buffer(reply), use_tuple);
    error_code ignored;
    sock.shutdown(tcp::socket::shutdown_send, ignored);
    if (half_close) {
      // What read_until took past the head is this request's own body (written with the head).
      char buf[4096];
      for (;;) {
        auto [rec, got] = co_await sock.async_read_some(asio::buffer(buf), use_tuple);
        if (rec) break;
        late += got;
      }
    }
    sock.close(ignored);
  }
};

raw_server::raw_server(std::string reply, bool half_close) : impl_(std::make_unique<impl>()) {
  impl_->reply = std::move(reply);
  impl_->half_close = half_close;
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  impl_->start();
}

raw_server::~raw_server() {
  impl_->stop();
}

std::uint16_t raw_server::port() const {
  return impl_->port;
}

int raw_server::connections() const {
  return impl_->accepted.load();
}

std::size_t raw_server::late_bytes() const {
  return impl_->late.load();
}

}  // namespace aiclient::upstream::test
