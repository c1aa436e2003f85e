// Kiro event-stream answers -> client streams (OpenAI, Anthropic, Gemini) and non-streaming
// responses: text, <thinking>, tool uses from fragments, usage, exceptions and broken streams,
// fed whole, byte by byte and in random splits.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/kiro.hpp"
#include "stream_test_support.hpp"

namespace {

namespace kiro = aiclient::protocol::kiro;
using aiclient::protocol::canonical_response;
using aiclient::protocol::part_kind;
using aiclient::protocol::stop_reason;
using aiclient::protocol::wire_protocol;
using stream_test::message_view;
using stream_test::read_stream;
using stream_test::split;
using json = nlohmann::json;

const wire_protocol clients[] = {wire_protocol::openai, wire_protocol::claude,
                                 wire_protocol::gemini};

// --- Kiro upstream fixtures (frames made with the library's encoder) ---

std::string text_event(std::string_view content) {
  return kiro::encode_event("assistantResponseEvent", json{{"content", content}}.dump());
}

std::string tool_event(const json& payload) {
  return kiro::encode_event("toolUseEvent", payload.dump());
}

std::string metering() {
  return kiro::encode_event("meteringEvent",
                            R"({"unit":"credit","unitPlural":"credits","usage":0.0097})");
}

std::string context_usage(double pct) {
  return kiro::encode_event("contextUsageEvent", json{{"contextUsagePercentage", pct}}.dump());
}

std::string text_stream() {
  return text_event("Hello") + text_event(", wor") + text_event("ld! \u00e9\u4e2d") + metering() +
         context_usage(12.5);
}

std::string thinking_stream() {
  return text_event("<thin") + text_event("king>Let me think") + text_event(" about it.</thi") +
         text_event("nking>\n\nThe answer") + text_event(" is 42.") + context_usage(3);
}

// One call in four fragments: name only on the first, key order varying, stop alone.
std::string tool_stream() {
  return text_event("Let me check.") +
         tool_event(
             {{"name", "get_weather"}, {"toolUseId", "tooluse_1"}, {"input", "{\"city\":"}}) +
         tool_event({{"input", "\"Paris\","}, {"toolUseId", "tooluse_1"}, {"stop", false}}) +
         tool_event({{"toolUseId", "tooluse_1"}, {"input", "\"unit\":\"C\"}"}}) +
         tool_event({{"toolUseId", "tooluse_1"}, {"stop", true}}) + metering() + context_usage(7);
}

std::string two_tools_stream() {
  return tool_event({{"name", "read"}, {"toolUseId", "t_a"}, {"input", "{\"path\""}}) +
         tool_event({{"toolUseId", "t_a"}, {"input", ":\"a.txt\"}"}}) +
         tool_event({{"toolUseId", "t_a"}, {"stop", true}}) +
         tool_event({{"name", "read"}, {"toolUseId", "t_b"}, {"input", "{\"path\":"}}) +
         tool_event({{"toolUseId", "t_b"}, {"input", "\"b.txt\"}"}}) +
         tool_event({{"toolUseId", "t_b"}, {"stop", true}});
}

// --- running the converter ---

struct run_result {
  std::string out;
  bool failed = false;
  bool complete = false;  ///< upstream_complete() before finish()
};

run_result run(wire_protocol to, std::string_view upstream, split s = {},
               kiro::decode_options kopts = {}, aiclient::protocol::stream_options opts = {}) {
  if (opts.model.empty()) opts.model = "claude-sonnet-4-5";
  opts.include_usage = true;
  kiro::kiro_stream_converter conv(to, opts, std::move(kopts));
  run_result r;
  std::mt19937 rng(s.seed);
  std::uniform_int_distribution<std::size_t> piece(1, 97);
  for (std::size_t pos = 0; pos < upstream.size();) {
    std::size_t n = upstream.size() - pos;
    if (s.how == split::bytes) n = 1;
    if (s.how == split::random) n = std::min(n, piece(rng));
    conv.feed(upstream.substr(pos, n), r.out);
    pos += n;
  }
  r.complete = conv.upstream_complete();
  conv.finish(r.out);
  r.failed = conv.failed();
  return r;
}

std::vector<split> splits() {
  std::vector<split> all = {{split::whole, 0}, {split::bytes, 0}};
  for (unsigned seed = 1; seed <= 12; ++seed) all.push_back({split::random, seed});
  return all;
}

std::string describe(const split& s) {
  return s.how == split::whole   ? "whole"
         : s.how == split::bytes ? "byte by byte"
                                 : "seed " + std::to_string(s.seed);
}

// Runs every client protocol with every split; checks the client streams are well formed and
// identical across splits (ids and timestamps masked); returns the message per protocol.
std::map<wire_protocol, message_view> run_all(std::string_view upstream,
                                              const kiro::decode_options& kopts = {}) {
  std::map<wire_protocol, message_view> views;
  for (const wire_protocol to : clients) {
    SCOPED_TRACE(std::string("client ") + std::string(aiclient::protocol::to_string(to)));
    std::string reference;
    for (const split& s : splits()) {
      SCOPED_TRACE(describe(s));
      const run_result r = run(to, upstream, s, kopts);
      const std::string masked = stream_test::mask_volatile(r.out);
      if (reference.empty()) {
        reference = masked;
        views[to] = read_stream(to, r.out);
        EXPECT_TRUE(views[to].problems.empty())
            << ::testing::PrintToString(views[to].problems) << "\n"
            << r.out;
      } else {
        EXPECT_EQ(masked, reference);
      }
    }
  }
  return views;
}

// --- tests ---

TEST(kiro_stream, text_reaches_every_client_with_usage_and_end_turn) {
  const auto views = run_all(text_stream());
  for (const auto& [to, v] : views) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    EXPECT_EQ(v.text, "Hello, world! \u00e9\u4e2d");
    EXPECT_EQ(v.thinking, "");
    EXPECT_TRUE(v.tools.empty());
    EXPECT_EQ(v.stop, "end_turn");
    EXPECT_FALSE(v.error);
    EXPECT_TRUE(v.terminated);
    // 12.5 % of 200k context; output: 19 bytes of text / 4, rounded up.
    EXPECT_EQ(v.input, 25000);
    EXPECT_EQ(v.output, 5);
    EXPECT_EQ(v.model, "claude-sonnet-4-5");
  }
  const run_result openai = run(wire_protocol::openai, text_stream());
  EXPECT_TRUE(openai.out.ends_with("data: [DONE]\n\n"));
  const message_view claude = views.at(wire_protocol::claude);
  EXPECT_EQ(claude.event_types.front(), "message_start");
  EXPECT_EQ(claude.event_types.back(), "message_stop");
}

TEST(kiro_stream, each_frame_is_converted_as_soon_as_it_is_complete) {
  for (const wire_protocol to : clients) {
    kiro::kiro_stream_converter conv(to, {});
    std::string out;
    std::string sent;
    for (const std::string piece : {"Hello", ", wor", "ld!"}) {
      conv.feed(text_event(piece), out);
      sent += piece;
      EXPECT_EQ(read_stream(to, out).text, sent);
    }
  }
}

TEST(kiro_stream, followup_prompts_and_unknown_events_are_ignored) {
  const std::string upstream =
      text_event("Answer.") +
      kiro::encode_event("assistantResponseEvent",
                         R"({"content":"Would you like more?","followupPrompt":{"content":"x"}})") +
      kiro::encode_event("messageMetadataEvent", R"({"conversationId":"c1"})") +
      kiro::encode_event("someFutureEvent", "not even json") +
      kiro::encode_event("codeReferenceEvent", R"({"references":[]})");
  for (const auto& [to, v] : run_all(upstream)) {
    EXPECT_EQ(v.text, "Answer.");
    EXPECT_FALSE(v.error);
    EXPECT_EQ(v.stop, "end_turn");
  }
}

TEST(kiro_stream, thinking_at_the_start_becomes_a_thinking_block) {
  const auto views = run_all(thinking_stream());
  for (const auto& [to, v] : views) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    EXPECT_EQ(v.thinking, "Let me think about it.");
    EXPECT_EQ(v.text, "The answer is 42.");
    EXPECT_EQ(v.stop, "end_turn");
  }
  // Anthropic: the thinking block (index 0) is stopped before the text block (index 1).
  const run_result r = run(wire_protocol::claude, thinking_stream());
  const auto events = stream_test::parse_sse(r.out);
  std::vector<std::string> blocks;
  for (const auto& e : events) {
    if (e.event == "content_block_start") {
      blocks.push_back(json::parse(e.data)["content_block"]["type"]);
    }
  }
  EXPECT_EQ(blocks, (std::vector<std::string>{"thinking", "text"}));
}

TEST(kiro_stream, thinking_tag_split_in_every_place) {
  const std::string full = "  <thinking>abc</thinking>\n\nxyz";
  for (std::size_t a = 1; a < full.size(); ++a) {
    for (std::size_t b = a + 1; b < full.size(); b += 3) {
      const std::string upstream = text_event(full.substr(0, a)) +
                                   text_event(full.substr(a, b - a)) + text_event(full.substr(b));
      const message_view v =
          read_stream(wire_protocol::claude, run(wire_protocol::claude, upstream).out);
      ASSERT_EQ(v.thinking, "abc") << a << "," << b;
      ASSERT_EQ(v.text, "xyz") << a << "," << b;
    }
  }
}

TEST(kiro_stream, text_that_only_looks_like_a_tag_stays_text) {
  for (const auto& [to, v] : run_all(text_event("<thi") + text_event("s is html>") +
                                     text_event(" and <thinking>later</thinking>"))) {
    EXPECT_EQ(v.text, "<this is html> and <thinking>later</thinking>");
    EXPECT_EQ(v.thinking, "");
  }
  // A short answer that is a prefix of the tag is released at the end.
  const message_view v =
      read_stream(wire_protocol::openai, run(wire_protocol::openai, text_event("<th")).out);
  EXPECT_EQ(v.text, "<th");
  // Unclosed thinking: everything is thinking.
  const message_view u = read_stream(
      wire_protocol::claude, run(wire_protocol::claude, text_event("<thinking>still going")).out);
  EXPECT_EQ(u.thinking, "still going");
  EXPECT_EQ(u.text, "");
  // Extraction off: the tags stay in the text.
  kiro::decode_options off;
  off.extract_thinking = false;
  const message_view t = read_stream(wire_protocol::claude,
                                     run(wire_protocol::claude, thinking_stream(), {}, off).out);
  EXPECT_EQ(t.text, "<thinking>Let me think about it.</thinking>\n\nThe answer is 42.");
}

TEST(kiro_stream, tool_use_fragments_are_joined_into_one_call) {
  const auto views = run_all(tool_stream());
  for (const auto& [to, v] : views) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    EXPECT_EQ(v.text, "Let me check.");
    ASSERT_EQ(v.tools.size(), 1u);
    EXPECT_EQ(v.tools[0].name, "get_weather");
    EXPECT_EQ(v.tools[0].args(), json::parse(R"({"city":"Paris","unit":"C"})"));
    if (to != wire_protocol::gemini) {
      EXPECT_EQ(v.tools[0].id, "tooluse_1");
    }
    EXPECT_EQ(v.stop, "tool_use");
    EXPECT_EQ(v.input, 14000);
  }
  // Anthropic order: text block 0, then tool_use block 1, each closed before the next.
  const message_view claude = views.at(wire_protocol::claude);
  const std::vector<std::string> expected = {
      "message_start",      "content_block_start", "content_block_delta",
      "content_block_stop", "content_block_start", "content_block_delta",
      "content_block_stop", "message_delta",       "message_stop"};
  EXPECT_EQ(claude.event_types, expected);
  const run_result openai = run(wire_protocol::openai, tool_stream());
  EXPECT_NE(openai.out.find(R"("finish_reason":"tool_calls")"), std::string::npos);
  EXPECT_TRUE(openai.out.ends_with("data: [DONE]\n\n"));
}

TEST(kiro_stream, two_tools_and_interleaved_fragments) {
  for (const std::string& upstream :
       {two_tools_stream(),
        // Interleaved: fragments of both calls alternate; grouped by toolUseId.
        tool_event({{"name", "read"}, {"toolUseId", "t_a"}, {"input", "{\"path\""}}) +
            tool_event({{"name", "read"}, {"toolUseId", "t_b"}, {"input", "{\"path\":"}}) +
            tool_event({{"toolUseId", "t_a"}, {"input", ":\"a.txt\"}"}}) +
            tool_event({{"toolUseId", "t_b"}, {"input", "\"b.txt\"}"}}) +
            tool_event({{"toolUseId", "t_a"}, {"stop", true}}) +
            tool_event({{"toolUseId", "t_b"}, {"stop", true}})}) {
    for (const auto& [to, v] : run_all(upstream)) {
      SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
      ASSERT_EQ(v.tools.size(), 2u);
      EXPECT_EQ(v.tools[0].name, "read");
      EXPECT_EQ(v.tools[0].args(), json::parse(R"({"path":"a.txt"})"));
      EXPECT_EQ(v.tools[1].args(), json::parse(R"({"path":"b.txt"})"));
      if (to != wire_protocol::gemini) {
        EXPECT_EQ(v.tools[0].id, "t_a");
        EXPECT_EQ(v.tools[1].id, "t_b");
      }
      EXPECT_EQ(v.stop, "tool_use");
    }
  }
}

TEST(kiro_stream, object_input_invalid_input_and_unclosed_calls) {
  const std::string upstream =
      tool_event({{"toolUseId", "t1"}, {"name", "ls"}, {"input", {{"d", "."}}}, {"stop", true}}) +
      tool_event({{"toolUseId", "t2"}, {"name", "broken"}, {"input", "{\"a\":"}, {"stop", true}}) +
      tool_event({{"toolUseId", "t3"}, {"name", "noargs"}, {"stop", true}}) +
      tool_event({{"toolUseId", "t4"}, {"name", "unclosed"}, {"input", "{\"x\":1}"}});
  for (const auto& [to, v] : run_all(upstream)) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    ASSERT_EQ(v.tools.size(), 4u);
    EXPECT_EQ(v.tools[0].args(), json::parse(R"({"d":"."})"));
    EXPECT_EQ(v.tools[1].name, "broken");
    EXPECT_EQ(v.tools[1].args(), json::object());
    EXPECT_EQ(v.tools[2].args(), json::object());
    EXPECT_EQ(v.tools[3].name, "unclosed");
    EXPECT_EQ(v.tools[3].args(), json::parse(R"({"x":1})"));
  }
}

TEST(kiro_stream, repeated_calls_are_sent_once) {
  const std::string call =
      tool_event({{"toolUseId", "t1"}, {"name", "ls"}, {"input", "{\"d\":\".\"}"}}) +
      tool_event({{"toolUseId", "t1"}, {"stop", true}});
  const std::string same_other_id =
      tool_event({{"toolUseId", "t9"}, {"name", "ls"}, {"input", "{\"d\":\".\"}"}, {"stop", true}});
  const std::string different = tool_event(
      {{"toolUseId", "t5"}, {"name", "ls"}, {"input", "{\"d\":\"..\"}"}, {"stop", true}});
  const std::string nameless = tool_event({{"toolUseId", "t7"}, {"input", "{}"}, {"stop", true}});
  for (const auto& [to, v] : run_all(call + call + same_other_id + different + nameless)) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    ASSERT_EQ(v.tools.size(), 2u);
    EXPECT_EQ(v.tools[0].args(), json::parse(R"({"d":"."})"));
    EXPECT_EQ(v.tools[1].args(), json::parse(R"({"d":".."})"));
  }
}

TEST(kiro_stream, shortened_tool_names_are_mapped_back) {
  const std::string original = "mcp__some_server__" + std::string(70, 'x');
  const std::string short_name = kiro::shorten_tool_name(original);
  ASSERT_LE(short_name.size(), 64u);
  kiro::decode_options opts;
  opts.tool_names[short_name] = original;
  const std::string upstream =
      tool_event({{"toolUseId", "t1"}, {"name", short_name}, {"input", "{}"}, {"stop", true}});
  for (const auto& [to, v] : run_all(upstream, opts)) {
    ASSERT_EQ(v.tools.size(), 1u);
    EXPECT_EQ(v.tools[0].name, original);
  }
}

TEST(kiro_stream, context_full_and_content_length_exceeded_end_with_max_tokens) {
  for (const std::string& upstream :
       {text_event("partial") + context_usage(100),
        text_event("partial") +
            tool_event({{"toolUseId", "t1"}, {"name", "ls"}, {"input", "{\"d\""}}) +
            kiro::encode_exception("ContentLengthExceededException",
                                   R"({"message":"Response exceeded the content length"})") +
            text_event("ignored after the end")}) {
    for (const auto& [to, v] : run_all(upstream)) {
      SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
      EXPECT_EQ(v.text, "partial");
      EXPECT_TRUE(v.tools.empty());  // a call cut by the limit is not sent
      EXPECT_EQ(v.stop, "max_tokens");
      EXPECT_FALSE(v.error);
    }
  }
  const run_result r =
      run(wire_protocol::claude,
          text_event("x") + kiro::encode_exception("ContentLengthExceededException", "{}"));
  EXPECT_FALSE(r.failed);
  EXPECT_TRUE(r.complete);
}

TEST(kiro_stream, exceptions_become_in_band_errors) {
  const std::string upstream =
      text_event("Hel") +
      kiro::encode_exception("ThrottlingException", R"({"message":"Rate exceeded"})") +
      text_event("never shown");
  for (const auto& [to, v] : run_all(upstream)) {
    SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
    EXPECT_EQ(v.text, "Hel");
    EXPECT_TRUE(v.error);
    EXPECT_NE(v.error_body.dump().find("ThrottlingException: Rate exceeded"), std::string::npos)
        << v.error_body.dump();
  }
  const run_result claude = run(wire_protocol::claude, upstream);
  EXPECT_TRUE(claude.failed);
  EXPECT_NE(claude.out.find(R"("type":"rate_limit_error")"), std::string::npos) << claude.out;
  const run_result openai = run(wire_protocol::openai, upstream);
  EXPECT_TRUE(openai.out.ends_with("data: [DONE]\n\n"));
  const run_result gemini = run(wire_protocol::gemini, upstream);
  EXPECT_NE(gemini.out.find(R"("status":"RESOURCE_EXHAUSTED")"), std::string::npos) << gemini.out;

  // An exception before any content: a lone error event, and the error for the caller (which
  // has sent nothing yet and may answer with an HTTP 429 or retry elsewhere).
  {
    kiro::kiro_stream_converter conv(wire_protocol::claude, {});
    std::string out;
    conv.feed(kiro::encode_exception("ThrottlingException", R"({"message":"Rate exceeded"})"), out);
    EXPECT_TRUE(conv.failed());
    EXPECT_TRUE(out.starts_with("event: error\n")) << out;
    EXPECT_EQ(out.find("message_start"), std::string::npos);
    EXPECT_EQ(conv.upstream_error().status, 429);
    EXPECT_EQ(conv.upstream_error().type, "ThrottlingException");
    EXPECT_EQ(conv.upstream_error().message, "Kiro ThrottlingException: Rate exceeded");
  }

  // Other types map to their statuses; an "error" message too.
  const run_result internal =
      run(wire_protocol::claude,
          kiro::encode_exception("InternalServerException", R"({"message":"boom"})"));
  EXPECT_TRUE(internal.failed);
  EXPECT_NE(internal.out.find(R"("type":"api_error")"), std::string::npos) << internal.out;
  const run_result err =
      run(wire_protocol::openai,
          kiro::encode_message({{":message-type", "error"},
                                {":error-code", "InternalFailure"},
                                {":error-message", "An internal error occurred"}},
                               ""));
  EXPECT_TRUE(err.failed);
  EXPECT_NE(err.out.find("InternalFailure: An internal error occurred"), std::string::npos)
      << err.out;
}

// Broken framing: what came before is delivered, then the client gets an error event.
TEST(kiro_stream, corrupt_and_truncated_streams_end_with_an_error_event) {
  const std::string good = text_event("Hello");
  std::string bad_prelude = text_event("lost");
  bad_prelude[10] ^= 0x40;
  std::string bad_message = text_event("lost");
  bad_message[bad_message.size() - 10] ^= 0x01;
  std::string oversized = text_event(std::string(200, 'o'));
  const std::string truncated = good + text_event("cut").substr(0, 20);

  struct scenario {
    std::string name, upstream, why;
    std::size_t max = kiro::eventstream_parser::default_max_message_bytes;
  };
  const std::vector<scenario> scenarios = {
      {"bad prelude CRC", good + bad_prelude + good, "prelude CRC mismatch"},
      {"bad message CRC", good + bad_message + good, "message CRC mismatch"},
      {"truncated", truncated, "truncated"},
      {"oversized", good + oversized, "exceeds the maximum of 150", 150},
  };
  for (const scenario& sc : scenarios) {
    SCOPED_TRACE(sc.name);
    kiro::decode_options opts;
    opts.max_message_bytes = sc.max;
    for (const auto& [to, v] : run_all(sc.upstream, opts)) {
      SCOPED_TRACE(std::string(aiclient::protocol::to_string(to)));
      EXPECT_EQ(v.text, "Hello");
      EXPECT_TRUE(v.error);
      EXPECT_NE(v.error_body.dump().find(sc.why), std::string::npos) << v.error_body.dump();
    }
    const run_result r = run(wire_protocol::claude, sc.upstream, {}, opts);
    EXPECT_TRUE(r.failed);
    EXPECT_FALSE(r.complete);
    EXPECT_NE(r.out.find(R"("type":"api_error")"), std::string::npos);  // 502
  }
}

TEST(kiro_stream, upstream_complete_only_on_a_message_boundary) {
  kiro::kiro_stream_converter conv(wire_protocol::openai, {});
  std::string out;
  EXPECT_FALSE(conv.upstream_complete());  // nothing yet
  const std::string frame = text_event("hi");
  conv.feed(frame.substr(0, 10), out);
  EXPECT_FALSE(conv.upstream_complete());
  conv.feed(frame.substr(10), out);
  EXPECT_TRUE(conv.upstream_complete());
  // A cut connection: the caller fails the stream.
  conv.fail(502, "upstream connection closed", out);
  const message_view v = read_stream(wire_protocol::openai, out);
  EXPECT_EQ(v.text, "hi");
  EXPECT_TRUE(v.error);
  EXPECT_TRUE(v.terminated);
}

TEST(kiro_stream, malformed_payload_of_a_known_event_fails_the_stream) {
  const std::string upstream =
      text_event("ok") + kiro::encode_event("assistantResponseEvent", "{\"content\":");
  for (const auto& [to, v] : run_all(upstream)) {
    EXPECT_EQ(v.text, "ok");
    EXPECT_TRUE(v.error);
    EXPECT_NE(v.error_body.dump().find("malformed Kiro assistantResponseEvent"), std::string::npos);
  }
}

// --- non-streaming ---

TEST(kiro_aggregate, collects_thinking_text_and_tools_into_a_response) {
  const std::string upstream = text_event("<thinking>Plan.</thinking>\n\nI will look.") +
                               tool_event({{"name", "get_weather"},
                                           {"toolUseId", "tooluse_1"},
                                           {"input", "{\"city\":\"Paris\"}"},
                                           {"stop", true}}) +
                               context_usage(1);
  kiro::decode_options opts;
  opts.model = "claude-sonnet-4-5";
  canonical_response resp;
  // Fed in small pieces through the incremental interface.
  kiro::response_aggregator agg(opts);
  for (std::size_t pos = 0; pos < upstream.size(); pos += 7) {
    agg.feed(std::string_view(upstream).substr(pos, 7));
  }
  const kiro::decode_error err = agg.finish(resp);
  ASSERT_TRUE(err.ok()) << err.message;
  ASSERT_EQ(resp.parts.size(), 3u);
  EXPECT_EQ(resp.parts[0].kind, part_kind::thinking);
  EXPECT_EQ(resp.parts[0].text.data, "Plan.");
  EXPECT_EQ(resp.parts[1].kind, part_kind::text);
  EXPECT_EQ(resp.parts[1].text.data, "I will look.");
  EXPECT_EQ(resp.parts[2].kind, part_kind::tool_call);
  EXPECT_EQ(resp.parts[2].name.data, "get_weather");
  EXPECT_EQ(resp.stop, stop_reason::tool_use);
  EXPECT_EQ(resp.tokens.input_tokens, 2000);

  std::string claude;
  ASSERT_EQ(aiclient::protocol::encode_response(wire_protocol::claude, resp, claude), "");
  const json c = json::parse(claude);
  EXPECT_EQ(c["model"], "claude-sonnet-4-5");
  EXPECT_EQ(c["stop_reason"], "tool_use");
  ASSERT_EQ(c["content"].size(), 3u);
  EXPECT_EQ(c["content"][0]["type"], "thinking");
  EXPECT_EQ(c["content"][0]["thinking"], "Plan.");
  EXPECT_EQ(c["content"][1]["text"], "I will look.");
  EXPECT_EQ(c["content"][2]["type"], "tool_use");
  EXPECT_EQ(c["content"][2]["id"], "tooluse_1");
  EXPECT_EQ(c["content"][2]["input"], json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(c["usage"]["input_tokens"], 2000);

  std::string openai;
  ASSERT_EQ(aiclient::protocol::encode_response(wire_protocol::openai, resp, openai), "");
  const json o = json::parse(openai);
  EXPECT_EQ(o["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(o["choices"][0]["message"]["content"], "I will look.");
  const json& call = o["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Paris"})"));

  std::string gemini;
  ASSERT_EQ(aiclient::protocol::encode_response(wire_protocol::gemini, resp, gemini), "");
  const json g = json::parse(gemini);
  bool found = false;
  for (const json& p : g["candidates"][0]["content"]["parts"]) {
    if (p.contains("functionCall")) {
      found = true;
      EXPECT_EQ(p["functionCall"]["name"], "get_weather");
      EXPECT_EQ(p["functionCall"]["args"]["city"], "Paris");
    }
  }
  EXPECT_TRUE(found) << gemini;
}

TEST(kiro_aggregate, reports_exceptions_and_broken_streams) {
  canonical_response resp;
  kiro::decode_error e = kiro::aggregate_response(
      text_event("a") + kiro::encode_exception("ThrottlingException", R"({"message":"Too many"})"),
      {}, resp);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status, 429);
  EXPECT_EQ(e.type, "ThrottlingException");
  EXPECT_NE(e.message.find("Too many"), std::string::npos);

  e = kiro::aggregate_response(text_event("a").substr(0, 30), {}, resp);
  EXPECT_EQ(e.status, 502);
  EXPECT_NE(e.message.find("truncated"), std::string::npos) << e.message;

  e = kiro::aggregate_response(
      text_event("a") + kiro::encode_exception("ContentLengthExceededException", "{}"), {}, resp);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(resp.stop, stop_reason::max_tokens);

  // An empty body is an empty answer, not an error.
  e = kiro::aggregate_response("", {}, resp);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(resp.parts.empty());
  EXPECT_EQ(resp.stop, stop_reason::end_turn);
}

}  // namespace
