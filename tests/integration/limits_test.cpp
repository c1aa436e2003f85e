// Client-side limits: connection count, slow headers, oversized headers, keep-alive.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace aiclient::testing {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

const std::string chat_body =
    R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}]})";

std::string chunked(const std::string& body) {
  std::ostringstream out;
  out << std::hex << body.size() << "\r\n" << body << "\r\n0\r\n\r\n";
  return out.str();
}

TEST(limits, a_body_sent_with_its_header_or_after_it_is_read_whole) {
  running_server srv(test_settings(), {});
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(chat_body.size()) + "\r\n\r\n";
  // In one write with the header; the header alone, then the body; half the body with the
  // header and the rest 100 ms later.
  for (const std::size_t split : {std::size_t{0}, head.size(), head.size() + 10}) {
    const std::string answer = exchange_raw(srv.port(), head + chat_body, split, 100ms);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "split " << split << ": " << answer;
    EXPECT_NE(answer.find("\"chat.completion\""), std::string::npos) << answer;
  }
}

TEST(limits, a_chunked_body_is_read_whole_and_checked_against_its_limits) {
  auto s = test_settings();
  s.max_body_bytes = 1024;
  running_server srv(s, {});
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  // A chunked body with its header, split in the chunk-size line, and in the chunk.
  for (const std::size_t split : {std::size_t{0}, head.size() + 1, head.size() + 5}) {
    const std::string answer = exchange_raw(srv.port(), head + chunked(chat_body), split, 100ms);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "split " << split << ": " << answer;
  }
  // Over MAX_BODY_BYTES, no Content-Length to refuse it early: 413 in the client's protocol.
  const std::string big = exchange_raw(srv.port(), head + chunked(std::string(4096, 'x')));
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
  EXPECT_NE(big.find("MAX_BODY_BYTES"), std::string::npos) << big;
  // A broken chunk size: 400, and the request never reaches a handler.
  const std::string bad = exchange_raw(srv.port(), head + "zz\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0u) << bad;
  EXPECT_NE(bad.find("malformed HTTP request body"), std::string::npos) << bad;
}

TEST(limits, pipelined_requests_and_a_header_in_pieces_are_answered_in_order) {
  running_server srv(test_settings(), {});
  const std::string one = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string two = "GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  // Both in one write: the second request is parsed from what the first read left over.
  const std::string both = exchange_raw(srv.port(), one + two);
  const auto first = both.find("HTTP/1.1 200");
  const auto second = both.find("HTTP/1.1 404");
  EXPECT_EQ(first, 0u) << both;
  EXPECT_NE(second, std::string::npos) << both;
  EXPECT_LT(first, second);
  // A header in two writes 100 ms apart, split inside the request line.
  const std::string split = exchange_raw(srv.port(), two, 10, 100ms);
  EXPECT_EQ(split.rfind("HTTP/1.1 404", 0), 0u) << split;
}

TEST(limits, a_malformed_request_line_and_a_cut_header_are_400) {
  running_server srv(test_settings(), {});
  const std::string bad = exchange_raw(srv.port(), "GET /health HTTP/9.x\r\nHost: x\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0u) << bad;
  EXPECT_NE(bad.find("malformed HTTP request"), std::string::npos) << bad;
  // The client sends half a header and ends its side: a 400 (it may still read), then the end.
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(std::string("GET /health HTTP/1.1\r\nHo")));
  sock.shutdown(tcp::socket::shutdown_send);
  const std::string cut = read_until_close(sock, 5s);
  EXPECT_EQ(cut.rfind("HTTP/1.1 400", 0), 0u) << cut;
  EXPECT_NE(cut.find("partial message"), std::string::npos) << cut;
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(srv.get().open_connections(), 0);
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

// Timeouts are enforced by a per-worker deadline sweep (granularity: deadline_sweeper::slack,
// 10 ms): each must fire after its configured time, not before, and not much later.
constexpr auto timeout_slop = 1500ms;  // CI machines are busy; the sweep itself adds ~10 ms

TEST(limits, an_idle_keep_alive_connection_is_closed_after_keep_alive_timeout) {
  auto s = test_settings();
  s.keep_alive_timeout_ms = 300;
  s.header_timeout_ms = 10000;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string answer = read_until_close(sock, 5s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_EQ(answer.find("connection: close"), std::string::npos) << answer;  // kept alive
  EXPECT_GE(elapsed, 290ms);  // not before KEEP_ALIVE_TIMEOUT_MS
  EXPECT_LT(elapsed, 300ms + timeout_slop);
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(srv.get().open_connections(), 0);
}

TEST(limits, a_keep_alive_connection_in_use_is_not_closed_by_an_earlier_timeout) {
  // Each request re-arms the deadline: 4 requests 400 ms apart outlive one 1 s timeout (with
  // room for a busy machine between two requests).
  auto s = test_settings();
  s.keep_alive_timeout_ms = 1000;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  for (int i = 0; i < 4; ++i) {
    asio::write(sock, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos || got.find("}") == std::string::npos) {
      boost::system::error_code ec;
      const auto n = sock.read_some(asio::buffer(buf), ec);
      ASSERT_FALSE(ec) << "request " << i << ": " << ec.message();
      got.append(buf, n);
    }
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
    std::this_thread::sleep_for(400ms);
  }
}

TEST(limits, a_stalled_request_body_is_cut_off_after_body_timeout) {
  auto s = test_settings();
  s.body_timeout_ms = 300;
  running_server srv(s, {});
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(std::string("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                             "Content-Type: application/json\r\n"
                                             "Content-Length: 100\r\n\r\n{\"model\":")));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string answer = read_until_close(sock, 5s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(answer, "");  // the connection just ends
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 300ms + timeout_slop);
  for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(srv.get().open_connections(), 0);
}

TEST(limits, a_client_that_stops_reading_is_cut_off_after_write_timeout) {
  // 32 MB from the upstream, a client with a tiny receive buffer that reads nothing: the
  // gateway's write stalls and WRITE_TIMEOUT_MS closes the connection.
  fake_upstream up;
  up.push(json_answer("{\"x\":\"" + std::string(32 * 1024 * 1024, 'a') + "\"}"));
  auto s = test_settings("openai-custom");
  s.write_timeout_ms = 300;
  running_server srv(s, one_instance_pool("openai-custom", up.base_url() + "/v1"));
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.open(tcp::v4());
  sock.set_option(asio::socket_base::receive_buffer_size(4096));
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  const std::string body = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
  asio::write(sock, asio::buffer("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body));
  // The server closes its side while we read nothing.
  for (int i = 0; i < 500 && srv.get().open_connections() < 1; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(srv.get().open_connections(), 1);
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) {
    closed = srv.get().open_connections() == 0;
    if (!closed) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(closed) << "the stalled connection is still open after 10 s";
  // What arrives is cut short: less than the 32 MB body.
  const std::string answer = read_until_close(sock, 10s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 200);
  EXPECT_LT(answer.size(), 32u * 1024 * 1024);
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

// --- A body with a Content-Length: read by the session straight into the body string ---

/// An OpenAI request whose content is `size` bytes of a pattern that shows a lost, repeated or
/// misplaced piece (it is passed through to the upstream byte for byte).
std::string patterned_body(std::size_t size) {
  std::string content(size, 'a');
  for (std::size_t i = 0; i < size; ++i)
    content[i] = static_cast<char>('a' + ((i * 2654435761u) >> 16) % 26);
  return R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + content + R"("}]})";
}

std::string post_head(const std::string& body, const std::string& extra = "") {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
}

/// Writes `data` in pieces ending at `cuts` (offsets into it), `pause` apart.
void write_in_pieces(tcp::socket& sock, const std::string& data, std::vector<std::size_t> cuts,
                     std::chrono::milliseconds pause) {
  cuts.push_back(data.size());
  std::size_t at = 0;
  for (const std::size_t cut : cuts) {
    if (at > 0) std::this_thread::sleep_for(pause);
    asio::write(sock, asio::buffer(data.data() + at, cut - at));
    at = cut;
  }
}

/// The answer is a 200 and the upstream got exactly one request, with `body` byte for byte.
void expect_relayed_once(const std::string& answer, fake_upstream& up, const std::string& body) {
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 300);
  const auto seen = up.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].body == body)
      << "received " << seen[0].body.size() << " bytes of " << body.size();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++count;
  return count;
}

TEST(content_length_body, arriving_in_pieces_with_pauses_it_reaches_the_upstream_whole) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  // 600 KB: more than one step of the body string's growth (256 KB, then doubling).
  const std::string body = patterned_body(600 * 1024);
  const std::string head = post_head(body, "Connection: close\r\n");
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  // Some of the body with the header, then pieces 50 ms apart, one across a growth step.
  write_in_pieces(sock, head + body, {head.size() + 100, head.size() + 70000, head.size() + 300000},
                  50ms);
  expect_relayed_once(read_until_close(sock, 5s), up, body);
}

TEST(content_length_body, a_pipelined_request_after_it_in_the_same_write_is_served) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  // Small: both requests, bodies included, come with the first read of the header (the first
  // body is taken from the connection's buffer, up to its length only). Large: the first
  // body is mostly read from the socket, which must stop at its end.
  for (const std::size_t size : {std::size_t{20}, std::size_t{150 * 1024}}) {
    const std::string one = patterned_body(size);
    const std::string two = patterned_body(size + 3);
    const std::string both = post_head(one) + one + post_head(two, "Connection: close\r\n") + two;
    const std::size_t before = up.requests().size();
    const std::string answer = exchange_raw(srv.port(), both);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "size " << size << ": " << answer;
    EXPECT_EQ(count_of(answer, "HTTP/1.1 200"), 2u) << "size " << size << ": " << answer;
    const auto seen = up.requests();
    ASSERT_EQ(seen.size(), before + 2) << "size " << size;
    EXPECT_TRUE(seen[before].body == one) << "size " << size;
    EXPECT_TRUE(seen[before + 1].body == two) << "size " << size;
  }
}

TEST(content_length_body, all_of_it_with_the_header_is_taken_from_the_buffer) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  const std::string body = patterned_body(100);
  // With Expect: 100-continue too: the body is already there, so no 100 Continue is sent.
  const std::string answer = exchange_raw(
      srv.port(), post_head(body, "Connection: close\r\nExpect: 100-continue\r\n") + body);
  expect_relayed_once(answer, up, body);
}

TEST(content_length_body, expect_100_continue_is_answered_before_the_body_is_read) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  const std::string body = patterned_body(1000);
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(post_head(body, "Connection: close\r\nExpect: 100-continue\r\n")));
  std::string interim(25, '\0');
  asio::read(sock, asio::buffer(interim));
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(sock, asio::buffer(body));
  expect_relayed_once(read_until_close(sock, 5s), up, body);
}

TEST(content_length_body, a_peer_that_ends_its_side_mid_body_gets_400_partial_message) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  const std::string body = patterned_body(200 * 1024);
  const std::string head = post_head(body);
  // Cut with the header (the rest never comes), and cut after a piece read from the socket.
  for (const std::size_t cut : {head.size() + 10, head.size() + 100000}) {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
    write_in_pieces(sock, (head + body).substr(0, cut), {head.size() + 10}, 50ms);
    std::this_thread::sleep_for(50ms);
    sock.shutdown(tcp::socket::shutdown_send);
    const std::string answer = read_until_close(sock, 5s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << "cut " << cut << ": " << answer;
    EXPECT_NE(answer.find("malformed HTTP request body: partial message"), std::string::npos)
        << answer;
    for (int i = 0; i < 100 && srv.get().open_connections() > 0; ++i)
      std::this_thread::sleep_for(5ms);
    EXPECT_EQ(srv.get().open_connections(), 0) << "cut " << cut;
  }
  EXPECT_EQ(up.requests().size(), 0u);  // never reached a handler
}

TEST(content_length_body, a_body_still_arriving_after_body_timeout_is_cut_off) {
  // Pieces 100 ms apart, each well within BODY_TIMEOUT_MS, the whole body not: the timeout
  // is the whole body's, not each read's.
  auto s = test_settings();
  s.body_timeout_ms = 300;
  running_server srv(s, {});
  const std::string body = patterned_body(1000);
  const std::string head = post_head(body, "Connection: close\r\n");
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(sock, asio::buffer(head + body.substr(0, 10)));
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (std::size_t at = 10; at + 10 < body.size(); at += 10) {
      std::this_thread::sleep_for(100ms);
      boost::system::error_code ec;
      asio::write(sock, asio::buffer(body.data() + at, 10), ec);
      if (ec || stop || std::chrono::steady_clock::now() - t0 > 3s) break;
    }
  });
  for (int i = 0; i < 500 && srv.get().open_connections() < 1; ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(srv.get().open_connections(), 1);
  for (int i = 0; i < 500 && srv.get().open_connections() > 0; ++i)
    std::this_thread::sleep_for(10ms);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(srv.get().open_connections(), 0);
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 300ms + timeout_slop);
  stop = true;
  trickle.join();
  const std::string answer = read_until_close(sock, 2s);
  EXPECT_EQ(answer, "");  // the connection just ends
}

}  // namespace
}  // namespace aiclient::testing
