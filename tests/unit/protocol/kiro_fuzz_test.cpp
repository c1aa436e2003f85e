// The Kiro event-stream fuzz body (tests/fuzz/kiro_eventstream_fuzz.cpp) over thousands of
// generated inputs, so CI exercises it without libFuzzer: mutated valid streams (with and
// without CRC repair), frames with mangled JSON payloads and correct CRCs, and random bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#define KIRO_FUZZ_NO_ENTRY_POINT
#include "fuzz/kiro_eventstream_fuzz.cpp"

namespace {

namespace kiro = aiclient::protocol::kiro;

std::vector<std::string> seeds() {
  const auto ev = [](std::string_view type, std::string_view payload) {
    return kiro::encode_event(type, payload);
  };
  return {
      ev("assistantResponseEvent", R"({"content":"Hello"})") +
          ev("assistantResponseEvent", R"({"content":" world"})") +
          ev("meteringEvent", R"({"unit":"credit","usage":0.01})") +
          ev("contextUsageEvent", R"({"contextUsagePercentage":12.5})"),
      ev("assistantResponseEvent", R"({"content":"<thinking>hm"})") +
          ev("assistantResponseEvent", R"({"content":"m</thinking>\n\nok"})"),
      ev("toolUseEvent", R"({"name":"ls","toolUseId":"t1","input":"{\"d\":"})") +
          ev("toolUseEvent", R"({"toolUseId":"t1","input":"\".\"}"})") +
          ev("toolUseEvent", R"({"toolUseId":"t1","stop":true})") +
          ev("toolUseEvent", R"({"name":"rm","toolUseId":"t2","input":{"f":"x"},"stop":true})"),
      ev("assistantResponseEvent", R"({"content":"a"})") +
          kiro::encode_exception("ThrottlingException", R"({"message":"slow"})"),
      ev("assistantResponseEvent", R"({"content":"a"})") +
          kiro::encode_exception("ContentLengthExceededException", R"({"message":"long"})"),
      kiro::encode_message({{":message-type", "error"}, {":error-code", "X"}}, ""),
      ev("followupPromptEvent", R"({"followupPrompt":{"content":"more?"}})") +
          ev("assistantResponseEvent", R"({"content":"x","followupPrompt":{}})"),
      ev("contextUsageEvent", R"({"contextUsagePercentage":100})"),
  };
}

std::string mutate(std::string s, std::mt19937& rng, const std::vector<std::string>& pool) {
  std::uniform_int_distribution<int> op(0, 7);
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    const std::size_t at = s.empty() ? 0 : rng() % s.size();
    switch (op(rng)) {
      case 0:  // flip a bit
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 1:  // set a byte to an interesting value
        if (!s.empty()) {
          static const char values[] = {
              0, 1, 0x7f, static_cast<char>(0x80), static_cast<char>(0xff), '"', '{', '\\'};
          s[at] = values[rng() % sizeof values];
        }
        break;
      case 2:  // insert random bytes
        for (std::size_t n = 1 + rng() % 8; n > 0; --n) {
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng()));
        }
        break;
      case 3:  // delete a range
        s.erase(at, 1 + rng() % 16);
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      case 5:  // duplicate a chunk
        s.insert(at, s.substr(at, 1 + rng() % 64));
        break;
      case 6:  // splice another seed
        s += pool[rng() % pool.size()];
        break;
      case 7:  // a huge or tiny length field
        if (s.size() >= 4) {
          const std::size_t p = at - at % 4;
          if (p + 4 <= s.size())
            s.replace(p, 4, std::string(rng() % 2 ? "\xff\xff\xff\xff" : "\x00\x00\x00\x0f", 4));
        }
        break;
    }
  }
  return s;
}

// JSON payloads mangled in place, sent in frames with correct CRCs.
std::string mangled_frames(std::mt19937& rng) {
  static const std::vector<std::string> types = {"assistantResponseEvent", "toolUseEvent",
                                                 "meteringEvent",          "contextUsageEvent",
                                                 "messageMetadataEvent",   "unknownEvent"};
  static const std::vector<std::string> payloads = {
      R"({"content":"text"})",
      R"({"content":"<thinking>x</thinking>y"})",
      R"({"name":"ls","toolUseId":"t1","input":"{\"a\":1}","stop":true})",
      R"({"toolUseId":"t1","input":{"nested":[1,2,{"x":null}]},"stop":false})",
      R"({"name":null,"toolUseId":5,"input":[1],"stop":"yes"})",
      R"({"contextUsagePercentage":1e308})",
      R"({"contextUsagePercentage":-3})",
      R"({"content":"\ud800"})",
      R"([])",
      R"("string")",
      R"({})",
  };
  std::string out;
  const std::size_t frames = 1 + rng() % 6;
  for (std::size_t i = 0; i < frames; ++i) {
    std::string p = payloads[rng() % payloads.size()];
    if (rng() % 2 && !p.empty()) {
      p[rng() % p.size()] = static_cast<char>(rng());
    }
    if (rng() % 4 == 0) p.resize(rng() % (p.size() + 1));
    if (rng() % 8 == 0) {
      out += kiro::encode_exception(
          rng() % 2 ? "ThrottlingException" : "ContentLengthExceededException", p);
    } else {
      out += kiro::encode_event(types[rng() % types.size()], p);
    }
  }
  return out;
}

void check(const std::string& input, unsigned mode, int& failures) {
  std::string data;
  data += static_cast<char>(mode);
  data += input;
  const std::string broken =
      kiro_fuzz::run_one(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  if (!broken.empty() && ++failures <= 5) {
    std::string hex;
    static constexpr char digits[] = "0123456789abcdef";
    for (const char c : data.substr(0, 400)) {
      hex += digits[(static_cast<unsigned char>(c) >> 4) & 0xf];
      hex += digits[static_cast<unsigned char>(c) & 0xf];
    }
    ADD_FAILURE() << broken << "\ninput (hex, first 400 bytes): " << hex;
  }
}

TEST(kiro_fuzz, seeds_pass_the_invariants) {
  int failures = 0;
  for (const std::string& s : seeds()) {
    for (unsigned mode = 0; mode < 8; ++mode) check(s, mode, failures);
  }
  EXPECT_EQ(failures, 0);
}

TEST(kiro_fuzz, mutated_streams_never_break_the_invariants) {
  const std::vector<std::string> pool = seeds();
  std::mt19937 rng(20260517);
  int failures = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string input = mutate(pool[rng() % pool.size()], rng, pool);
    check(input, static_cast<unsigned>(rng() & 0xff), failures);
  }
  EXPECT_EQ(failures, 0);
}

TEST(kiro_fuzz, mangled_payloads_with_valid_crcs_never_break_the_invariants) {
  std::mt19937 rng(7);
  int failures = 0;
  for (int i = 0; i < 2000; ++i)
    check(mangled_frames(rng), static_cast<unsigned>(rng() & 0xfe), failures);
  EXPECT_EQ(failures, 0);
}

TEST(kiro_fuzz, random_bytes_never_break_the_invariants) {
  std::mt19937 rng(99);
  int failures = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string input(rng() % 300, '\0');
    for (char& c : input) c = static_cast<char>(rng());
    check(input, static_cast<unsigned>(rng() & 0xff), failures);
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
