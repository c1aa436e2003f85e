#include "aiclient/net/write_now.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <string>

namespace aiclient::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A connected pair of loopback TCP sockets.
struct socket_pair {
  asio::io_context ioc;
  tcp::socket a{ioc};
  tcp::socket b{ioc};
  socket_pair() {
    tcp::acceptor acc(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    a.connect(acc.local_endpoint());
    acc.accept(b);
  }
};

TEST(write_now, a_message_the_socket_takes_goes_out_at_once_and_empties_the_buffers) {
  socket_pair p;
  const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
  const std::string body = "{\"ok\":true}";
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body)};
  boost::system::error_code ec;
  EXPECT_TRUE(write_now(p.a, bufs, ec));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.a.non_blocking());
  EXPECT_EQ(bufs[0].size() + bufs[1].size(), 0u);
  std::string got(head.size() + body.size(), '\0');
  asio::read(p.b, asio::buffer(got));
  EXPECT_EQ(got, head + body);
}

TEST(write_now, a_full_socket_leaves_the_rest_in_the_buffers_without_blocking) {
  socket_pair p;
  p.a.set_option(asio::socket_base::send_buffer_size(4096));
  p.b.set_option(asio::socket_base::receive_buffer_size(4096));
  const std::string big(8 << 20, 'x');  // far more than both socket buffers hold
  const std::string tail = "end";
  std::array<asio::const_buffer, 2> bufs{asio::buffer(big), asio::buffer(tail)};
  boost::system::error_code ec;
  EXPECT_FALSE(write_now(p.a, bufs, ec));  // returns instead of waiting for the reader
  EXPECT_FALSE(ec) << ec.message();
  const std::size_t left = bufs[0].size() + bufs[1].size();
  EXPECT_GT(left, tail.size());
  EXPECT_LT(left, big.size() + tail.size());  // the part the socket took is dropped
  EXPECT_EQ(bufs[1].size(), tail.size());
  // What was dropped is exactly what was sent: the reader gets the first bytes of `big`.
  std::string first(big.size() + tail.size() - left, '\0');
  asio::read(p.b, asio::buffer(first));
  EXPECT_EQ(first, big.substr(0, first.size()));
}

TEST(write_now, a_peer_that_reset_is_an_error_not_a_retry) {
  socket_pair p;
  p.b.set_option(asio::socket_base::linger(true, 0));
  p.b.close();  // sends a reset
  const std::string msg(1024, 'y');
  boost::system::error_code ec;
  bool over = false;
  // The first write may still be accepted locally; the reset shows on a later one.
  for (int i = 0; i < 50 && !ec; ++i) {
    std::array<asio::const_buffer, 1> bufs{asio::buffer(msg)};
    over = write_now(p.a, bufs, ec);
  }
  EXPECT_TRUE(over);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      << ec.message();
}

}  // namespace
}  // namespace aiclient::net
