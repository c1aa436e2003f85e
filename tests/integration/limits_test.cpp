// Client-side limits: connection count, slow headers, oversized headers, keep-alive.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "harness.hpp"

namespace aiclient::testing {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// Reads whatever the server sends until it closes or `timeout` passes.
std::string read_until_close(tcp::socket& s, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  s.non_blocking(true);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    const auto n = s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

TEST(limits, connections_over_max_connections_get_503) {
  auto s = test_settings();
  s.max_connections = 1;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket first(ioc);
  first.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  // Wait until the server has accepted the first one.
  for (int i = 0; i < 100 && srv.get().open_connections() < 1; ++i)
    std::this_thread::sleep_for(5ms);
  tcp::socket second(ioc);
  second.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  const std::string answer = read_until_close(second, 2s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("too many connections"), std::string::npos);
  first.close();
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(http_request(srv.port(), "GET", "/health", {}, "").status, 200);
}

TEST(limits, a_slow_header_is_cut_off_after_header_timeout) {
  auto s = test_settings();
  s.header_timeout_ms = 200;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(std::string("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string answer = read_until_close(sock, 3s);
  // The server closes the connection (no request was complete, so no answer is due).
  EXPECT_EQ(answer, "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(srv.get().open_connections(), 0);
}

TEST(limits, an_idle_connection_without_a_request_is_closed_silently) {
  auto s = test_settings();
  s.header_timeout_ms = 200;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  EXPECT_EQ(read_until_close(sock, 2s), "");
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(srv.get().open_connections(), 0);
}

TEST(limits, oversized_header_is_431) {
  auto s = test_settings();
  s.max_header_bytes = 1024;
  running_server srv(s, {});
  auto r = http_request(srv.port(), "GET", "/health", {{"x-big", std::string(4000, 'a')}}, "");
  EXPECT_EQ(r.status, 431);
}

TEST(limits, keep_alive_serves_several_requests_on_one_connection) {
  running_server srv(test_settings(), {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(sock, asio::buffer(req + req +
                                 "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string answer = read_until_close(sock, 3s);
  std::size_t count = 0;
  for (auto pos = answer.find("HTTP/1.1 200"); pos != std::string::npos;
       pos = answer.find("HTTP/1.1 200", pos + 1))
    ++count;
  EXPECT_EQ(count, 3u) << answer;
}

}  // namespace
}  // namespace aiclient::testing
