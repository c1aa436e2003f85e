// The real server in-process against fake upstreams: pass-through, streaming, errors, limits.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "harness.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string openai_body =
    R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[ {"type":"function","function":{"name":"f","parameters":{"type":"object","x-odd":"\u00e9"}}} ]})";
const std::string claude_body =
    R"({"model":"claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})";

scripted_response sse_answer(std::vector<std::string> events, std::chrono::milliseconds gap = 0ms) {
  scripted_response r;
  r.headers = {{"content-type", "text/event-stream"}};
  r.chunks = std::move(events);
  r.delay_between_chunks = gap;
  return r;
}

class passthrough : public ::testing::TestWithParam<bool> {  // param: upstream over TLS
 protected:
  config::settings settings_for_tls(const std::string& provider) {
    auto s = test_settings(provider);
    if (GetParam()) s.upstream_ca_file = shared_test_cert().ca_file;
    return s;
  }
};

TEST_P(passthrough, openai_non_stream_is_byte_faithful_and_uses_instance_key) {
  fake_upstream up(GetParam());
  const std::string answer = R"({"id":"chatcmpl-1","object":"chat.completion","choices":[]})";
  up.push(json_answer(answer));
  running_server srv(settings_for_tls("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions",
                        {{"content-type", "application/json"},
                         {"authorization", "Bearer client-key-should-not-leak"}},
                        openai_body);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.body, answer);
  ASSERT_EQ(up.requests().size(), 1u);
  const auto all_requests = up.requests();
  const auto& seen = all_requests[0];
  EXPECT_EQ(seen.target, "/v1/chat/completions");
  EXPECT_EQ(seen.body, openai_body);  // untouched bytes
  EXPECT_EQ(seen.headers.at("authorization"), "Bearer sk-upstream-secret-0001");
  EXPECT_FALSE(r.headers["x-request-id"].empty());
}

TEST(passthrough_headers, only_the_relayable_upstream_headers_reach_the_client) {
  fake_upstream up;
  auto a = json_answer(R"({"id":"chatcmpl-1","object":"chat.completion","choices":[]})");
  a.headers.emplace_back("X-RateLimit-Remaining-Requests", "99");
  a.headers.emplace_back("OpenAI-Processing-MS", "12");
  a.headers.emplace_back("Request-Id", "req-7");
  a.headers.emplace_back("Retry-After", "3");
  a.headers.emplace_back("Anthropic-Ratelimit-Tokens-Limit", "5000");
  a.headers.emplace_back("Set-Cookie", "upstream=secret");
  a.headers.emplace_back("X-Other", "no");
  a.headers.emplace_back("Openai-Organization", "org-secret");
  up.push(a);
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.headers["x-ratelimit-remaining-requests"], "99");
  EXPECT_EQ(r.headers["openai-processing-ms"], "12");
  EXPECT_EQ(r.headers["request-id"], "req-7");
  EXPECT_EQ(r.headers["retry-after"], "3");
  EXPECT_EQ(r.headers["anthropic-ratelimit-tokens-limit"], "5000");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.headers.count("set-cookie"), 0u);
  EXPECT_EQ(r.headers.count("x-other"), 0u);
  EXPECT_EQ(r.headers.count("openai-organization"), 0u);
  EXPECT_EQ(r.headers["server"], "aiclient-server");
}

TEST(passthrough_headers, relayed_header_names_are_written_in_lower_case) {
  fake_upstream up;
  auto a = json_answer(R"({"id":"chatcmpl-1","object":"chat.completion","choices":[]})");
  a.headers.emplace_back("X-RateLimit-Remaining-Requests", "99");
  a.headers.emplace_back("Retry-After", "3");
  up.push(a);
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  const std::string raw =
      exchange_raw(srv.port(),
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(openai_body.size()) + "\r\n\r\n" + openai_body);
  const auto head = raw.substr(0, raw.find("\r\n\r\n") + 2);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(head.find("\r\nx-ratelimit-remaining-requests: 99\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nretry-after: 3\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\ncontent-type: application/json\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-RateLimit"), std::string::npos) << head;
  EXPECT_EQ(head.find("Retry-After"), std::string::npos) << head;
}

TEST_P(passthrough, claude_non_stream_forwards_protocol_headers_and_query) {
  fake_upstream up(GetParam());
  const std::string answer = R"({"id":"msg_1","type":"message","content":[]})";
  up.push(json_answer(answer));
  running_server srv(settings_for_tls("claude-custom"),
                     one_instance_pool("claude-custom", up.base_url()));
  auto r = http_request(srv.port(), "POST", "/v1/messages?beta=true",
                        {{"content-type", "application/json"},
                         {"x-api-key", "client-key"},
                         {"anthropic-version", "2023-06-01"},
                         {"anthropic-beta", "prompt-caching-2024-07-31"},
                         {"cookie", "session=secret"}},
                        claude_body);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.body, answer);
  ASSERT_EQ(up.requests().size(), 1u);
  const auto all_requests = up.requests();
  const auto& seen = all_requests[0];
  EXPECT_EQ(seen.target, "/v1/messages?beta=true");
  EXPECT_EQ(seen.headers.at("x-api-key"), "sk-upstream-secret-0001");
  EXPECT_EQ(seen.headers.at("anthropic-version"), "2023-06-01");
  EXPECT_EQ(seen.headers.at("anthropic-beta"), "prompt-caching-2024-07-31");
  EXPECT_EQ(seen.headers.count("cookie"), 0u);
  EXPECT_EQ(seen.headers.count("authorization"), 0u);
  EXPECT_EQ(seen.body, claude_body);
}

TEST_P(passthrough, openai_stream_is_relayed_as_it_arrives) {
  fake_upstream up(GetParam());
  std::vector<std::string> events;
  for (int i = 0; i < 5; ++i)
    events.push_back("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w" +
                     std::to_string(i) + "\"}}]}\n\n");
  events.push_back("data: [DONE]\n\n");
  up.push(sse_answer(events, 150ms));
  running_server srv(settings_for_tls("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  std::string body = openai_body;
  body.insert(1, R"("stream":true,)");
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions",
                        {{"content-type", "application/json"}}, body);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  std::string all;
  for (const auto& e : events) all += e;
  EXPECT_EQ(r.body, all);
  // The first event reached the client long before the upstream finished (6 x 150 ms).
  ASSERT_GE(r.pieces.size(), 3u);
  EXPECT_LT(r.pieces.front().first.count() + 400, r.pieces.back().first.count());
  EXPECT_NE(r.pieces.front().second.find("w0"), std::string::npos);
}

TEST_P(passthrough, claude_stream_split_mid_event_reaches_client_whole) {
  fake_upstream up(GetParam());
  const std::string ev1 =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n";
  const std::string ev2 = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  // The upstream splits events at odd places.
  up.push(sse_answer({ev1.substr(0, 10), ev1.substr(10) + ev2.substr(0, 7), ev2.substr(7)}, 50ms));
  running_server srv(settings_for_tls("claude-custom"),
                     one_instance_pool("claude-custom", up.base_url()));
  std::string body = claude_body;
  body.insert(1, R"("stream":true,)");
  auto r = http_request(srv.port(), "POST", "/v1/messages",
                        {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}},
                        body);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, ev1 + ev2);
  for (const auto& [t, piece] : r.pieces) {
    EXPECT_EQ(piece.substr(0, 6), "event:") << "a piece must start at an event boundary: " << piece;
  }
}

INSTANTIATE_TEST_SUITE_P(http_and_tls, passthrough, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "tls" : "http"; });

TEST(upstream_errors, untrusted_tls_certificate_is_a_502) {
  fake_upstream up(true);
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(up.requests().size(), 0u);
}

TEST(upstream_errors, upstream_down_is_a_502_in_the_client_protocol) {
  std::uint16_t dead_port;
  {
    fake_upstream up;  // take a port, then free it
    dead_port = up.port();
  }
  running_server srv(
      test_settings("claude-custom"),
      one_instance_pool("claude-custom", "http://127.0.0.1:" + std::to_string(dead_port)));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {{"anthropic-version", "2023-06-01"}},
                        claude_body);
  EXPECT_EQ(r.status, 502);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "api_error");
}

TEST(upstream_errors, silent_upstream_is_a_504) {
  fake_upstream up;
  scripted_response hang;
  hang.hang = true;
  up.push(hang);
  auto s = test_settings("openai-custom");
  s.upstream_first_byte_timeout_ms = 300;
  s.request_max_retries = 0;
  running_server srv(s, one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "timeout_error");
}

TEST(upstream_errors, upstream_5xx_is_a_502_keeping_status_and_message) {
  fake_upstream up;
  auto e = json_answer(R"({"error":{"message":"the model is overloaded","type":"server_error"}})");
  e.status = 503;
  up.set_handler([e](const recorded_request&) { return e; });
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body);
  EXPECT_EQ(r.status, 502);
  const std::string msg = json::parse(r.body)["error"]["message"];
  EXPECT_NE(msg.find("503"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the model is overloaded"), std::string::npos) << msg;
}

TEST(upstream_errors, upstream_4xx_passes_through) {
  fake_upstream up;
  const std::string err =
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}})";
  auto e = json_answer(err);
  e.status = 400;
  e.headers.emplace_back("Request-Id", "req-400");
  e.headers.emplace_back("Set-Cookie", "upstream=secret");
  up.push(e);
  running_server srv(test_settings("claude-custom"),
                     one_instance_pool("claude-custom", up.base_url()));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {{"anthropic-version", "2023-06-01"}},
                        claude_body);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, err);
  // Its relayable headers with it, the others not.
  EXPECT_EQ(r.headers["request-id"], "req-400");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.headers.count("set-cookie"), 0u);
}

TEST(upstream_errors, stream_cut_mid_way_ends_with_an_error_event) {
  fake_upstream up;
  auto a =
      sse_answer({"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", "data: {\"choi"});
  a.drop_mid_body = true;
  up.push(a);
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {},
                        R"({"model":"m","stream":true,"messages":[]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("data: {\"choi\n"), std::string::npos)
      << "no partial event may reach the client";
  EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  EXPECT_EQ(r.body.rfind("data: [DONE]\n\n"), r.body.size() - 14);
}

TEST(client_side, client_disconnect_mid_stream_closes_the_upstream_connection) {
  fake_upstream up;
  std::vector<std::string> events(100, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
  up.push(sse_answer(events, 50ms));
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  int pieces = 0;
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {},
                        R"({"model":"m","stream":true,"messages":[]})",
                        [&](const std::string&) { return ++pieces < 2; });
  EXPECT_EQ(r.error, "closed by test");
  // The gateway notices and drops the upstream connection well before the 5 s stream ends.
  EXPECT_TRUE(up.wait_open_connections(0, 2000ms)) << up.open_connections();
}

TEST(client_side, client_disconnect_while_upstream_is_silent_closes_upstream) {
  fake_upstream up;
  scripted_response hang;
  hang.hang = true;
  up.push(hang);
  auto s = test_settings("openai-custom");
  s.upstream_first_byte_timeout_ms = 60000;
  running_server srv(s, one_instance_pool("openai-custom", up.base_url() + "/v1"));
  std::thread t([&] {
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body, nullptr, 300ms);
  });
  t.join();  // the client gives up after 300 ms and closes
  EXPECT_TRUE(up.wait_open_connections(0, 2000ms));
}

TEST(client_side, oversized_body_is_413) {
  auto s = test_settings();
  s.max_body_bytes = 1024;
  running_server srv(s, {});
  auto r = http_request(srv.port(), "POST", "/v1/messages", {{"anthropic-version", "2023-06-01"}},
                        std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "request_too_large");
}

TEST(client_side, malformed_json_is_400) {
  running_server srv(test_settings(), {});
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, R"({"model": "x",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
}

TEST(client_side, wrong_key_is_401_and_health_needs_none) {
  auto s = test_settings();
  s.required_api_key = "gateway-key-123456";
  running_server srv(s, {});
  auto r = http_request(srv.port(), "POST", "/v1/messages",
                        {{"x-api-key", "wrong"}, {"anthropic-version", "2023-06-01"}}, claude_body);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "authentication_error");
  for (const auto& h : std::vector<std::pair<std::string, std::string>>{
           {"authorization", "Bearer gateway-key-123456"},
           {"x-api-key", "gateway-key-123456"},
           {"x-goog-api-key", "gateway-key-123456"}}) {
    auto ok = http_request(srv.port(), "POST", "/v1/chat/completions", {h}, openai_body);
    EXPECT_EQ(ok.status, 200) << h.first;
  }
  EXPECT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions?key=gateway-key-123456", {},
                         openai_body)
                .status,
            200);
  auto health = http_request(srv.port(), "GET", "/health", {}, "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body.find("gateway-key"), std::string::npos);
}

TEST(client_side, unknown_route_404_and_wrong_method_405_in_protocol_shape) {
  running_server srv(test_settings(), {});
  auto r = http_request(srv.port(), "GET", "/v1/nothing", {}, "");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(json::parse(r.body)["error"].contains("message"));
  auto m =
      http_request(srv.port(), "GET", "/v1/messages", {{"anthropic-version", "2023-06-01"}}, "");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(json::parse(m.body)["type"], "error");
  EXPECT_EQ(m.headers["allow"], "POST");
}

TEST(client_side, unknown_provider_is_a_400_in_the_gemini_shape) {
  running_server srv(test_settings(), {});
  auto r = http_request(srv.port(), "POST", "/v1beta/models/gemini-2.5-pro:generateContent",
                        {{"model-provider", "no-such-provider"}}, R"({"contents":[]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["status"], "INVALID_ARGUMENT");
}

TEST(providers, path_prefix_and_header_choose_the_provider) {
  fake_upstream openai_up, claude_up;
  openai_up.set_handler(
      [](const recorded_request&) { return json_answer(R"({"from":"openai"})"); });
  claude_up.set_handler(
      [](const recorded_request&) { return json_answer(R"({"from":"claude"})"); });
  auto pools = one_instance_pool("openai-custom", openai_up.base_url() + "/v1");
  auto c = one_instance_pool("claude-custom", claude_up.base_url());
  c.by_type["claude-custom"][0].uuid = "claude-1";
  pools.by_type["claude-custom"] = c.by_type["claude-custom"];
  auto s = test_settings();
  s.model_provider = "openai-custom";
  running_server srv(s, pools);
  EXPECT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body).body,
            R"({"from":"openai"})");
  EXPECT_EQ(http_request(srv.port(), "POST", "/claude-custom/v1/messages", {}, claude_body).body,
            R"({"from":"claude"})");
  EXPECT_EQ(http_request(srv.port(), "POST", "/v1/messages", {{"model-provider", "claude-custom"}},
                         claude_body)
                .body,
            R"({"from":"claude"})");
}

TEST(providers, system_prompt_is_injected_in_pass_through) {
  fake_upstream up;
  auto s = test_settings("claude-custom");
  s.system_prompt = "Answer briefly.";
  s.system_prompt_mode = protocol::system_prompt_mode::overwrite;
  running_server srv(s, one_instance_pool("claude-custom", up.base_url()));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, claude_body);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(up.requests().size(), 1u);
  auto sent = json::parse(up.requests()[0].body);
  EXPECT_EQ(sent["system"], "Answer briefly.");
  EXPECT_EQ(sent["messages"], json::parse(claude_body)["messages"]);
}

TEST(providers, keep_alive_reuses_one_upstream_connection) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body).status,
              200);
  EXPECT_EQ(up.connections_accepted(), 1);
}

TEST(mock, answers_every_protocol_streaming_and_not) {
  running_server srv(test_settings(), {});
  auto o = http_request(srv.port(), "POST", "/v1/chat/completions", {}, openai_body);
  ASSERT_EQ(o.status, 200);
  EXPECT_EQ(json::parse(o.body)["object"], "chat.completion");
  auto os = http_request(srv.port(), "POST", "/v1/chat/completions", {},
                         R"({"model":"m","stream":true,"messages":[]})");
  EXPECT_EQ(os.body.substr(os.body.size() - 14), "data: [DONE]\n\n");
  auto c = http_request(srv.port(), "POST", "/v1/messages", {}, claude_body);
  EXPECT_EQ(json::parse(c.body)["type"], "message");
  auto g = http_request(srv.port(), "POST", "/v1beta/models/gemini-pro:generateContent", {},
                        R"({"contents":[]})");
  EXPECT_EQ(json::parse(g.body)["candidates"][0]["finishReason"], "STOP");
  auto ga = http_request(srv.port(), "POST", "/v1beta/models/gemini-pro:streamGenerateContent", {},
                         R"({"contents":[]})");
  EXPECT_TRUE(json::parse(ga.body).is_array());
}

}  // namespace
}  // namespace aiclient::testing

namespace aiclient::testing {
namespace {
TEST(client_side, a_large_body_reaches_the_upstream_byte_for_byte) {
  fake_upstream up;
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  std::string body = R"({"model":"m","messages":[{"role":"user","content":")";
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) body += "word" + std::to_string(i) + " ";
  body += R"("}]})";
  for (int round = 0; round < 2; ++round) {  // twice on one server: the buffer is reused
    auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, body);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].body, body);
  EXPECT_EQ(reqs[1].body, body);
}
}  // namespace
}  // namespace aiclient::testing
