#include "aiclient/upstream/client.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <thread>

#include "support/fake_upstream.hpp"
#include "test_servers.hpp"

namespace aiclient::upstream {

// Readable failures in assertion messages.
inline std::ostream& operator<<(std::ostream& os, failure f) {
  return os << to_string(f);
}

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using aiclient::testing::fake_upstream;
using aiclient::testing::recorded_request;
using aiclient::testing::scripted_response;
using aiclient::testing::shared_test_cert;
using aiclient::upstream::test::raw_server;
using aiclient::upstream::test::test_proxy;

/// "http://127.0.0.1:PORT" + path of a raw_server.
std::string url_of(const raw_server& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

/// The head of a chunked event-stream answer, for raw_server scripts.
constexpr std::string_view sse_chunked_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

request make_request(const std::string& method, const std::string& target, std::string body = {}) {
  request r;
  r.method = method;
  auto u = url::parse(target);
  if (!u) throw std::invalid_argument("bad test URL " + target);
  r.target = *u;
  r.body = std::move(body);
  return r;
}

scripted_response body_response(std::vector<std::string> chunks, bool chunked = true) {
  scripted_response r;
  r.headers = {{"content-type", "text/plain"}};
  r.chunks = std::move(chunks);
  r.chunked = chunked;
  return r;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

/// Runs `after` once `d` has passed, on the current executor.
void run_after(asio::any_io_executor ex, std::chrono::milliseconds d, std::function<void()> after) {
  asio::co_spawn(
      ex,
      [d, after = std::move(after)]() -> asio::awaitable<void> {
        co_await sleep_for(d);
        after();
      },
      asio::detached);
}

/// A port with nothing listening on it.
std::uint16_t closed_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class upstream_client : public ::testing::Test {
 protected:
  upstream_client() {
    opts.connect_timeout = 2s;
    opts.first_byte_timeout = 2s;
    opts.idle_timeout = 2s;
  }

  std::unique_ptr<client> make_client(asio::ssl::context* ctx = nullptr) {
    return std::make_unique<client>(ioc.get_executor(), ctx ? *ctx : *tls, opts);
  }

  /// Runs the test body (a coroutine) on `ioc` in this thread; fails after 20 s.
  template <class F>
  void run(F&& body) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, std::forward<F>(body), [&](std::exception_ptr e) {
      done = true;
      error = e;
    });
    ioc.run_for(20s);
    ASSERT_TRUE(done) << "the test coroutine did not finish";
    if (error) std::rethrow_exception(error);
  }

  asio::io_context ioc;
  std::unique_ptr<asio::ssl::context> tls = make_client_tls_context("");
  options opts;
};

// ---- plain HTTP exchanges ----

TEST_F(upstream_client, sends_request_with_host_length_and_user_agent) {
  fake_upstream fake;
  scripted_response answer = body_response({"{\"id\":1}"}, false);
  answer.status = 201;
  answer.headers.emplace_back("x-request-id", "req-42");
  fake.push(answer);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto req = make_request("POST", fake.base_url() + "/v1/chat/completions?x=1", "{\"a\":1}");
    req.headers = {{"content-type", "application/json"},
                   {"authorization", "Bearer sk-test"},
                   {"Host", "evil.example"},
                   {"Content-Length", "999"},
                   {"x-bad", "a\r\nx-injected: 1"}};
    auto r = co_await c->send(std::move(req));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    EXPECT_EQ(r.resp->status(), 201);
    EXPECT_EQ(r.resp->header_value("X-Request-Id"), "req-42");
    EXPECT_EQ(r.resp->header_value("x-missing"), "");
    auto hs = r.resp->headers();
    EXPECT_NE(std::find(hs.begin(), hs.end(), header{"x-request-id", "req-42"}), hs.end());
    auto [f, body] = co_await r.resp->read_all(1 << 20);
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body, "{\"id\":1}");
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions?x=1");
  EXPECT_EQ(reqs[0].headers["host"], "127.0.0.1:" + std::to_string(fake.port()));
  EXPECT_EQ(reqs[0].headers["content-length"], "7");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-test");
  EXPECT_EQ(reqs[0].headers["user-agent"], std::string("aiclient-server/") + AICLIENT_VERSION);
  EXPECT_EQ(reqs[0].headers.count("x-bad"), 0u);
  EXPECT_EQ(reqs[0].headers.count("x-injected"), 0u);
  EXPECT_EQ(reqs[0].body, "{\"a\":1}");
}

TEST_F(upstream_client, sends_a_borrowed_body_and_prefers_an_owned_one) {
  fake_upstream fake;
  const std::string large(200 * 1024, 'x');  // the caller's body, not copied into the request
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto req = make_request("POST", fake.base_url() + "/borrowed");
    req.borrowed_body = large;
    auto r = co_await c->send(std::move(req));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (r.resp) co_await r.resp->read_all(1 << 20);
    r.resp.reset();
    auto req2 = make_request("POST", fake.base_url() + "/owned", "own");
    req2.borrowed_body = large;
    auto r2 = co_await c->send(std::move(req2));
    EXPECT_EQ(r2.error, failure::none) << r2.detail;
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers["content-length"], std::to_string(large.size()));
  EXPECT_EQ(reqs[0].body, large);
  EXPECT_EQ(reqs[1].headers["content-length"], "3");
  EXPECT_EQ(reqs[1].body, "own");
}

TEST_F(upstream_client, keeps_a_user_agent_set_by_the_request) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto req = make_request("GET", fake.base_url() + "/v1/models");
    req.headers = {{"User-Agent", "claude-cli/1.0"}};
    auto r = co_await c->send(std::move(req));
    EXPECT_EQ(r.error, failure::none) << r.detail;
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["user-agent"], "claude-cli/1.0");
  EXPECT_EQ(reqs[0].headers.count("content-length"), 0u);  // GET without a body
}

// ---- prepared heads ----

TEST_F(upstream_client, a_prepared_head_is_sent_with_the_requests_own_headers_and_body) {
  fake_upstream fake;
  auto base = make_request("POST", fake.base_url() + "/v1/messages", "ignored body");
  base.headers = {{"x-api-key", "sk-prepared"},
                  {"Content-Length", "999"},
                  {"x-bad", "a\r\nx-injected: 1"},
                  {"content-type", "application/json"}};
  const auto prepared = prepare(base);
  ASSERT_NE(prepared, nullptr);
  EXPECT_EQ(prepared->pool_key, "http://127.0.0.1:" + std::to_string(fake.port()));
  EXPECT_FALSE(prepared->has_user_agent);
  EXPECT_EQ(prepared->base.body, "");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    for (const char* body : {"{\"n\":1}", "{\"n\":22}"}) {
      request req;
      req.prepared = prepared;
      req.target = *url::parse("http://127.0.0.2:1/ignored");  // the prepared target wins
      req.method = "DELETE";                                   // and the prepared method
      req.headers = {{"anthropic-beta", "tools"}};
      req.body = body;
      auto r = co_await c->send(std::move(req));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (r.resp) co_await r.resp->read_all(1 << 20);
    }
    EXPECT_EQ(c->idle_connections(), 1u);  // both went over one pooled connection
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/v1/messages");
    EXPECT_EQ(r.headers.at("host"), "127.0.0.1:" + std::to_string(fake.port()));
    EXPECT_EQ(r.headers.at("x-api-key"), "sk-prepared");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("anthropic-beta"), "tools");
    EXPECT_EQ(r.headers.at("user-agent"), std::string("aiclient-server/") + AICLIENT_VERSION);
    EXPECT_EQ(r.headers.count("x-bad"), 0u);
    EXPECT_EQ(r.headers.count("x-injected"), 0u);
  }
  EXPECT_EQ(reqs[0].headers.at("content-length"), "7");
  EXPECT_EQ(reqs[0].body, "{\"n\":1}");
  EXPECT_EQ(reqs[1].headers.at("content-length"), "8");
  EXPECT_EQ(reqs[1].body, "{\"n\":22}");
}

TEST_F(upstream_client, a_user_agent_of_the_prepared_head_or_the_request_is_kept) {
  fake_upstream fake;
  auto with_ua = make_request("GET", fake.base_url() + "/v1/models");
  with_ua.headers = {{"user-agent", "prepared-agent/1"}};
  const auto prepared_ua = prepare(with_ua);
  const auto prepared_plain = prepare(make_request("GET", fake.base_url() + "/v1/models"));
  ASSERT_NE(prepared_ua, nullptr);
  ASSERT_NE(prepared_plain, nullptr);
  EXPECT_TRUE(prepared_ua->has_user_agent);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    request a;
    a.prepared = prepared_ua;
    auto ra = co_await c->send(std::move(a));
    EXPECT_EQ(ra.error, failure::none) << ra.detail;
    ra.resp.reset();
    request b;
    b.prepared = prepared_plain;
    b.headers = {{"User-Agent", "own-agent/2"}};
    auto rb = co_await c->send(std::move(b));
    EXPECT_EQ(rb.error, failure::none) << rb.detail;
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers.at("user-agent"), "prepared-agent/1");
  EXPECT_EQ(reqs[0].headers.count("content-length"), 0u);  // GET without a body
  EXPECT_EQ(reqs[1].headers.at("user-agent"), "own-agent/2");
}

TEST_F(upstream_client, prepare_refuses_an_unusable_method_or_target) {
  std::string error;
  auto bad_method = make_request("POST", "http://127.0.0.1:1/x");
  bad_method.method = "PO ST";
  EXPECT_EQ(prepare(bad_method, &error), nullptr);
  EXPECT_EQ(error, "invalid request method");
  request no_host;  // an empty target
  EXPECT_EQ(prepare(no_host, &error), nullptr);
  EXPECT_EQ(error, "unsupported URL scheme");
  auto no_port = make_request("POST", "http://127.0.0.1:1/x");
  no_port.target.port = 0;
  EXPECT_EQ(prepare(no_port, &error), nullptr);
  EXPECT_EQ(error, "URL without host or port");
}

TEST_F(upstream_client, a_prepared_http_request_through_a_proxy_uses_absolute_form) {
  test_proxy proxy;
  opts.proxy_url = proxy.url();
  fake_upstream fake;
  std::string authority = "upstream.test:" + std::to_string(fake.port());
  auto base = make_request("POST", "http://" + authority + "/v1/chat/completions");
  base.headers = {{"authorization", "Bearer sk-p"}};
  const auto prepared = prepare(base);
  ASSERT_NE(prepared, nullptr);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    request req;
    req.prepared = prepared;
    req.headers = {{"openai-beta", "x"}};
    req.body = "{\"m\":1}";
    auto r = co_await c->send(std::move(req));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (r.resp) co_await r.resp->read_all(100);
  });
  auto lines = proxy.request_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "POST http://" + authority + "/v1/chat/completions HTTP/1.1");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["host"], authority);
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-p");
  EXPECT_EQ(reqs[0].headers["openai-beta"], "x");
  EXPECT_EQ(reqs[0].body, "{\"m\":1}");
}

TEST_F(upstream_client, reads_a_chunked_body_piece_by_piece) {
  fake_upstream fake;
  fake.push(body_response({"data: one\n\n", "data: two\n\n", "data: [DONE]\n\n"}));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("POST", fake.base_url() + "/stream", "{}"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    EXPECT_EQ(r.resp->header_value("transfer-encoding"), "chunked");
    std::string all;
    int pieces = 0;
    for (;;) {
      auto [f, piece] = co_await r.resp->read_some();
      EXPECT_EQ(f, failure::none);
      if (f != failure::none || piece.empty()) break;
      all += piece;
      ++pieces;
    }
    EXPECT_EQ(all, "data: one\n\ndata: two\n\ndata: [DONE]\n\n");
    EXPECT_GE(pieces, 1);
    // The end stays the end.
    auto [f2, after] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::none);
    EXPECT_TRUE(after.empty());
  });
}

TEST_F(upstream_client, first_piece_arrives_while_the_upstream_still_delays_the_rest) {
  fake_upstream fake;
  scripted_response slow = body_response({"first", "second"});
  slow.delay_between_chunks = 5s;
  fake.push(slow);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto start = std::chrono::steady_clock::now();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/slow"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, piece] = co_await r.resp->read_some();
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(piece, "first");
    // The second chunk is 5 s away: the first one was not held back until the end.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    r.resp->abort();
    auto [f2, rest] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::aborted);
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, head_and_no_content_responses_have_no_body_and_keep_the_connection) {
  fake_upstream fake;
  fake.push(body_response({"abcdef"}, false));
  scripted_response no_content;
  no_content.status = 204;
  fake.push(no_content);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    {
      auto r = co_await c->send(make_request("HEAD", fake.base_url() + "/file"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      EXPECT_EQ(r.resp->header_value("content-length"), "6");
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(f, failure::none);
      EXPECT_EQ(body, "");
    }
    {
      auto r = co_await c->send(make_request("DELETE", fake.base_url() + "/thing"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      EXPECT_EQ(r.resp->status(), 204);
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(f, failure::none);
      EXPECT_EQ(body, "");
    }
    EXPECT_EQ(c->idle_connections(), 1u);
  });
  EXPECT_EQ(fake.connections_accepted(), 1);
}

// ---- keep-alive pool ----

TEST_F(upstream_client, reuses_a_kept_alive_connection) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    for (int i = 0; i < 3; ++i) {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/v1/models"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(1024);
      EXPECT_EQ(f, failure::none);
      EXPECT_EQ(body, "{}");
      r.resp.reset();
      EXPECT_EQ(c->idle_connections(), 1u);
    }
  });
  EXPECT_EQ(fake.requests().size(), 3u);
  EXPECT_EQ(fake.connections_accepted(), 1);
}

TEST_F(upstream_client, closes_a_connection_whose_body_was_not_read) {
  fake_upstream fake;
  fake.push(body_response({"unread body"}, false));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
    }
    EXPECT_EQ(c->idle_connections(), 0u);
    auto r2 = co_await c->send(make_request("GET", fake.base_url() + "/y"));
    EXPECT_EQ(r2.error, failure::none) << r2.detail;
  });
  EXPECT_EQ(fake.connections_accepted(), 2);
}

TEST_F(upstream_client, does_not_pool_a_connection_the_upstream_closes) {
  fake_upstream fake;
  scripted_response bye = body_response({"bye"});
  bye.close_after = true;
  fake.push(bye);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body, "bye");
    r.resp.reset();
    EXPECT_EQ(c->idle_connections(), 0u);
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, keeps_at_most_max_idle_per_host) {
  opts.max_idle_per_host = 1;
  fake_upstream fake;
  scripted_response slow = body_response({"ok"});
  slow.delay_before_header = 100ms;
  fake.push(slow);
  fake.push(slow);
  run([&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto c = make_client();
    auto one = [&]() -> asio::awaitable<void> {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(body, "ok");
    };
    co_await (one() && one());
    EXPECT_EQ(c->idle_connections(), 1u);
    EXPECT_EQ(fake.connections_accepted(), 2);
    EXPECT_TRUE(fake.wait_open_connections(1, 5s));  // the one over the limit was closed
  });
}

TEST_F(upstream_client, drops_idle_connections_older_than_idle_keepalive) {
  opts.idle_keepalive = 50ms;
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    for (int i = 0; i < 2; ++i) {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      co_await r.resp->read_all(100);
      r.resp.reset();
      if (i == 0) co_await sleep_for(150ms);
    }
    EXPECT_EQ(c->idle_connections(), 1u);
    EXPECT_EQ(fake.connections_accepted(), 2);
    EXPECT_TRUE(fake.wait_open_connections(1, 5s));  // the stale one was closed
  });
}

TEST_F(upstream_client, close_idle_closes_pooled_connections) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    co_await r.resp->read_all(100);
    r.resp.reset();
    EXPECT_EQ(c->idle_connections(), 1u);
    c->close_idle();
    EXPECT_EQ(c->idle_connections(), 0u);
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, response_may_outlive_its_client) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    c.reset();
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body, "{}");
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));  // closed, not pooled in a gone pool
}

// ---- retry on reused connections ----

TEST_F(upstream_client, new_connection_after_the_upstream_closed_an_idle_one) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/1"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    co_await r.resp->read_all(100);
    r.resp.reset();
    // The fake marks the connection idle once its own loop comes round (another thread).
    int closed = 0;
    for (int i = 0; i < 200 && closed == 0; ++i) {
      closed = fake.close_idle_connections();
      if (closed == 0) co_await sleep_for(10ms);
    }
    EXPECT_EQ(closed, 1);
    EXPECT_TRUE(fake.wait_open_connections(0, 5s));
    auto r2 = co_await c->send(make_request("GET", fake.base_url() + "/2"));
    EXPECT_EQ(r2.error, failure::none) << r2.detail;
    if (!r2.resp) co_return;
    auto [f, body] = co_await r2.resp->read_all(100);
    EXPECT_EQ(body, "{}");
  });
  EXPECT_EQ(fake.connections_accepted(), 2);
  EXPECT_EQ(fake.requests().size(), 2u);
}

TEST_F(upstream_client, retries_once_when_a_reused_connection_closes_without_answer) {
  fake_upstream fake;
  fake.push(body_response({"one"}));
  scripted_response gone;
  gone.close_without_answer = true;
  fake.push(gone);
  fake.push(body_response({"three"}));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("POST", fake.base_url() + "/1", "a"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f1, b1] = co_await r.resp->read_all(100);
    EXPECT_EQ(b1, "one");
    r.resp.reset();
    auto r2 = co_await c->send(make_request("POST", fake.base_url() + "/2", "b"));
    EXPECT_EQ(r2.error, failure::none) << r2.detail;
    if (!r2.resp) co_return;
    auto [f2, b2] = co_await r2.resp->read_all(100);
    EXPECT_EQ(b2, "three");
  });
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].body, "b");
  EXPECT_EQ(reqs[2].body, "b");
  EXPECT_EQ(fake.connections_accepted(), 2);
}

TEST_F(upstream_client, retries_over_tls_when_a_reused_connection_closes_without_answer) {
  auto trusted = make_client_tls_context(shared_test_cert().ca_file);
  fake_upstream fake(true);
  fake.push(body_response({"one"}));
  scripted_response gone;
  gone.close_without_answer = true;  // TCP close without close_notify: a truncated TLS stream
  fake.push(gone);
  fake.push(body_response({"three"}));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(trusted.get());
    for (const char* expected : {"one", "three"}) {
      auto r = co_await c->send(make_request("POST", fake.base_url() + "/v1/messages", "{}"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(body, expected);
    }
  });
  EXPECT_EQ(fake.requests().size(), 3u);
  EXPECT_EQ(fake.connections_accepted(), 2);
}

TEST_F(upstream_client, never_retries_on_a_fresh_connection) {
  fake_upstream fake;
  scripted_response gone;
  gone.close_without_answer = true;
  fake.push(gone);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("POST", fake.base_url() + "/1", "a"));
    EXPECT_EQ(r.error, failure::closed) << r.detail;
    EXPECT_FALSE(r.resp);
  });
  EXPECT_EQ(fake.requests().size(), 1u);
  EXPECT_EQ(fake.connections_accepted(), 1);
}

TEST_F(upstream_client, never_retries_after_response_bytes_arrived) {
  fake_upstream fake;
  fake.push(body_response({"one"}));
  scripted_response broken = body_response({"partial"});
  broken.drop_mid_body = true;
  fake.push(broken);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/1"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    co_await r.resp->read_all(100);
    r.resp.reset();
    auto r2 = co_await c->send(make_request("GET", fake.base_url() + "/2"));
    EXPECT_EQ(r2.error, failure::none) << r2.detail;
    if (!r2.resp) co_return;
    auto [f, body] = co_await r2.resp->read_all(100);
    EXPECT_EQ(f, failure::closed);
    EXPECT_EQ(body, "partial");
    r2.resp.reset();
    EXPECT_EQ(c->idle_connections(), 0u);
  });
  EXPECT_EQ(fake.requests().size(), 2u);
  EXPECT_EQ(fake.connections_accepted(), 1);
}

// ---- failures ----

TEST_F(upstream_client, connection_refused_is_a_connect_failure) {
  auto port = closed_port();
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r =
        co_await c->send(make_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/"));
    EXPECT_EQ(r.error, failure::connect);
    EXPECT_FALSE(r.resp);
    EXPECT_NE(r.detail.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
  });
}

TEST_F(upstream_client, silent_upstream_is_a_first_byte_timeout_without_secrets_in_detail) {
  opts.first_byte_timeout = 200ms;
  fake_upstream fake;
  scripted_response silent;
  silent.hang = true;
  fake.push(silent);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto req =
        make_request("POST", fake.base_url() + "/v1beta/models/x:generate?key=AIzaSECRET", "{}");
    req.headers = {{"authorization", "Bearer sk-SECRET"}, {"x-api-key", "sk-ant-SECRET"}};
    auto r = co_await c->send(std::move(req));
    EXPECT_EQ(r.error, failure::first_byte_timeout) << r.detail;
    EXPECT_FALSE(r.detail.empty());
    EXPECT_EQ(r.detail.find("SECRET"), std::string::npos) << r.detail;
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, stalled_body_is_an_idle_timeout) {
  opts.idle_timeout = 200ms;
  fake_upstream fake;
  scripted_response stall = body_response({"a", "b"});
  stall.delay_between_chunks = 10s;
  fake.push(stall);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f1, p1] = co_await r.resp->read_some();
    EXPECT_EQ(f1, failure::none);
    EXPECT_EQ(p1, "a");
    auto [f2, p2] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::idle_timeout);
    auto [f3, p3] = co_await r.resp->read_some();
    EXPECT_EQ(f3, failure::idle_timeout);  // a failed response stays failed
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, body_dropped_midway_is_closed) {
  fake_upstream fake;
  scripted_response chunked = body_response({"abc"});
  chunked.drop_mid_body = true;
  fake.push(chunked);
  scripted_response sized = body_response({"abc"}, false);
  sized.drop_mid_body = true;
  fake.push(sized);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    for (int i = 0; i < 2; ++i) {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(f, failure::closed) << i;
      EXPECT_EQ(body, "abc");
    }
  });
}

TEST_F(upstream_client, read_all_over_the_limit_is_too_large) {
  fake_upstream fake;
  fake.push(body_response({"0123456789", "0123456789"}));         // chunked: found while reading
  fake.push(body_response({"0123456789", "0123456789"}, false));  // Content-Length: found at once
  fake.push(body_response({"0123456789", "0123456789"}));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    for (int i = 0; i < 2; ++i) {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(15);
      EXPECT_EQ(f, failure::too_large) << i;
      EXPECT_LE(body.size(), 15u);
      r.resp.reset();
      EXPECT_EQ(c->idle_connections(), 0u);
    }
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    if (!r.resp) co_return;
    auto [f, body] = co_await r.resp->read_all(20);  // exactly the limit is fine
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body.size(), 20u);
  });
}

TEST_F(upstream_client, oversized_response_header_is_too_large) {
  opts.max_header_bytes = 1024;
  fake_upstream fake;
  scripted_response big = body_response({"x"});
  big.headers.emplace_back("x-big", std::string(4096, 'a'));
  fake.push(big);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::too_large) << r.detail;
  });
}

TEST_F(upstream_client, garbage_instead_of_http_is_a_protocol_failure) {
  raw_server garbage("this is not HTTP\r\n\r\n");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", url_of(garbage, "/")));
    EXPECT_EQ(r.error, failure::protocol) << r.detail;
  });
}

TEST_F(upstream_client, chunks_that_arrive_together_are_one_piece) {
  // A stream flushed in one segment is handed on in one piece (one client write), not one
  // piece per HTTP chunk.
  raw_server burst(
      std::string(sse_chunked_head) +
      "b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", url_of(burst, "/s")));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, piece] = co_await r.resp->read_some();
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(piece, "data: one\n\ndata: two\n\ndata: [DONE]\n\n");
    auto [f2, end] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::none);
    EXPECT_TRUE(end.empty());
  });
}

TEST_F(upstream_client, a_bad_chunk_after_good_ones_fails_after_their_data) {
  raw_server broken(std::string(sse_chunked_head) + "b\r\ndata: one\n\n\r\nzz\r\nnot a chunk\r\n");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", url_of(broken, "/s")));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, piece] = co_await r.resp->read_some();
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(piece, "data: one\n\n");
    auto [f2, rest] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::protocol);
    EXPECT_TRUE(rest.empty());
  });
}

TEST_F(upstream_client, a_bad_first_chunk_that_came_with_the_header_fails_the_first_read) {
  raw_server broken(std::string(sse_chunked_head) + "zz\r\nnot a chunk\r\n");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", url_of(broken, "/s")));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, piece] = co_await r.resp->read_some();
    EXPECT_EQ(f, failure::protocol);
    EXPECT_TRUE(piece.empty());
    auto [f2, rest] = co_await r.resp->read_some();  // stays failed
    EXPECT_EQ(f2, failure::protocol);
  });
}

TEST_F(upstream_client, interim_responses_before_the_answer_are_skipped_up_to_a_limit) {
  // The interim responses and the answer arrive in one piece: each parsed from the buffer.
  raw_server interim(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"
      "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  std::string endless;
  for (int i = 0; i < 20; ++i) endless += "HTTP/1.1 100 Continue\r\n\r\n";
  raw_server too_many(endless);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("POST", url_of(interim, "/x"), "{}"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    EXPECT_EQ(r.resp->status(), 200);
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body, "ok");
    auto t = co_await c->send(make_request("POST", url_of(too_many, "/x"), "{}"));
    EXPECT_EQ(t.error, failure::protocol) << t.detail;
    EXPECT_NE(t.detail.find("too many interim responses"), std::string::npos) << t.detail;
  });
}

TEST_F(upstream_client, an_upstream_that_ends_inside_its_header_is_a_closed_failure) {
  raw_server cut("HTTP/1.1 200 OK\r\ncontent-le");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("POST", url_of(cut, "/x"), "{}"));
    EXPECT_EQ(r.error, failure::closed) << r.detail;
    EXPECT_NE(r.detail.find("reading response header"), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("partial message"), std::string::npos) << r.detail;
  });
  EXPECT_EQ(cut.connections(), 1);  // a fresh connection: not retried
}

TEST_F(upstream_client, body_delimited_by_connection_close_is_read_to_the_end) {
  raw_server old_style("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close");
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", url_of(old_style, "/")));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(f, failure::none);
    EXPECT_EQ(body, "body until close");
    r.resp.reset();
    EXPECT_EQ(c->idle_connections(), 0u);
  });
}

TEST_F(upstream_client, rejects_a_request_with_an_invalid_method) {
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET /x HTTP/1.1\r\n", "http://127.0.0.1:1/"));
    EXPECT_EQ(r.error, failure::protocol);
  });
}

// ---- cancellation ----

TEST_F(upstream_client, cancel_token_aborts_a_hanging_send) {
  fake_upstream fake;
  scripted_response silent;
  silent.hang = true;
  fake.push(silent);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    cancel_token token;
    run_after(ioc.get_executor(), 50ms, [&] { token.cancel(); });
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"), &token);
    EXPECT_EQ(r.error, failure::aborted) << r.detail;
    EXPECT_TRUE(token.cancelled());
    EXPECT_EQ(c->idle_connections(), 0u);
  });
  EXPECT_EQ(fake.requests().size(), 1u);
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, cancelled_token_stops_send_before_connecting) {
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    cancel_token token;
    token.cancel();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"), &token);
    EXPECT_EQ(r.error, failure::aborted);
  });
  EXPECT_EQ(fake.connections_accepted(), 0);
}

TEST_F(upstream_client, cancel_token_aborts_a_body_read) {
  fake_upstream fake;
  scripted_response slow = body_response({"a", "b"});
  slow.delay_between_chunks = 10s;
  fake.push(slow);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    cancel_token token;
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"), &token);
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f1, p1] = co_await r.resp->read_some();
    EXPECT_EQ(p1, "a");
    run_after(ioc.get_executor(), 50ms, [&] { token.cancel(); });
    auto [f2, p2] = co_await r.resp->read_some();
    EXPECT_EQ(f2, failure::aborted);
    r.resp.reset();
    EXPECT_EQ(c->idle_connections(), 0u);
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

TEST_F(upstream_client, abort_ends_a_pending_body_read) {
  fake_upstream fake;
  scripted_response slow = body_response({"a", "b"});
  slow.delay_between_chunks = 10s;
  fake.push(slow);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto* resp = r.resp.get();
    run_after(ioc.get_executor(), 50ms, [resp] { resp->abort(); });
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(f, failure::aborted);
    EXPECT_EQ(body, "a");
  });
  EXPECT_TRUE(fake.wait_open_connections(0, 5s));
}

// ---- TLS ----

TEST_F(upstream_client, https_with_the_test_ca_trusted) {
  auto trusted = make_client_tls_context(shared_test_cert().ca_file);
  fake_upstream fake(true);
  fake.push(body_response({"hello ", "tls"}));
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(trusted.get());
    // By name (SNI + DNS SAN), twice: the second request reuses the TLS connection.
    for (int i = 0; i < 2; ++i) {
      auto r = co_await c->send(make_request("GET", fake.base_url() + "/v1/models"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(f, failure::none);
      EXPECT_EQ(body, i == 0 ? "hello tls" : "{}");
    }
    // By IP literal (IP SAN).
    auto r = co_await c->send(
        make_request("GET", "https://127.0.0.1:" + std::to_string(fake.port()) + "/"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
  });
  EXPECT_EQ(fake.connections_accepted(), 2);
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].headers["host"], "localhost:" + std::to_string(fake.port()));
}

TEST_F(upstream_client, https_with_an_untrusted_certificate_is_a_tls_failure) {
  fake_upstream fake(true);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();  // system CAs only
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/"));
    EXPECT_EQ(r.error, failure::tls) << r.detail;
    EXPECT_NE(r.detail.find("certificate"), std::string::npos) << r.detail;
  });
  EXPECT_TRUE(fake.requests().empty());
}

TEST_F(upstream_client, the_system_ca_store_is_loaded_by_the_first_tls_connection) {
  // Start-up does not pay for the system CA bundle; the first TLS connection loads it.
  auto ctx = make_client_tls_context("");
  auto count = [&] {
    return sk_X509_OBJECT_num(
        X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx->native_handle())));
  };
  EXPECT_EQ(count(), 0);
  fake_upstream fake(true);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(ctx.get());
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/"));
    EXPECT_EQ(r.error, failure::tls) << r.detail;  // the fake's CA is not a system CA
  });
  std::error_code ec;
  if (std::filesystem::file_size(X509_get_default_cert_file(), ec) > 0 && !ec) {
    EXPECT_GT(count(), 0);
  }
}

TEST_F(upstream_client, a_connection_idle_for_a_second_is_probed_and_not_written_to_once_dead) {
  // The server ends every connection (FIN) right after its answer but keeps reading, so a
  // request written to a pooled connection it already ended shows up as late bytes.
  raw_server server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", /*half_close=*/true);
  const std::string url = url_of(server, "/v1/x");
  const auto eventually = [](const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  };
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto ask = [&]() -> asio::awaitable<std::string> {
      auto r = co_await c->send(make_request("POST", url, "{}"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return std::string();
      auto [f, body] = co_await r.resp->read_all(100);
      co_return body;
    };
    EXPECT_EQ(co_await ask(), "ok");
    EXPECT_EQ(c->idle_connections(), 1u);  // kept: the answer was complete
    // Reused within the second: taken as it is, the request is written to the ended
    // connection, fails before any answer byte, and is retried on a new one.
    timer.expires_after(100ms);
    co_await timer.async_wait(asio::use_awaitable);
    EXPECT_EQ(co_await ask(), "ok");
    EXPECT_TRUE(eventually([&] { return server.late_bytes() > 0; }));
    EXPECT_EQ(server.connections(), 2);
    // Idle for more than a second: probed, found closed, and replaced without a write.
    const std::size_t late = server.late_bytes();
    timer.expires_after(1100ms);
    co_await timer.async_wait(asio::use_awaitable);
    EXPECT_EQ(co_await ask(), "ok");
    EXPECT_EQ(server.connections(), 3);
    std::this_thread::sleep_for(100ms);  // a late write would have arrived by now
    EXPECT_EQ(server.late_bytes(), late);
  });
}

TEST_F(upstream_client, a_lazy_tls_context_is_built_by_the_first_tls_connection_only) {
  // OpenSSL's initialisation is paid by the first TLS connection, never by plain HTTP.
  tls_context lazy("");
  EXPECT_FALSE(lazy.built());
  fake_upstream plain;
  plain.push(body_response({"plain"}));
  fake_upstream secure(true);
  run([&]() -> asio::awaitable<void> {
    client c(ioc.get_executor(), lazy, opts);
    auto r = co_await c.send(make_request("POST", plain.base_url() + "/v1/messages", "{}"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (r.resp) {
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(body, "plain");
    }
    EXPECT_FALSE(lazy.built());
    auto s = co_await c.send(make_request("GET", secure.base_url() + "/"));
    EXPECT_EQ(s.error, failure::tls) << s.detail;  // the fake's CA is not a system CA
    EXPECT_TRUE(lazy.built());
  });
}

TEST_F(upstream_client, a_tls_context_with_a_ca_file_is_built_at_once_and_trusts_it) {
  tls_context trusted(shared_test_cert().ca_file);
  EXPECT_TRUE(trusted.built());
  fake_upstream secure(true);
  secure.push(body_response({"secure"}));
  run([&]() -> asio::awaitable<void> {
    client c(ioc.get_executor(), trusted, opts);
    auto r = co_await c.send(make_request("POST", secure.base_url() + "/v1/messages", "{}"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(body, "secure");
  });
  try {
    tls_context bad("/nonexistent/aiclient-ca.pem");
    ADD_FAILURE() << "a bad CA file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/aiclient-ca.pem"), std::string::npos);
  }
}

TEST_F(upstream_client, https_with_a_host_name_not_in_the_certificate_is_a_tls_failure) {
  // The proxy maps every name to 127.0.0.1, so the fake is reached by a name it has no SAN for.
  test_proxy proxy;
  opts.proxy_url = proxy.url();
  auto trusted = make_client_tls_context(shared_test_cert().ca_file);
  fake_upstream fake(true);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(trusted.get());
    auto r = co_await c->send(
        make_request("GET", "https://wrong-name.test:" + std::to_string(fake.port()) + "/"));
    EXPECT_EQ(r.error, failure::tls) << r.detail;
    EXPECT_NE(r.detail.find("mismatch"), std::string::npos) << r.detail;
  });
  EXPECT_TRUE(fake.requests().empty());
  EXPECT_EQ(proxy.connections(), 1);
}

TEST_F(upstream_client, tls_handshake_that_never_completes_is_a_connect_timeout) {
  opts.connect_timeout = 200ms;
  raw_server silent("");
  auto trusted = make_client_tls_context(shared_test_cert().ca_file);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(trusted.get());
    auto r = co_await c->send(
        make_request("GET", "https://127.0.0.1:" + std::to_string(silent.port()) + "/"));
    EXPECT_EQ(r.error, failure::connect_timeout) << r.detail;
  });
}

TEST(upstream_tls_context, names_a_bad_ca_file) {
  try {
    make_client_tls_context("/nonexistent/aiclient-ca.pem");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/aiclient-ca.pem"), std::string::npos);
  }
}

// ---- proxy ----

TEST_F(upstream_client, https_through_a_connect_proxy) {
  test_proxy proxy;
  opts.proxy_url = proxy.url();
  opts.proxy_loopback = true;
  auto trusted = make_client_tls_context(shared_test_cert().ca_file);
  fake_upstream fake(true);
  run([&]() -> asio::awaitable<void> {
    auto c = make_client(trusted.get());
    for (int i = 0; i < 2; ++i) {
      auto r = co_await c->send(make_request("POST", fake.base_url() + "/v1/messages", "{}"));
      EXPECT_EQ(r.error, failure::none) << r.detail;
      if (!r.resp) co_return;
      auto [f, body] = co_await r.resp->read_all(100);
      EXPECT_EQ(body, "{}");
    }
  });
  auto lines = proxy.request_lines();
  ASSERT_EQ(lines.size(), 1u);  // one tunnel, reused
  EXPECT_EQ(lines[0], "CONNECT localhost:" + std::to_string(fake.port()) + " HTTP/1.1");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/v1/messages");
  EXPECT_EQ(reqs[0].headers["host"], "localhost:" + std::to_string(fake.port()));
}

TEST_F(upstream_client, http_through_a_proxy_uses_absolute_form) {
  test_proxy proxy;
  opts.proxy_url = proxy.url();
  fake_upstream fake;
  std::string authority = "upstream.test:" + std::to_string(fake.port());
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(
        make_request("POST", "http://" + authority + "/v1/chat/completions?x=1", "{\"m\":1}"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
    if (!r.resp) co_return;
    auto [f, body] = co_await r.resp->read_all(100);
    EXPECT_EQ(body, "{}");
  });
  auto lines = proxy.request_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "POST http://" + authority + "/v1/chat/completions?x=1 HTTP/1.1");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["host"], authority);
  EXPECT_EQ(reqs[0].body, "{\"m\":1}");
}

TEST_F(upstream_client, loopback_targets_bypass_the_proxy) {
  test_proxy proxy;
  opts.proxy_url = proxy.url();
  fake_upstream fake;
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", fake.base_url() + "/x"));
    EXPECT_EQ(r.error, failure::none) << r.detail;
  });
  EXPECT_EQ(proxy.connections(), 0);
  EXPECT_EQ(fake.connections_accepted(), 1);
}

TEST_F(upstream_client, refused_connect_is_a_connect_failure) {
  test_proxy proxy;
  proxy.refuse_host("blocked.test");
  opts.proxy_url = proxy.url();
  run([&]() -> asio::awaitable<void> {
    auto c = make_client();
    auto r = co_await c->send(make_request("GET", "https://blocked.test/"));
    EXPECT_EQ(r.error, failure::connect) << r.detail;
    EXPECT_NE(r.detail.find("403"), std::string::npos) << r.detail;
  });
}

TEST_F(upstream_client, invalid_proxy_url_is_rejected_at_construction) {
  opts.proxy_url = "socks5://127.0.0.1:1080";
  EXPECT_THROW(make_client(), std::invalid_argument);
  opts.proxy_url = "https://proxy.example:3128";
  EXPECT_THROW(make_client(), std::invalid_argument);
}

}  // namespace
}  // namespace aiclient::upstream
