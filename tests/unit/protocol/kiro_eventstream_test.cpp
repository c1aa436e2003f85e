// The AWS event-stream parser of Kiro answers: CRCs, framing, header types, incremental feeding
// and every way a stream can be broken.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "aiclient/protocol/kiro.hpp"

namespace {

namespace kiro = aiclient::protocol::kiro;

// What a message carried, copied out of the parser's buffer.
struct seen {
  std::string message_type, event_type, exception_type, content_type, payload;
  std::size_t header_count = 0;
  bool operator==(const seen&) const = default;
};

struct parse_result {
  std::vector<seen> messages;
  bool failed = false;
  std::string error;
};

void take(kiro::eventstream_parser& p, parse_result& r) {
  kiro::eventstream_message m;
  while (p.next(m)) {
    r.messages.push_back({std::string(m.message_type), std::string(m.event_type),
                          std::string(m.exception_type), std::string(m.content_type),
                          std::string(m.payload), m.header_count});
  }
}

enum class split { whole, bytes, random };

parse_result parse(std::string_view bytes, split how = split::whole, unsigned seed = 0,
                   std::size_t max = kiro::eventstream_parser::default_max_message_bytes) {
  kiro::eventstream_parser p(max);
  parse_result r;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> piece(1, 40);
  for (std::size_t pos = 0; pos < bytes.size();) {
    std::size_t n = bytes.size() - pos;
    if (how == split::bytes) n = 1;
    if (how == split::random) n = std::min(n, piece(rng));
    p.append(bytes.substr(pos, n));
    take(p, r);
    pos += n;
  }
  p.finish();
  r.failed = p.failed();
  r.error = p.error();
  return r;
}

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
  s[at] = static_cast<char>(v >> 24);
  s[at + 1] = static_cast<char>(v >> 16);
  s[at + 2] = static_cast<char>(v >> 8);
  s[at + 3] = static_cast<char>(v);
}

// A message from raw header bytes, with correct lengths and CRCs (for hand-made headers).
std::string raw_message(std::string_view headers, std::string_view payload) {
  std::string m(12, '\0');
  m += headers;
  m += payload;
  m += std::string(4, '\0');
  put_u32(m, 0, static_cast<std::uint32_t>(m.size()));
  put_u32(m, 4, static_cast<std::uint32_t>(headers.size()));
  put_u32(m, 8, kiro::crc32(std::string_view(m).substr(0, 8)));
  put_u32(m, m.size() - 4, kiro::crc32(std::string_view(m).substr(0, m.size() - 4)));
  return m;
}

// Recomputes both CRCs of a message whose bytes were edited.
void fix_crcs(std::string& m) {
  put_u32(m, 8, kiro::crc32(std::string_view(m).substr(0, 8)));
  put_u32(m, m.size() - 4, kiro::crc32(std::string_view(m).substr(0, m.size() - 4)));
}

std::string header(std::string_view name, unsigned type, std::string_view value_bytes) {
  std::string h;
  h += static_cast<char>(name.size());
  h += name;
  h += static_cast<char>(type);
  h += value_bytes;
  return h;
}

std::string string_header(std::string_view name, std::string_view value) {
  std::string v;
  v += static_cast<char>(value.size() >> 8);
  v += static_cast<char>(value.size() & 0xff);
  v += value;
  return header(name, 7, v);
}

std::string sample_stream() {
  return kiro::encode_event("assistantResponseEvent", R"({"content":"Hello"})") +
         kiro::encode_event("toolUseEvent",
                            R"({"name":"ls","toolUseId":"t1","input":"{\"d\":","stop":false})") +
         kiro::encode_event("assistantResponseEvent", R"({"content":" world \u00e9\u4e2d"})") +
         kiro::encode_exception("ThrottlingException", R"({"message":"slow down"})") +
         kiro::encode_event("contextUsageEvent", R"({"contextUsagePercentage":12.5})");
}

TEST(kiro_crc32, matches_the_ieee_check_value_and_continues) {
  EXPECT_EQ(kiro::crc32(""), 0u);
  EXPECT_EQ(kiro::crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(kiro::crc32("6789", kiro::crc32("12345")), 0xCBF43926u);
  EXPECT_EQ(kiro::crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

// The AWS reference vector of an empty message (no headers, no payload): 16 bytes.
TEST(kiro_eventstream, encodes_and_parses_the_reference_empty_message) {
  const std::string empty = kiro::encode_message({}, "");
  const std::string expected("\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff",
                             16);
  EXPECT_EQ(empty, expected);
  const parse_result r = parse(empty);
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].payload, "");
  EXPECT_EQ(r.messages[0].header_count, 0u);
}

TEST(kiro_eventstream, yields_headers_and_payloads_of_every_message) {
  const parse_result r = parse(sample_stream());
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.messages.size(), 5u);
  EXPECT_EQ(r.messages[0].message_type, "event");
  EXPECT_EQ(r.messages[0].event_type, "assistantResponseEvent");
  EXPECT_EQ(r.messages[0].content_type, "application/json");
  EXPECT_EQ(r.messages[0].payload, R"({"content":"Hello"})");
  EXPECT_EQ(r.messages[0].header_count, 3u);
  EXPECT_EQ(r.messages[1].event_type, "toolUseEvent");
  EXPECT_EQ(r.messages[3].message_type, "exception");
  EXPECT_EQ(r.messages[3].exception_type, "ThrottlingException");
  EXPECT_EQ(r.messages[3].payload, R"({"message":"slow down"})");
  EXPECT_EQ(r.messages[4].event_type, "contextUsageEvent");
}

TEST(kiro_eventstream, any_split_gives_the_same_messages) {
  const std::string bytes = sample_stream();
  const parse_result whole = parse(bytes);
  EXPECT_EQ(parse(bytes, split::bytes).messages, whole.messages);
  for (unsigned seed = 1; seed <= 50; ++seed) {
    const parse_result r = parse(bytes, split::random, seed);
    EXPECT_FALSE(r.failed) << r.error;
    EXPECT_EQ(r.messages, whole.messages) << "seed " << seed;
  }
}

// Values of types 0..9 are skipped by their size; only strings are kept.
TEST(kiro_eventstream, skips_header_values_of_every_type) {
  std::string h;
  h += header("t", 0, "");
  h += header("f", 1, "");
  h += header("byte", 2, "\x7f");
  h += header("short", 3, std::string("\x01\x02", 2));
  h += header("int", 4, std::string("\x00\x00\x00\x2a", 4));
  h += header("long", 5, std::string(8, '\x01'));
  h += header("bytes", 6,
              std::string("\x00\x03"
                          "abc",
                          5));
  h += header("time", 8, std::string(8, '\x02'));
  h += header("uuid", 9, std::string(16, '\x03'));
  h += string_header(":event-type", "assistantResponseEvent");
  h += string_header(":message-type", "event");
  h += string_header("x-custom", std::string(300, 'v'));  // a long value (u16 length > 255)
  const std::string m = raw_message(h, R"({"content":"x"})");
  const parse_result r = parse(m + m, split::bytes);
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].header_count, 12u);
  EXPECT_EQ(r.messages[0].event_type, "assistantResponseEvent");
  EXPECT_EQ(r.messages[0].message_type, "event");
  EXPECT_EQ(r.messages[0].payload, R"({"content":"x"})");
}

TEST(kiro_eventstream, unknown_header_type_fails) {
  const std::string m =
      raw_message(header("odd", 10, "") + string_header(":event-type", "x"), "{}");
  const parse_result r = parse(m);
  EXPECT_TRUE(r.failed);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_NE(r.error.find("unknown value type 10"), std::string::npos) << r.error;
}

TEST(kiro_eventstream, header_overrunning_its_section_fails) {
  // A string header claiming 200 bytes in a 20-byte headers section (CRCs correct).
  std::string h = string_header(":event-type", "abc");
  h[h.size() - 5] = '\0';
  h[h.size() - 4] = static_cast<char>(200);
  const parse_result r = parse(raw_message(h, "{}"));
  EXPECT_TRUE(r.failed);
  EXPECT_NE(r.error.find("overruns the headers section"), std::string::npos) << r.error;
  // The name length running past the section.
  const parse_result r2 = parse(raw_message(std::string("\x30"
                                                        "abc",
                                                        4),
                                            "{}"));
  EXPECT_TRUE(r2.failed);
  EXPECT_NE(r2.error.find("overruns"), std::string::npos) << r2.error;
  // An empty header name.
  const parse_result r3 = parse(raw_message(std::string("\x00\x00", 2), "{}"));
  EXPECT_TRUE(r3.failed);
  EXPECT_NE(r3.error.find("empty name"), std::string::npos) << r3.error;
}

TEST(kiro_eventstream, headers_length_beyond_the_message_fails) {
  std::string m = kiro::encode_event("assistantResponseEvent", R"({"content":"x"})");
  put_u32(m, 4, static_cast<std::uint32_t>(m.size()));  // headers longer than the message
  fix_crcs(m);
  const parse_result r = parse(m);
  EXPECT_TRUE(r.failed);
  EXPECT_NE(r.error.find("headers length"), std::string::npos) << r.error;
}

TEST(kiro_eventstream, corrupt_prelude_crc_fails_as_soon_as_the_prelude_is_in) {
  const std::string good = kiro::encode_event("assistantResponseEvent", R"({"content":"ok"})");
  std::string bad = kiro::encode_event("assistantResponseEvent", R"({"content":"no"})");
  bad[9] ^= 0x01;
  kiro::eventstream_parser p;
  p.append(good);
  p.append(bad.substr(0, 12));  // only the prelude of the bad message
  parse_result r;
  take(p, r);
  ASSERT_EQ(r.messages.size(), 1u);  // the good message came out first
  EXPECT_EQ(r.messages[0].payload, R"({"content":"ok"})");
  EXPECT_TRUE(p.failed());
  EXPECT_NE(p.error().find("prelude CRC mismatch"), std::string::npos) << p.error();
  // Nothing comes out afterwards, whatever is appended.
  p.append(bad.substr(12));
  p.append(good);
  kiro::eventstream_message m;
  EXPECT_FALSE(p.next(m));
  EXPECT_FALSE(p.finish());
}

TEST(kiro_eventstream, corrupt_message_crc_or_payload_fails) {
  const std::string good = kiro::encode_event("assistantResponseEvent", R"({"content":"ok"})");
  std::string bad_payload = good;
  bad_payload[bad_payload.size() - 8] ^= 0x20;  // a payload byte
  std::string bad_crc = good;
  bad_crc.back() ^= 0x01;
  for (const std::string& bad : {bad_payload, bad_crc}) {
    for (const split how : {split::whole, split::bytes}) {
      const parse_result r = parse(good + bad + good, how);
      EXPECT_TRUE(r.failed);
      EXPECT_EQ(r.messages.size(), 1u);
      EXPECT_NE(r.error.find("message CRC mismatch (message 1"), std::string::npos) << r.error;
    }
  }
}

TEST(kiro_eventstream, truncated_message_at_the_end_fails_on_finish) {
  const std::string stream = sample_stream();
  for (const std::size_t cut : {std::size_t{3}, std::size_t{12}, stream.size() - 1}) {
    kiro::eventstream_parser p;
    p.append(std::string_view(stream).substr(0, cut));
    parse_result r;
    take(p, r);
    EXPECT_FALSE(p.failed());  // it may still come
    EXPECT_GT(p.buffered(), 0u);
    EXPECT_FALSE(p.finish());
    EXPECT_TRUE(p.failed());
    EXPECT_NE(p.error().find("truncated"), std::string::npos) << p.error();
  }
  kiro::eventstream_parser p;
  p.append(stream);
  parse_result r;
  take(p, r);
  EXPECT_EQ(p.buffered(), 0u);
  EXPECT_TRUE(p.finish());
  EXPECT_EQ(p.messages(), 5u);
}

TEST(kiro_eventstream, oversized_and_undersized_lengths_fail_early) {
  // A prelude announcing 17 MiB: rejected from its 12 bytes, without waiting for the body.
  std::string prelude(12, '\0');
  put_u32(prelude, 0, 17u << 20);
  put_u32(prelude, 4, 0);
  put_u32(prelude, 8, kiro::crc32(std::string_view(prelude).substr(0, 8)));
  kiro::eventstream_parser p;
  p.append(prelude);
  kiro::eventstream_message m;
  EXPECT_FALSE(p.next(m));
  EXPECT_TRUE(p.failed());
  EXPECT_NE(p.error().find("exceeds the maximum of 16777216"), std::string::npos) << p.error();

  // The maximum is configurable.
  const std::string big = kiro::encode_event("assistantResponseEvent",
                                             "{\"content\":\"" + std::string(2000, 'a') + "\"}");
  EXPECT_FALSE(parse(big).failed);
  const parse_result small = parse(big, split::whole, 0, 1024);
  EXPECT_TRUE(small.failed);
  EXPECT_NE(small.error.find("exceeds the maximum of 1024"), std::string::npos) << small.error;

  // Below the 16-byte minimum.
  std::string tiny(12, '\0');
  put_u32(tiny, 0, 15);
  put_u32(tiny, 8, kiro::crc32(std::string_view(tiny).substr(0, 8)));
  const parse_result r = parse(tiny + std::string(8, '\0'));
  EXPECT_TRUE(r.failed);
  EXPECT_NE(r.error.find("below the minimum"), std::string::npos) << r.error;
}

TEST(kiro_eventstream, large_message_fed_in_pieces) {
  const std::string payload = "{\"content\":\"" + std::string(3 << 20, 'z') + "\"}";
  const std::string m = kiro::encode_event("assistantResponseEvent", payload);
  kiro::eventstream_parser p;
  parse_result r;
  for (std::size_t pos = 0; pos < m.size(); pos += 65536) {
    p.append(std::string_view(m).substr(pos, 65536));
    take(p, r);
  }
  ASSERT_FALSE(p.failed()) << p.error();
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].payload.size(), payload.size());
  EXPECT_TRUE(p.finish());
}

}  // namespace
