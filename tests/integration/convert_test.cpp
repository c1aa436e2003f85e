// Protocol conversion end to end: each client protocol against upstreams of another protocol.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiclient/protocol/sse.hpp"
#include "harness.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

scripted_response sse_answer(std::vector<std::string> events) {
  scripted_response r;
  r.headers = {{"content-type", "text/event-stream"}};
  r.chunks = std::move(events);
  return r;
}

std::vector<protocol::sse_event> parse_sse(const std::string& text) {
  std::vector<protocol::sse_event> out;
  protocol::sse_parser p;
  p.feed(text, [&](const protocol::sse_event& e) { out.push_back(e); });
  p.finish([&](const protocol::sse_event& e) { out.push_back(e); });
  return out;
}

const std::string openai_completion =
    R"({"id":"chatcmpl-9","object":"chat.completion","created":1,"model":"gpt-4o",
  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there",
    "tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                  {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]},
    "finish_reason":"tool_calls"}],
  "usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27,"prompt_tokens_details":{"cached_tokens":5}}})";

std::vector<std::string> openai_stream() {
  const std::string head =
      R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":)";
  return {
      "data: " + head + R"({"role":"assistant","content":""},"finish_reason":null}]})" + "\n\n",
      "data: " + head + R"({"content":"Hel"},"finish_reason":null}]})" + "\n\n",
      "data: " + head + R"({"content":"lo"},"finish_reason":null}]})" + "\n\n",
      "data: " + head +
          R"({"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})" +
          "\n\n",
      "data: " + head +
          R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]})" +
          "\n\n",
      "data: " + head +
          R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]})" +
          "\n\n",
      "data: " + head + R"({},"finish_reason":"tool_calls"}]})" + "\n\n",
      "data: "
      "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-"
      "4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":7,\"total_"
      "tokens\":27}}\n\n",
      "data: [DONE]\n\n"};
}

const std::string claude_message =
    R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4",
  "content":[{"type":"thinking","thinking":"Let me think","signature":"sig123"},{"type":"text","text":"Hi!"},
             {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}],
  "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":9,"cache_read_input_tokens":4}})";

const std::string anthropic_request = R"({"model":"gpt-4o","max_tokens":256,"system":"Be brief.",
  "messages":[{"role":"user","content":"Weather in Paris?"}],
  "tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]})";

TEST(convert, anthropic_client_on_openai_upstream_non_stream) {
  fake_upstream up;
  up.push(json_answer(openai_completion));
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {{"anthropic-version", "2023-06-01"}},
                        anthropic_request);
  ASSERT_EQ(r.status, 200) << r.body;
  // The upstream got an OpenAI chat request.
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  const auto sent = json::parse(reqs[0].body);
  EXPECT_EQ(sent["model"], "gpt-4o");
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
  // The client got an Anthropic message with both parallel tool calls, ids kept.
  const auto msg = json::parse(r.body);
  EXPECT_EQ(msg["type"], "message");
  EXPECT_EQ(msg["stop_reason"], "tool_use");
  int tool_uses = 0;
  for (const auto& block : msg["content"])
    if (block["type"] == "tool_use") {
      ++tool_uses;
      EXPECT_TRUE(block["id"] == "call_a" || block["id"] == "call_b");
    }
  EXPECT_EQ(tool_uses, 2);
  EXPECT_EQ(msg["usage"]["output_tokens"], 7);
}

TEST(convert, anthropic_client_on_openai_upstream_stream) {
  fake_upstream up;
  up.push(scripted_response(sse_answer(openai_stream())));
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  std::string body = anthropic_request;
  body.insert(1, R"("stream":true,)");
  auto r =
      http_request(srv.port(), "POST", "/v1/messages", {{"anthropic-version", "2023-06-01"}}, body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(up.requests()[0].body)["stream"], true);
  const auto events = parse_sse(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "message_stop");
  std::string text, args;
  for (const auto& e : events) {
    if (e.event != "content_block_delta") continue;
    const auto d = json::parse(e.data)["delta"];
    if (d["type"] == "text_delta") text += d["text"].get<std::string>();
    if (d["type"] == "input_json_delta") args += d["partial_json"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello");
  EXPECT_EQ(json::parse(args), json::parse(R"({"city":"Paris"})"));
}

TEST(convert, openai_client_on_claude_upstream_non_stream_and_stream) {
  fake_upstream up;
  up.push(json_answer(claude_message));
  const std::string ev =
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
      "\"assistant\",\"model\":\"claude-sonnet-4\",\"content\":[],\"stop_reason\":null,\"usage\":{"
      "\"input_tokens\":11,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":"
      "\"\"}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
      "\"Bon\"}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
      "\"jour\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_"
      "tokens\":2}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  up.push(sse_answer({ev.substr(0, 100), ev.substr(100)}));
  running_server srv(test_settings("claude-custom"),
                     one_instance_pool("claude-custom", up.base_url()));
  const std::string req =
      R"({"model":"claude-sonnet-4","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]})";
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, req);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto sent = json::parse(up.requests()[0].body);
  EXPECT_EQ(up.requests()[0].target, "/v1/messages");
  EXPECT_TRUE(sent.contains("max_tokens")) << "Anthropic requires max_tokens";
  const auto c = json::parse(r.body);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["content"], "Hi!");
  EXPECT_EQ(c["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "lookup");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "tool_calls");

  std::string sreq = req;
  sreq.insert(1, R"("stream":true,"stream_options":{"include_usage":true},)");
  auto s = http_request(srv.port(), "POST", "/v1/chat/completions", {}, sreq);
  ASSERT_EQ(s.status, 200);
  const auto events = parse_sse(s.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().data, "[DONE]");
  std::string text;
  bool usage = false;
  for (const auto& e : events) {
    if (e.data == "[DONE]") continue;
    const auto j = json::parse(e.data);
    if (j.contains("usage") && !j["usage"].is_null()) usage = true;
    if (!j["choices"].empty() && j["choices"][0]["delta"].contains("content") &&
        j["choices"][0]["delta"]["content"].is_string())
      text += j["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "Bonjour");
  EXPECT_TRUE(usage) << "include_usage asks for a usage chunk";
}

TEST(convert, gemini_client_on_openai_upstream) {
  fake_upstream up;
  up.push(json_answer(openai_completion));
  up.push(sse_answer(openai_stream()));
  up.push(sse_answer(openai_stream()));
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  const std::string req =
      R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":50}})";
  auto r = http_request(srv.port(), "POST", "/v1beta/models/gpt-4o:generateContent", {}, req);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(up.requests()[0].body)["model"], "gpt-4o");
  const auto g = json::parse(r.body);
  EXPECT_EQ(g["candidates"][0]["content"]["parts"][0]["text"], "Hello there");

  auto sse = http_request(srv.port(), "POST", "/v1beta/models/gpt-4o:streamGenerateContent?alt=sse",
                          {}, req);
  ASSERT_EQ(sse.status, 200);
  EXPECT_EQ(sse.headers["content-type"], "text/event-stream");
  std::string text;
  for (const auto& e : parse_sse(sse.body)) {
    const auto j = json::parse(e.data);
    for (const auto& p : j["candidates"][0]["content"]["parts"])
      if (p.contains("text")) text += p["text"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello");

  auto arr =
      http_request(srv.port(), "POST", "/v1beta/models/gpt-4o:streamGenerateContent", {}, req);
  ASSERT_EQ(arr.status, 200);
  const auto a = json::parse(arr.body);  // one JSON array, streamed
  ASSERT_TRUE(a.is_array());
  EXPECT_GE(a.size(), 2u);
}

TEST(convert, model_lists_and_count_tokens) {
  fake_upstream up;
  up.set_handler([](const recorded_request& req) {
    return json_answer(
        R"({"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"x"}]})");
  });
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto claude =
      http_request(srv.port(), "GET", "/v1/models", {{"anthropic-version", "2023-06-01"}}, "");
  ASSERT_EQ(claude.status, 200) << claude.body;
  EXPECT_EQ(json::parse(claude.body)["data"][0]["id"], "gpt-4o");
  EXPECT_EQ(json::parse(claude.body)["data"][0]["type"], "model");
  auto gemini = http_request(srv.port(), "GET", "/v1beta/models", {}, "");
  ASSERT_EQ(gemini.status, 200) << gemini.body;
  EXPECT_EQ(json::parse(gemini.body)["models"][0]["name"], "models/gpt-4o");
  const auto before = up.requests().size();
  auto count = http_request(srv.port(), "POST", "/v1/messages/count_tokens", {}, anthropic_request);
  ASSERT_EQ(count.status, 200);
  EXPECT_GT(json::parse(count.body)["input_tokens"].get<int>(), 0);
  // Gemini's countTokens: the same estimate, in Gemini's shape.
  const std::string gemini_count = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
  auto g = http_request(srv.port(), "POST", "/v1beta/models/gpt-4o:countTokens", {}, gemini_count);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(json::parse(g.body),
            json::parse(R"({"totalTokens":)" + std::to_string(gemini_count.size() / 4) + "}"));
  EXPECT_EQ(up.requests().size(), before) << "estimated locally";
}

TEST(convert, upstream_client_errors_come_back_in_the_client_shape) {
  fake_upstream up;
  up.push(json_answer(
      R"({"error":{"message":"model gpt-x does not exist","type":"invalid_request_error"}})", 404));
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, anthropic_request);
  EXPECT_EQ(r.status, 404);
  const auto e = json::parse(r.body);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "not_found_error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("does not exist"), std::string::npos);
}

TEST(convert, provider_prefix_in_the_model_chooses_the_pool) {
  fake_upstream claude_up;
  claude_up.push(json_answer(claude_message));
  auto s = test_settings("mock");
  running_server srv(s, one_instance_pool("claude-custom", claude_up.base_url()));
  auto r = http_request(
      srv.port(), "POST", "/v1/chat/completions", {},
      R"({"model":"claude-custom:claude-sonnet-4","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(claude_up.requests().size(), 1u);
  EXPECT_EQ(json::parse(claude_up.requests()[0].body)["model"], "claude-sonnet-4");
}

TEST(convert, a_converted_stream_cut_by_the_upstream_ends_with_an_error_event) {
  fake_upstream up;
  auto a = sse_answer({openai_stream()[0], openai_stream()[1]});
  a.drop_mid_body = true;
  up.push(a);
  running_server srv(test_settings("openai-custom"),
                     one_instance_pool("openai-custom", up.base_url() + "/v1"));
  std::string body = anthropic_request;
  body.insert(1, R"("stream":true,)");
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, body);
  ASSERT_EQ(r.status, 200);
  const auto events = parse_sse(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "error") << r.body;
}

}  // namespace
}  // namespace aiclient::testing

namespace aiclient::testing {
namespace {
TEST(convert, instance_model_mapping_renames_the_model_upstream) {
  fake_upstream up;
  up.set_handler([](const recorded_request&) { return json_answer(openai_completion); });
  auto pools = one_instance_pool("openai-custom", up.base_url() + "/v1");
  pools.by_type["openai-custom"][0].model_mapping["claude-sonnet-4"] = "gpt-4o";
  running_server srv(test_settings("openai-custom"), pools);
  // Converted (Anthropic client) and pass-through (OpenAI client) both send the mapped name.
  auto a = http_request(
      srv.port(), "POST", "/v1/messages", {},
      R"({"model":"claude-sonnet-4","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(a.status, 200) << a.body;
  auto o =
      http_request(srv.port(), "POST", "/v1/chat/completions", {},
                   R"({"model":"claude-sonnet-4","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(o.status, 200) << o.body;
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(json::parse(reqs[0].body)["model"], "gpt-4o");
  EXPECT_EQ(json::parse(reqs[1].body)["model"], "gpt-4o");
  // The client sees the model it asked for.
  EXPECT_EQ(json::parse(a.body)["model"], "claude-sonnet-4");
}
}  // namespace
}  // namespace aiclient::testing
