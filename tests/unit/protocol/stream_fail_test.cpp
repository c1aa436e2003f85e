// In-band errors: fail() after some output, upstream error events, and what follows them.
#include <gtest/gtest.h>

#include "stream_test_support.hpp"

namespace {

using namespace stream_test;

// The first `n` complete events of a fixture (a stream cut after them).
std::string first_events(const std::string& text, std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n; ++i) pos = text.find("\n\n", pos) + 2;
  return text.substr(0, pos);
}

const ending reset{true, 502, "upstream connection reset"};

TEST(stream_fail, openai_client_gets_an_error_chunk_then_done) {
  const std::string upstream = first_events(fixture("claude_tool.sse"), 7);
  const run_result r = run(wire_protocol::claude, wire_protocol::openai, {}, upstream, {}, reset);
  const auto events = parse_sse(r.out);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().data, "[DONE]");
  const json err = parse_json(events[events.size() - 2].data);
  EXPECT_EQ(err["error"]["message"], "upstream connection reset");
  EXPECT_EQ(err["error"]["type"], "upstream_error");
  // What was streamed before stays; no finish_reason pretends the answer was complete.
  const message_view v = read_openai(r.out);
  EXPECT_EQ(v.text, "I'll look up the weather in Paris.");
  ASSERT_EQ(v.tools.size(), 1u);
  EXPECT_EQ(v.tools[0].arguments, R"({"location":)");
  EXPECT_TRUE(v.error);
  EXPECT_EQ(r.out.find("\"finish_reason\":\""), std::string::npos);
}

TEST(stream_fail, claude_client_gets_an_error_event_after_message_start) {
  const std::string upstream = first_events(fixture("openai_tool.sse"), 5);
  const run_result r = run(wire_protocol::openai, wire_protocol::claude, {}, upstream, {}, reset);
  const auto events = parse_sse(r.out);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "error");
  const json err = parse_json(events.back().data);
  EXPECT_EQ(err, json::parse(R"({"type":"error","error":{"type":"api_error",
                                 "message":"upstream connection reset"}})"));
  const message_view v = read_claude(r.out);
  EXPECT_TRUE(v.problems.empty()) << r.out;
  EXPECT_EQ(v.text, "Let me check the weather.");
  EXPECT_FALSE(v.terminated);  // no message_stop: the SDK raises the error
}

TEST(stream_fail, gemini_sse_client_gets_an_error_chunk) {
  const std::string upstream = first_events(fixture("openai_text.sse"), 4);
  stream_options opts;
  const run_result r = run(wire_protocol::openai, wire_protocol::gemini, opts, upstream, {}, reset);
  const auto events = parse_sse(r.out);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(parse_json(events.back().data),
            json::parse(R"({"error":{"code":502,"message":"upstream connection reset",
                                     "status":"UNAVAILABLE"}})"));
  EXPECT_EQ(read_gemini(r.out).text, "Bonjour! Voici");
  EXPECT_EQ(r.out.find("finishReason"), std::string::npos);
}

TEST(stream_fail, gemini_array_client_gets_the_error_as_last_element_then_the_closing_bracket) {
  const std::string upstream = first_events(fixture("claude_text.sse"), 5);
  stream_options opts;
  opts.gemini_sse = false;
  const run_result r = run(wire_protocol::claude, wire_protocol::gemini, opts, upstream, {}, reset);
  const json arr = parse_json(r.out);
  ASSERT_TRUE(arr.is_array()) << r.out;
  ASSERT_GE(arr.size(), 2u);
  EXPECT_EQ(arr.back()["error"]["code"], 502);
  EXPECT_EQ(arr.back()["error"]["status"], "UNAVAILABLE");
  EXPECT_EQ(arr[0]["candidates"][0]["content"]["parts"][0]["text"], "Hello");
}

TEST(stream_fail, fail_before_any_output_is_just_the_error_event) {
  for (const wire_protocol from : {wire_protocol::openai, wire_protocol::gemini}) {
    const run_result r = run(from, wire_protocol::claude, {}, "", {}, {true, 429, "slow down"});
    EXPECT_EQ(r.out,
              "event: error\ndata: "
              R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"
              "\n\n");
  }
  const run_result o =
      run(wire_protocol::claude, wire_protocol::openai, {}, "", {}, {true, 503, "x"});
  const auto events = parse_sse(o.out);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "[DONE]");
  stream_options opts;
  opts.gemini_sse = false;
  const run_result g =
      run(wire_protocol::claude, wire_protocol::gemini, opts, "", {}, {true, 500, "x"});
  EXPECT_EQ(parse_json(g.out), json::parse(R"([{"error":{"code":500,"message":"x",
                                                        "status":"INTERNAL"}}])"));
}

TEST(stream_fail, nothing_follows_the_end_of_the_stream) {
  for (const wire_protocol to :
       {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini}) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    const wire_protocol from =
        to == wire_protocol::claude ? wire_protocol::openai : wire_protocol::claude;
    const std::string upstream =
        fixture(from == wire_protocol::openai ? "openai_text.sse" : "claude_text.sse");
    auto conv = stream_converter::make(from, to, {});
    std::string out;
    conv->feed(upstream.substr(0, upstream.size() / 2), out);
    conv->fail(502, "gone", out);
    const std::string after_fail = out;
    conv->feed(upstream.substr(upstream.size() / 2), out);
    conv->finish(out);
    conv->fail(500, "again", out);
    EXPECT_EQ(out, after_fail);

    auto done = stream_converter::make(from, to, {});
    std::string out2;
    done->feed(upstream, out2);
    done->finish(out2);
    const std::string after_finish = out2;
    done->fail(502, "late", out2);
    done->feed("data: {}\n\n", out2);
    done->finish(out2);
    EXPECT_EQ(out2, after_finish);
  }
}

// An error event of the upstream becomes the client's error event, with an equivalent type.
TEST(stream_fail, upstream_error_types_map_to_equivalent_client_errors) {
  {
    const run_result r =
        run(wire_protocol::claude, wire_protocol::openai, {}, fixture("claude_error.sse"));
    EXPECT_TRUE(r.failed);
    const auto events = parse_sse(r.out);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.back().data, "[DONE]");
    const json err = parse_json(events[events.size() - 2].data);
    EXPECT_EQ(err["error"]["message"], "Overloaded");
    EXPECT_EQ(err["error"]["type"], "service_unavailable");  // Anthropic 529 overloaded
  }
  {
    const run_result r =
        run(wire_protocol::claude, wire_protocol::gemini, {}, fixture("claude_error.sse"));
    const auto events = parse_sse(r.out);
    EXPECT_EQ(
        parse_json(events.back().data),
        json::parse(R"({"error":{"code":529,"message":"Overloaded","status":"UNAVAILABLE"}})"));
  }
  {
    const run_result r =
        run(wire_protocol::gemini, wire_protocol::claude, {}, fixture("gemini_error.sse"));
    EXPECT_TRUE(r.failed);
    const auto events = parse_sse(r.out);
    EXPECT_EQ(events.back().event, "error");
    EXPECT_EQ(parse_json(events.back().data)["error"]["type"], "overloaded_error");  // 503
  }
  {
    const run_result r =
        run(wire_protocol::openai, wire_protocol::claude, {}, fixture("openai_error.sse"));
    EXPECT_TRUE(r.failed);
    const auto events = parse_sse(r.out);
    EXPECT_EQ(parse_json(events.back().data)["error"]["type"], "api_error");  // server_error
  }
}

TEST(stream_fail, openai_upstream_error_codes_give_the_status) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
       "rate_limit_error"},
      {R"({"error":{"code":401,"message":"bad key"}})", "authentication_error"},
      {R"({"error":"plain text error"})", "api_error"},
  };
  for (const auto& [data, type] : cases) {
    const std::string upstream =
        first_events(fixture("openai_text.sse"), 3) + "data: " + data + "\n\n";
    const run_result r = run(wire_protocol::openai, wire_protocol::claude, {}, upstream);
    EXPECT_TRUE(r.failed);
    const auto events = parse_sse(r.out);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().event, "error");
    EXPECT_EQ(parse_json(events.back().data)["error"]["type"], type) << data;
  }
}

}  // namespace
