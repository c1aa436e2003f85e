#include "aiclient/protocol/sse.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "support/test_paths.hpp"

namespace {

using aiclient::protocol::sse_event;
using aiclient::protocol::sse_framer;
using aiclient::protocol::sse_parser;
using json = nlohmann::json;

std::string read_fixture(const std::string& name) {
  return aiclient::testing::read_fixture("protocol/" + name);
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos);
  return out;
}

// Reference split of an LF-only stream into events, each with its closing blank line.
std::vector<std::string> split_lf(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t hit; (hit = text.find("\n\n", start)) != std::string::npos; start = hit + 2) {
    out.push_back(text.substr(start, hit + 2 - start));
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

// Cuts `text` into pieces: sizes drawn from [1, max_piece] with a fixed seed.
std::vector<std::string_view> random_pieces(std::string_view text, unsigned seed,
                                            std::size_t max_piece) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, max_piece);
  std::vector<std::string_view> pieces;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = std::min(size(rng), text.size() - pos);
    pieces.push_back(text.substr(pos, n));
    pos += n;
  }
  return pieces;
}

std::vector<std::string_view> byte_pieces(std::string_view text) {
  return random_pieces(text, 0, 1);
}

// Feeds the pieces to a framer, taking complete events after each piece.
std::vector<std::string> frame(const std::vector<std::string_view>& pieces) {
  sse_framer framer;
  std::vector<std::string> chunks;
  for (const auto piece : pieces) {
    framer.feed(piece);
    const std::string_view chunk = framer.take_complete();
    if (!chunk.empty()) chunks.emplace_back(chunk);
  }
  const std::string_view rest = framer.take_all();
  if (!rest.empty()) chunks.emplace_back(rest);
  EXPECT_EQ(framer.pending_size(), 0u);
  return chunks;
}

std::string concat(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

// ---------------------------------------------------------------------------------------------
// sse_framer

class FramerFixtures : public testing::TestWithParam<const char*> {};

TEST_P(FramerFixtures, SameEventsWholeByteByByteAndInRandomSplits) {
  const std::string text = read_fixture(GetParam());
  const std::vector<std::string> events = split_lf(text);
  ASSERT_GT(events.size(), 10u);

  // Whole: one chunk with every event (the stream ends with a blank line).
  const auto whole = frame({text});
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0], text);

  // Byte by byte: exactly one event per chunk.
  EXPECT_EQ(frame(byte_pieces(text)), events);

  // Random splits: chunks end on event boundaries and hold the same events.
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const auto chunks = frame(random_pieces(text, seed, 1 + seed * 13));
    EXPECT_EQ(concat(chunks), text);
    std::vector<std::string> got;
    for (const auto& chunk : chunks) {
      EXPECT_TRUE(chunk.ends_with("\n\n")) << "seed " << seed;
      for (auto& e : split_lf(chunk)) got.push_back(std::move(e));
    }
    EXPECT_EQ(got, events) << "seed " << seed;
  }
}

TEST_P(FramerFixtures, CrLfAndCrLineEndsFrameTheSameEvents) {
  const std::string text = read_fixture(GetParam());
  const std::vector<std::string> events = split_lf(text);

  std::vector<std::string> crlf_events;
  for (const auto& e : events) crlf_events.push_back(replace_all(e, "\n", "\r\n"));
  const std::string crlf = concat(crlf_events);
  EXPECT_EQ(frame(byte_pieces(crlf)), crlf_events);
  EXPECT_EQ(concat(frame(random_pieces(crlf, 7, 50))), crlf);

  // With bare "\r", the final blank line is only confirmed by the next byte or by take_all().
  std::vector<std::string> cr_events;
  for (const auto& e : events) cr_events.push_back(replace_all(e, "\n", "\r"));
  const std::string cr = concat(cr_events);
  EXPECT_EQ(frame(byte_pieces(cr)), cr_events);
}

INSTANTIATE_TEST_SUITE_P(Streams, FramerFixtures,
                         testing::Values("openai_chat_stream.sse",
                                         "anthropic_messages_stream.sse"));

TEST(SseFramer, KeepsIncompleteEventPending) {
  sse_framer f;
  f.feed("event: ping\ndata: {}\n\nevent: message_st");
  EXPECT_EQ(f.take_complete(), "event: ping\ndata: {}\n\n");
  EXPECT_EQ(f.pending(), "event: message_st");
  EXPECT_EQ(f.pending_size(), 17u);
  EXPECT_EQ(f.take_complete(), "");  // nothing new is complete
  f.feed("art\ndata: {\"a\":1}\n");
  EXPECT_EQ(f.take_complete(), "");
  f.feed("\n");
  EXPECT_EQ(f.take_complete(), "event: message_start\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(f.pending_size(), 0u);
  EXPECT_EQ(f.take_all(), "");
}

TEST(SseFramer, RecognisesEveryBlankLineForm) {
  for (const std::string sep : {"\n\n", "\r\n\r\n", "\r\n\n", "\n\r\n", "\r\r\n"}) {
    SCOPED_TRACE(testing::PrintToString(sep));
    sse_framer f;
    f.feed("data: a" + sep + "data: b");
    EXPECT_EQ(f.take_complete(), "data: a" + sep);
    EXPECT_EQ(f.pending(), "data: b");
  }
}

TEST(SseFramer, LoneCarriageReturnWaitsForTheNextByte) {
  sse_framer f;
  f.feed("data: a\r\r");
  EXPECT_EQ(f.take_complete(), "");  // could still become "\r\r\n"
  EXPECT_EQ(f.pending(), "data: a\r\r");
  f.feed("\n");
  EXPECT_EQ(f.take_complete(), "data: a\r\r\n");

  f.feed("data: b\r\r");
  EXPECT_EQ(f.take_complete(), "");
  f.feed("d");
  EXPECT_EQ(f.take_complete(), "data: b\r\r");
  EXPECT_EQ(f.pending(), "d");
  f.feed("ata: c\r\r");
  EXPECT_EQ(f.take_all(), "data: c\r\r");  // clean end of stream
}

TEST(SseFramer, TakeAllFlushesAnUnterminatedTail) {
  sse_framer f;
  f.feed("data: [DONE]\n");
  EXPECT_EQ(f.take_complete(), "");
  EXPECT_EQ(f.take_all(), "data: [DONE]\n");
  EXPECT_EQ(f.pending_size(), 0u);
  // The framer starts over cleanly afterwards.
  f.feed("\ndata: x\n\n");
  EXPECT_EQ(f.take_complete(), "\ndata: x\n\n");
}

TEST(SseFramer, ResetDropsEverything) {
  sse_framer f;
  f.feed("data: a\n\ndata: b");
  f.reset();
  EXPECT_EQ(f.pending_size(), 0u);
  f.feed("data: c\n\n");
  EXPECT_EQ(f.take_complete(), "data: c\n\n");
}

TEST(SseFramer, HugeEventFedByteByByteIsLinear) {
  const std::string event = "data: " + std::string(1 << 20, 'x') + "\n\n";
  sse_framer f;
  std::size_t emitted = 0;
  for (const char c : event) {
    f.feed(std::string_view(&c, 1));
    emitted += f.take_complete().size();
  }
  EXPECT_EQ(emitted, event.size());
}

// ---------------------------------------------------------------------------------------------
// sse_parser

using event_tuple = std::tuple<std::string, std::string, std::optional<std::string>>;

std::vector<event_tuple> parse(const std::vector<std::string_view>& pieces) {
  sse_parser parser;
  std::vector<event_tuple> events;
  const auto keep = [&](const sse_event& e) { events.emplace_back(e.event, e.data, e.id); };
  for (const auto piece : pieces) EXPECT_TRUE(parser.feed(piece, keep));
  EXPECT_TRUE(parser.finish(keep));
  return events;
}

TEST(SseParser, OpenAiStream) {
  const std::string text = read_fixture("openai_chat_stream.sse");
  const auto events = parse({text});
  ASSERT_EQ(events.size(), 11u);  // the leading comment is not an event
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const auto& [name, data, id] = events[i];
    EXPECT_EQ(name, "");
    EXPECT_FALSE(id);
    const json chunk = json::parse(data);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
  }
  EXPECT_EQ(json::parse(std::get<1>(events[2]))["choices"][0]["delta"]["content"],
            "Paris & Z\xC3\xBCrich \xE2\x80\x94 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x8C\xA6\n\n");
  EXPECT_EQ(json::parse(std::get<1>(events[9]))["usage"]["prompt_tokens_details"]["cached_tokens"],
            128);
  EXPECT_EQ(std::get<1>(events.back()), "[DONE]");
}

TEST(SseParser, AnthropicStream) {
  const std::string text = read_fixture("anthropic_messages_stream.sse");
  const auto events = parse({text});
  ASSERT_EQ(events.size(), 16u);
  EXPECT_EQ(std::get<0>(events.front()), "message_start");
  EXPECT_EQ(std::get<0>(events.back()), "message_stop");
  for (const auto& [name, data, id] : events) {
    EXPECT_EQ(json::parse(data)["type"], name);  // Anthropic repeats the event name in the data
  }
  std::string tool_input;
  for (const auto& [name, data, id] : events) {
    const json j = json::parse(data);
    if (j["type"] == "content_block_delta" && j["delta"]["type"] == "input_json_delta") {
      tool_input += j["delta"]["partial_json"].get<std::string>();
    }
  }
  EXPECT_EQ(json::parse(tool_input)["location"], "San Francisco, CA");
}

class ParserFixtures : public testing::TestWithParam<const char*> {};

TEST_P(ParserFixtures, SameEventsWholeByteByByteAndInRandomSplits) {
  const std::string text = read_fixture(GetParam());
  const auto whole = parse({text});
  ASSERT_GT(whole.size(), 10u);
  EXPECT_EQ(parse(byte_pieces(text)), whole);
  for (unsigned seed = 1; seed <= 20; ++seed) {
    EXPECT_EQ(parse(random_pieces(text, seed, 1 + seed * 13)), whole) << "seed " << seed;
  }
  for (const std::string_view eol : {"\r\n", "\r"}) {
    const std::string other = replace_all(text, "\n", eol);
    EXPECT_EQ(parse({other}), whole);
    EXPECT_EQ(parse(byte_pieces(other)), whole);
    EXPECT_EQ(parse(random_pieces(other, 99, 40)), whole);
  }
}

INSTANTIATE_TEST_SUITE_P(Streams, ParserFixtures,
                         testing::Values("openai_chat_stream.sse",
                                         "anthropic_messages_stream.sse"));

TEST(SseParser, FieldRules) {
  const std::string text =
      "\xEF\xBB\xBF"  // BOM, skipped
      ": comment line\n"
      "event: first\n"
      "data: line one\n"
      "data:line two\n"    // no space after the colon
      "data:  indented\n"  // only one space is stripped
      "unknown: ignored\n"
      "id: 42\n"
      "retry: 1500\n"
      "\n"
      "event: no-data\n"  // no data line: not dispatched, its name is forgotten
      "\n"
      "data\n"  // field name alone: an empty data line
      "\n"
      "data: x:y:z\n"  // only the first colon separates
      "id\n"           // empty id
      "\n";
  std::vector<sse_event> events;
  sse_parser parser;
  ASSERT_TRUE(parser.feed(text, [&](const sse_event& e) { events.push_back(e); }));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "first");
  EXPECT_EQ(events[0].data, "line one\nline two\n indented");
  EXPECT_EQ(events[0].id, "42");
  EXPECT_EQ(events[0].retry, 1500u);
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].data, "");
  EXPECT_FALSE(events[1].id);
  EXPECT_FALSE(events[1].retry);
  EXPECT_EQ(events[2].data, "x:y:z");
  EXPECT_EQ(events[2].id, "");
  EXPECT_EQ(parser.last_event_id(), "");
}

TEST(SseParser, PullInterface) {
  sse_parser parser;
  parser.append("data: a\n\nda");
  ASSERT_TRUE(parser.next());
  EXPECT_EQ(parser.current().data, "a");
  EXPECT_FALSE(parser.next());
  parser.append("ta: b\n\n");
  ASSERT_TRUE(parser.next());
  EXPECT_EQ(parser.current().data, "b");
  EXPECT_FALSE(parser.next());
  EXPECT_FALSE(parser.finish_event());
}

TEST(SseParser, FinishDispatchesAnUnterminatedLastEvent) {
  std::vector<std::string> data;
  sse_parser parser;
  const auto keep = [&](const sse_event& e) { data.push_back(e.data); };
  EXPECT_TRUE(parser.feed("data: a\n\ndata: b\n\ndata: [DONE]\n", keep));
  EXPECT_EQ(data, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(parser.finish(keep));
  EXPECT_EQ(data, (std::vector<std::string>{"a", "b", "[DONE]"}));

  // Without any line terminator, and then a new stream on the same parser.
  data.clear();
  EXPECT_TRUE(parser.feed("data: tail", keep));
  EXPECT_TRUE(data.empty());
  EXPECT_TRUE(parser.finish(keep));
  EXPECT_EQ(data, (std::vector<std::string>{"tail"}));
  data.clear();
  EXPECT_TRUE(parser.feed("event: x\n\n", keep));
  EXPECT_TRUE(parser.finish(keep));
  EXPECT_TRUE(data.empty());
}

TEST(SseParser, OversizedEventIsAnError) {
  sse_parser parser(1024);
  int count = 0;
  const auto keep = [&](const sse_event&) { ++count; };
  EXPECT_TRUE(parser.feed("data: small\n\n", keep));
  EXPECT_EQ(count, 1);
  // Many lines that together exceed the limit.
  std::string big;
  for (int i = 0; i < 40; ++i) big += "data: " + std::string(40, 'x') + "\n";
  EXPECT_FALSE(parser.feed(big, keep));
  EXPECT_TRUE(parser.failed());
  EXPECT_FALSE(parser.error().empty());
  EXPECT_FALSE(parser.feed("\ndata: later\n\n", keep));  // ignored in the error state
  EXPECT_FALSE(parser.finish(keep));
  EXPECT_EQ(count, 1);

  // One endless line without terminator also trips the limit, even fed byte by byte.
  sse_parser line_parser(1024);
  bool ok = true;
  for (int i = 0; i < 2000 && ok; ++i) ok = line_parser.feed("x", keep);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(line_parser.failed());

  parser.reset();
  EXPECT_FALSE(parser.failed());
  EXPECT_TRUE(parser.feed("data: again\n\n", keep));
  EXPECT_EQ(count, 2);
}

TEST(SseParser, HugeEventFedByteByByteIsLinear) {
  const std::string payload(1 << 20, 'y');
  const std::string text = "data: " + payload + "\n\n";
  sse_parser parser;
  std::size_t size = 0;
  for (const char c : text) {
    ASSERT_TRUE(
        parser.feed(std::string_view(&c, 1), [&](const sse_event& e) { size = e.data.size(); }));
  }
  EXPECT_EQ(size, payload.size());
}

}  // namespace
