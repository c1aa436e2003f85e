// Encoders driven with canonical events directly (as a provider without an SSE upstream, such
// as Kiro's event-stream, drives them): block ordering for Anthropic clients, tool call
// positions for OpenAI clients, whole function calls for Gemini clients.
#include <gtest/gtest.h>

#include "aiclient/protocol/stream_events.hpp"
#include "stream_test_support.hpp"

namespace {

using namespace stream_test;
using aiclient::protocol::block_type;
using aiclient::protocol::delta_type;
using aiclient::protocol::stop_reason;
using aiclient::protocol::stream_encoder;
using aiclient::protocol::stream_event;
using aiclient::protocol::stream_event_type;

// Builds canonical events and feeds them to an encoder.
class driver {
 public:
  explicit driver(wire_protocol to, stream_options opts = {})
      : enc_(stream_encoder::make(to, opts)) {}

  driver& start(std::string_view id = "msg_1", std::string_view model = "m") {
    stream_event e;
    e.type = stream_event_type::message_start;
    e.id = id;
    e.name = model;
    e.tokens.input_tokens = 10;
    e.tokens.has_input = true;
    return send(e);
  }
  driver& block(std::uint32_t index, block_type type, std::string_view id = {},
                std::string_view name = {}) {
    stream_event e;
    e.type = stream_event_type::block_start;
    e.index = index;
    e.block = type;
    e.id = id;
    e.name = name;
    return send(e);
  }
  driver& delta(std::uint32_t index, delta_type type, std::string_view text) {
    stream_event e;
    e.type = stream_event_type::block_delta;
    e.index = index;
    e.delta = type;
    e.text = text;
    return send(e);
  }
  driver& json(std::uint32_t index, std::string_view piece) {
    return delta(index, delta_type::partial_json, piece);
  }
  driver& stop(std::uint32_t index) {
    stream_event e;
    e.type = stream_event_type::block_stop;
    e.index = index;
    return send(e);
  }
  driver& end(stop_reason r = stop_reason::tool_use) {
    stream_event e;
    e.type = stream_event_type::message_delta;
    e.stop = r;
    e.tokens.input_tokens = 10;
    e.tokens.output_tokens = 5;
    e.tokens.has_input = e.tokens.has_output = true;
    send(e);
    e = stream_event{};
    e.type = stream_event_type::message_stop;
    return send(e);
  }
  driver& send(const stream_event& e) {
    marks_.push_back(out_.size());
    enc_->encode(e, out_);
    return *this;
  }
  /// Output produced by the n-th event sent.
  std::string produced_by(std::size_t n) const {
    const std::size_t end = n + 1 < marks_.size() ? marks_[n + 1] : out_.size();
    return out_.substr(marks_[n], end - marks_[n]);
  }
  const std::string& out() const { return out_; }
  stream_encoder& encoder() { return *enc_; }

 private:
  std::unique_ptr<stream_encoder> enc_;
  std::string out_;
  std::vector<std::size_t> marks_;
};

// Two tool calls whose argument deltas interleave and whose JSON is only complete at the end:
// the second waits (buffered) until the first is stopped, and every byte reaches its block.
TEST(stream_claude_encoder, interleaved_tool_calls_are_serialized_without_losing_bytes) {
  driver d(wire_protocol::claude);
  d.start()
      .block(0, block_type::tool_use, "call_a", "alpha")
      .block(1, block_type::tool_use, "call_b", "beta")
      .json(0, R"({"x": [1,)")
      .json(1, R"({"y": "})")
      .json(0, R"( 2)")
      .json(1, R"(ok"})")  // beta complete, but it is not on the wire: it keeps waiting
      .json(0, R"(]})")
      .stop(1)
      .stop(0)
      .end();
  const message_view v = read_claude(d.out());
  EXPECT_TRUE(v.problems.empty()) << v.problems.front() << "\n" << d.out();
  ASSERT_EQ(v.tools.size(), 2u);
  EXPECT_EQ(v.tools[0].id, "call_a");
  EXPECT_EQ(v.tools[0].arguments, R"({"x": [1, 2]})");
  EXPECT_EQ(v.tools[1].id, "call_b");
  EXPECT_EQ(v.tools[1].arguments, R"({"y": "}ok"})");
  EXPECT_EQ(v.stop, "tool_use");
  // alpha streamed live: its pieces went out as they came.
  EXPECT_NE(d.produced_by(3).find(R"(\"x\": [1,)"), std::string::npos);
  EXPECT_NE(d.produced_by(5).find(" 2"), std::string::npos);
}

// Once the wire block's JSON is complete, a waiting block takes the wire at once.
TEST(stream_claude_encoder, a_complete_tool_call_gives_the_wire_to_the_next_one) {
  driver d(wire_protocol::claude);
  d.start()
      .block(0, block_type::tool_use, "call_a", "alpha")
      .json(0, R"({"a": "{[\"]"})")  // brackets inside strings do not count
      .block(1, block_type::tool_use, "call_b", "beta")
      .json(1, R"({"b":)")
      .json(1, R"( 1})");
  EXPECT_NE(d.produced_by(3).find("content_block_stop"), std::string::npos);
  EXPECT_NE(d.produced_by(3).find(R"("id":"call_b")"), std::string::npos);
  EXPECT_NE(d.produced_by(4).find(R"(\"b\":)"), std::string::npos);
  d.json(0, "  ");  // whitespace after a complete object: nothing is lost
  d.stop(0).stop(1).end();
  const message_view v = read_claude(d.out());
  EXPECT_TRUE(v.problems.empty()) << d.out();
  ASSERT_EQ(v.tools.size(), 2u);
  EXPECT_EQ(json::parse(v.tools[0].arguments), json::parse(R"({"a": "{[\"]"})"));
  EXPECT_EQ(json::parse(v.tools[1].arguments), json::parse(R"({"b": 1})"));
}

TEST(stream_claude_encoder, open_blocks_are_flushed_in_order_at_the_end) {
  driver d(wire_protocol::claude);
  d.start()
      .block(0, block_type::tool_use, "call_a", "alpha")
      .block(1, block_type::tool_use, "call_b", "beta")
      .block(2, block_type::tool_use, "call_c", "gamma")
      .json(2, "{\"c\":3}")
      .json(1, "{\"b\":")
      .json(0, "{\"a\":")
      .json(1, "2}")
      .json(0, "1")
      .end();  // no block_stop at all: message_delta closes everything
  const message_view v = read_claude(d.out());
  EXPECT_TRUE(v.problems.empty()) << d.out();
  ASSERT_EQ(v.tools.size(), 3u);
  EXPECT_EQ(v.tools[0].arguments, "{\"a\":1");  // as sent (the upstream never closed it)
  EXPECT_EQ(v.tools[1].arguments, "{\"b\":2}");
  EXPECT_EQ(v.tools[2].arguments, "{\"c\":3}");
}

TEST(stream_claude_encoder, tolerates_missing_start_and_unknown_blocks) {
  driver d(wire_protocol::claude);
  d.delta(7, delta_type::text, "ignored: never started")
      .block(3, block_type::text)
      .delta(3, delta_type::text, "hi")
      .delta(3, delta_type::partial_json, "{}")  // wrong kind for a text block: dropped
      .stop(3)
      .stop(3)
      .end(stop_reason::end_turn);
  const message_view v = read_claude(d.out());
  EXPECT_TRUE(v.problems.empty()) << d.out();
  EXPECT_EQ(v.text, "hi");
  EXPECT_EQ(v.event_types.front(), "message_start");
  EXPECT_EQ(v.stop, "end_turn");
}

TEST(stream_claude_encoder, thinking_with_signature_and_redacted_thinking) {
  driver d(wire_protocol::claude);
  stream_event redacted;
  redacted.type = stream_event_type::block_start;
  redacted.index = 1;
  redacted.block = block_type::redacted_thinking;
  redacted.text = "EmwKAhgBEgy3va3pzix/LafPsn4a";
  d.start()
      .block(0, block_type::thinking)
      .delta(0, delta_type::thinking, "hmm")
      .delta(0, delta_type::signature, "c2ln")
      .stop(0)
      .send(redacted)
      .stop(1)
      .end(stop_reason::end_turn);
  const auto events = parse_sse(d.out());
  const message_view v = read_claude(d.out());
  EXPECT_TRUE(v.problems.empty()) << d.out();
  EXPECT_EQ(v.thinking, "hmm");
  EXPECT_EQ(v.signatures, "c2ln");
  bool found = false;
  for (const auto& e : events) {
    const json j = parse_json(e.data);
    if (j.value("type", "") == "content_block_start" && j["index"] == 1) {
      EXPECT_EQ(
          j["content_block"],
          json::parse(R"({"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4a"})"));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// OpenAI tool_calls indices count the calls of the message, not the canonical block indices.
TEST(stream_openai_encoder, tool_call_index_is_the_position_of_the_call) {
  stream_options opts;
  opts.include_usage = true;
  driver d(wire_protocol::openai, opts);
  d.start("chatcmpl-1", "gpt")
      .block(0, block_type::text)
      .delta(0, delta_type::text, "a")
      .stop(0)
      .block(1, block_type::tool_use, "call_1", "f")
      .block(2, block_type::tool_use, "call_2", "g")
      .json(2, "{\"g\":1}")
      .json(1, "{\"f\":")
      .json(1, "0}")
      .stop(1)
      .stop(2)
      .block(3, block_type::tool_use, "call_3", "h")  // no arguments at all
      .stop(3)
      .end();
  const message_view v = read_openai(d.out());
  EXPECT_TRUE(v.problems.empty()) << v.problems.front() << "\n" << d.out();
  ASSERT_EQ(v.tools.size(), 3u);
  EXPECT_EQ(v.tools[0].arguments, "{\"f\":0}");
  EXPECT_EQ(v.tools[1].arguments, "{\"g\":1}");
  EXPECT_EQ(v.tools[2].arguments, "{}");
  EXPECT_EQ(v.stop, "tool_use");
  EXPECT_EQ(v.input, 10);
  EXPECT_EQ(v.output, 5);
  EXPECT_TRUE(v.terminated);
  // Each argument piece is its own chunk, sent when it arrives.
  EXPECT_NE(
      d.produced_by(7).find(R"("tool_calls":[{"index":0,"function":{"arguments":"{\"f\":"}}])"),
      std::string::npos)
      << d.produced_by(7);
}

TEST(stream_gemini_encoder, function_call_args_are_sent_whole_and_parsed) {
  driver d(wire_protocol::gemini);
  d.start("resp", "gemini-x")
      .block(0, block_type::tool_use, "call_1", "f")
      .json(0, "{\n  \"city\": ")
      .json(0, "\"Paris\",\n  \"n\": [1, 2.5e3]\n}");
  EXPECT_EQ(d.out(), "");  // nothing until the call is complete
  d.stop(0).block(1, block_type::tool_use, "call_2", "g").json(1, "{not json").stop(1).end();
  const auto chunks = gemini_chunks(d.out(), true);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0]["candidates"][0]["content"]["parts"][0],
            json::parse(R"({"functionCall":{"id":"call_1","name":"f",
                            "args":{"city":"Paris","n":[1,2500.0]}}})"));
  // Arguments that are not a JSON object cannot be a Gemini args Struct.
  EXPECT_EQ(chunks[1]["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
            json::object());
  EXPECT_EQ(chunks[2]["candidates"][0]["finishReason"], "STOP");
  EXPECT_EQ(
      chunks[2]["usageMetadata"],
      json::parse(R"({"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15})"));
  EXPECT_EQ(chunks[2]["modelVersion"], "gemini-x");
  EXPECT_EQ(chunks[2]["responseId"], "resp");
}

}  // namespace
