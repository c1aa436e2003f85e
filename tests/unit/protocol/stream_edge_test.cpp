// Stream converter behaviour beyond the fixtures: incremental output, options, broken or
// hostile upstream bytes.
#include <gtest/gtest.h>

#include "stream_test_support.hpp"

namespace {

using namespace stream_test;

const wire_protocol all[] = {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini};

std::string upstream_fixture(wire_protocol p, const std::string& name) {
  return fixture(std::string(aiclient::protocol::to_string(p)) + "_" + name + ".sse");
}

// Splits a fixture into its events (each with its closing blank line).
std::vector<std::string> events_of(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find("\n\n", pos);
    end = end == std::string::npos ? text.size() : end + 2;
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

// Each upstream event is converted as soon as it is complete: after every event, the client
// has received exactly the text and thinking the upstream has sent so far.
TEST(stream_incremental, every_upstream_event_is_converted_at_once) {
  for (const wire_protocol from : all) {
    for (const std::string& name :
         {std::string("text"),
          std::string(from == wire_protocol::openai ? "reasoning" : "thinking")}) {
      const std::string text = upstream_fixture(from, name);
      for (const wire_protocol to : all) {
        if (to == from) continue;
        SCOPED_TRACE(std::string(aiclient::protocol::to_string(from)) + "_" + name + " -> " +
                     std::string(aiclient::protocol::to_string(to)));
        auto conv = stream_converter::make(from, to, {});
        std::string sent, out;
        for (const std::string& event : events_of(text)) {
          sent += event;
          conv->feed(event, out);
          const message_view up = read_stream(from, sent);
          const message_view client = read_stream(to, out);
          EXPECT_EQ(client.text, up.text);
          EXPECT_EQ(client.thinking, up.thinking);
        }
      }
    }
  }
}

// Without alt=sse, Gemini clients get one JSON array: "[" goes out with the first chunk, then
// ",\r\n" before each chunk, and "]" at the end; the elements are the alt=sse chunks.
TEST(stream_gemini_array, is_streamed_incrementally_and_holds_the_sse_chunks) {
  for (const wire_protocol from : {wire_protocol::openai, wire_protocol::claude}) {
    const std::string upstream = upstream_fixture(from, "tool");
    stream_options opts;
    opts.gemini_sse = false;
    auto conv = stream_converter::make(from, wire_protocol::gemini, opts);
    std::string out;
    std::size_t fed = 0;
    for (const std::string& event : events_of(upstream)) {
      conv->feed(event, out);
      ++fed;
      if (!out.empty()) break;
    }
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front(), '[');
    EXPECT_EQ(out.find(",\r\n"), std::string::npos);  // only the first chunk so far
    EXPECT_EQ(out.back(), '}');
    const run_result array = run(from, wire_protocol::gemini, opts, upstream);
    EXPECT_EQ(array.out.front(), '[');
    EXPECT_EQ(array.out.back(), ']');
    EXPECT_NE(array.out.find("},\r\n{"), std::string::npos);
    opts.gemini_sse = true;
    const run_result sse = run(from, wire_protocol::gemini, opts, upstream);
    std::vector<json> sse_chunks = gemini_chunks(mask_volatile(sse.out), true);
    std::vector<json> array_chunks = gemini_chunks(mask_volatile(array.out), false);
    EXPECT_EQ(array_chunks, sse_chunks);
    const message_view v = read_gemini(array.out, false);
    EXPECT_TRUE(v.problems.empty());
    EXPECT_TRUE(v.terminated);
  }
}

TEST(stream_options_test, client_model_name_replaces_the_upstream_one) {
  stream_options opts;
  opts.model = "my-alias";
  for (const wire_protocol from : all) {
    for (const wire_protocol to : all) {
      if (to == from) continue;
      const run_result r = run(from, to, opts, upstream_fixture(from, "text"));
      EXPECT_EQ(read_stream(to, r.out).model, "my-alias") << r.out;
      EXPECT_EQ(r.out.find("\"model\":\"gpt"), std::string::npos);
    }
  }
}

TEST(stream_options_test, openai_usage_chunk_only_when_asked) {
  stream_options opts;
  opts.include_usage = false;
  const run_result r =
      run(wire_protocol::claude, wire_protocol::openai, opts, fixture("claude_thinking.sse"));
  EXPECT_EQ(r.out.find("\"usage\""), std::string::npos);
  const auto events = parse_sse(r.out);
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_EQ(parse_json(events[events.size() - 2].data)["choices"][0]["finish_reason"], "stop");

  opts.include_usage = true;
  const run_result u =
      run(wire_protocol::claude, wire_protocol::openai, opts, fixture("claude_thinking.sse"));
  const auto with_usage = parse_sse(u.out);
  const json usage_chunk = parse_json(with_usage[with_usage.size() - 2].data);
  EXPECT_EQ(usage_chunk["choices"], json::array());
  // Anthropic input 472 + cache read 2048 + cache write 128 = all prompt tokens.
  EXPECT_EQ(usage_chunk["usage"], json::parse(R"({"prompt_tokens":2648,"completion_tokens":214,
      "total_tokens":2862,"prompt_tokens_details":{"cached_tokens":2048}})"));
}

TEST(stream_empty, an_upstream_that_sends_nothing_still_gets_a_closed_stream) {
  const run_result o = run(wire_protocol::claude, wire_protocol::openai, {}, "");
  const message_view ov = read_openai(o.out);
  EXPECT_TRUE(ov.problems.empty()) << o.out;
  EXPECT_TRUE(ov.terminated);
  EXPECT_FALSE(o.complete);

  const run_result c = run(wire_protocol::openai, wire_protocol::claude, {}, "");
  const message_view cv = read_claude(c.out);
  EXPECT_TRUE(cv.problems.empty()) << c.out;
  EXPECT_EQ(cv.event_types,
            (std::vector<std::string>{"message_start", "message_delta", "message_stop"}));

  stream_options opts;
  opts.gemini_sse = false;
  const run_result g = run(wire_protocol::openai, wire_protocol::gemini, opts, "");
  const message_view gv = read_gemini(g.out, false);
  EXPECT_TRUE(gv.problems.empty()) << g.out;
  EXPECT_EQ(gv.stop, "end_turn");
}

TEST(stream_broken_upstream, an_oversized_event_fails_the_stream) {
  stream_options opts;
  opts.max_event_bytes = 256;
  std::string upstream = fixture("openai_text.sse").substr(0, 400);  // a few small events
  upstream = upstream.substr(0, upstream.rfind("\n\n") + 2);
  upstream += "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" +
              std::string(1000, 'x') + "\"}}]}\n\n";
  for (const wire_protocol to : {wire_protocol::claude, wire_protocol::gemini}) {
    const run_result r = run(wire_protocol::openai, to, opts, upstream, {split::random, 3});
    EXPECT_TRUE(r.failed);
    const message_view v = read_stream(to, r.out);
    EXPECT_TRUE(v.error) << r.out;
    EXPECT_NE(v.error_body.dump().find("maximum event size"), std::string::npos);
  }
}

TEST(stream_broken_upstream, malformed_event_json_fails_the_stream) {
  const std::string upstream = events_of(fixture("claude_text.sse"))[0] +
                               "event: content_block_start\ndata: {\"type\":\"content_blo\n\n";
  const run_result r = run(wire_protocol::claude, wire_protocol::openai, {}, upstream);
  EXPECT_TRUE(r.failed);
  const auto events = parse_sse(r.out);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().data, "[DONE]");
  EXPECT_NE(events[events.size() - 2].data.find("malformed upstream stream event"),
            std::string::npos);
}

// Mutated fixtures (bytes flipped, dropped, duplicated) never crash or throw, and the client
// stream always ends with its protocol's terminator.
TEST(stream_broken_upstream, mutated_streams_never_crash_and_always_terminate) {
  const std::vector<std::string> names = {"text", "tool", "parallel_tools", "error", "cut"};
  std::mt19937 rng(42);
  for (const wire_protocol from : all) {
    for (const std::string& name : names) {
      const std::string original = upstream_fixture(from, name);
      for (int round = 0; round < 40; ++round) {
        std::string s = original;
        const int edits = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < edits && !s.empty(); ++k) {
          const std::size_t at = rng() % s.size();
          switch (rng() % 4) {
            case 0:
              s[at] = static_cast<char>(rng() % 256);
              break;
            case 1:
              s.erase(at, 1 + rng() % 16);
              break;
            case 2:
              s.insert(at, s.substr(at, 1 + rng() % 64));
              break;
            default:
              s.insert(at, std::string(1, "{}[]\",:\\\n"[rng() % 9]));
          }
        }
        for (const wire_protocol to : all) {
          if (to == from) continue;
          stream_options opts;
          opts.gemini_sse = (round % 2) == 0;
          run_result r;
          EXPECT_NO_THROW(
              r = run(from, to, opts, s, {split::random, static_cast<unsigned>(round)}));
          if (to == wire_protocol::openai) {
            const auto events = parse_sse(r.out);
            ASSERT_FALSE(events.empty());
            EXPECT_EQ(events.back().data, "[DONE]");
          } else if (to == wire_protocol::claude) {
            const message_view v = read_claude(r.out);
            EXPECT_TRUE(v.terminated || v.error) << r.out;
            EXPECT_TRUE(v.problems.empty()) << v.problems.front() << "\n" << r.out;
          } else if (!opts.gemini_sse) {
            EXPECT_TRUE(json::parse(r.out, nullptr, false).is_array()) << r.out;
          }
        }
      }
    }
  }
}

// OpenAI-compatible servers differ: `reasoning` instead of `reasoning_content`, tool calls
// without `index`, whole calls in one chunk, finish_reason "stop" after tool calls, no [DONE].
TEST(stream_compat, openai_compatible_variants_are_understood) {
  const std::string upstream =
      R"(data: {"id":"x","model":"qwen3","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"think"}}]})"
      "\n\n"
      R"(data: {"id":"x","model":"qwen3","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"a","arguments":"{\"k\":1}"}},{"id":"c2","type":"function","function":{"name":"b","arguments":"{}"}}]}}]})"
      "\n\n"
      R"(data: {"id":"x","model":"qwen3","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})"
      "\n\n";
  const run_result r = run(wire_protocol::openai, wire_protocol::claude, {}, upstream);
  EXPECT_TRUE(r.complete);
  const message_view v = read_claude(r.out);
  EXPECT_TRUE(v.problems.empty()) << r.out;
  EXPECT_EQ(v.thinking, "think");
  ASSERT_EQ(v.tools.size(), 2u);
  EXPECT_EQ(v.tools[0].id, "c1");
  EXPECT_EQ(json::parse(v.tools[0].arguments), json::parse(R"({"k":1})"));
  EXPECT_EQ(v.tools[1].id, "c2");
  EXPECT_EQ(v.stop, "tool_use");  // tool calls were made: Claude Code must run them
  EXPECT_EQ(v.input, 3);
  EXPECT_EQ(v.output, 4);
}

TEST(stream_compat, gemini_blocked_prompt_is_a_content_filter_stop) {
  const std::string upstream =
      R"(data: {"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"r"})"
      "\n\n";
  const message_view c =
      read_claude(run(wire_protocol::gemini, wire_protocol::claude, {}, upstream).out);
  EXPECT_EQ(c.stop, "refusal");
  const run_result o = run(wire_protocol::gemini, wire_protocol::openai, {}, upstream);
  EXPECT_NE(o.out.find(R"("finish_reason":"content_filter")"), std::string::npos) << o.out;
}

}  // namespace
