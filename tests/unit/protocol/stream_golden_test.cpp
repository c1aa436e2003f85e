// Every upstream fixture (tests/fixtures/streams/<protocol>_<case>.sse) converted to both other
// client protocols:
//  - the output equals the golden file (tests/fixtures/streams/expected/<case>.to_<client>.sse),
//    event by event, JSON compared structurally ("*" in a golden matches a per-run value);
//  - the output is the same whether the upstream bytes come whole, byte by byte or at random
//    split points;
//  - a client reading the output gets what the upstream said: same text, thinking, signatures,
//    tool calls (names, ids, argument JSON), stop reason and usage; and the output follows its
//    protocol's stream rules.
// AICLIENT_UPDATE_GOLDEN=1 rewrites the golden files (review the diff before committing).
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>

#include "stream_test_support.hpp"

namespace {

using namespace stream_test;

struct golden_case {
  std::string fixture;  ///< file name without .sse
  wire_protocol from;
  wire_protocol to;
};

std::string client_name(wire_protocol p) {
  return std::string(aiclient::protocol::to_string(p));
}

std::vector<golden_case> all_cases() {
  const std::vector<std::pair<wire_protocol, std::vector<std::string>>> fixtures = {
      {wire_protocol::openai,
       {"openai_text", "openai_reasoning", "openai_tool", "openai_parallel_tools", "openai_error",
        "openai_cut"}},
      {wire_protocol::claude,
       {"claude_text", "claude_thinking", "claude_tool", "claude_parallel_tools", "claude_error",
        "claude_cut"}},
      {wire_protocol::gemini,
       {"gemini_text", "gemini_thinking", "gemini_tool", "gemini_parallel_tools", "gemini_error",
        "gemini_cut", "gemini_code_assist"}},
  };
  std::vector<golden_case> cases;
  for (const auto& [from, names] : fixtures) {
    for (const std::string& name : names) {
      for (const wire_protocol to :
           {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini}) {
        if (to != from) cases.push_back({name, from, to});
      }
    }
  }
  return cases;
}

stream_options golden_options() {
  stream_options opts;
  opts.include_usage = true;
  opts.gemini_sse = true;
  return opts;
}

std::string golden_path(const golden_case& c) {
  return "streams/expected/" + c.fixture + ".to_" + client_name(c.to) + ".sse";
}

// Expected JSON from two runs: values that differ between runs (generated ids) become
// "<common prefix>*"; "created" timestamps made now become "*".
using ojson = nlohmann::ordered_json;

ojson generalize(const ojson& a, const ojson& b, const std::string& key) {
  if (a.is_object() && b.is_object()) {
    ojson out = ojson::object();
    for (const auto& [k, v] : a.items()) out[k] = b.contains(k) ? generalize(v, b[k], k) : v;
    return out;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    ojson out = ojson::array();
    for (std::size_t i = 0; i < a.size(); ++i) out.push_back(generalize(a[i], b[i], key));
    return out;
  }
  if (key == "created" && a.is_number_integer() &&
      std::llabs(a.get<long long>() - static_cast<long long>(std::time(nullptr))) < 86400) {
    return "*";
  }
  if (a.is_string() && b.is_string() && a != b) {
    const std::string& x = a.get_ref<const std::string&>();
    const std::string& y = b.get_ref<const std::string&>();
    std::size_t n = 0;
    while (n < x.size() && n < y.size() && x[n] == y[n]) ++n;
    return x.substr(0, n) + "*";
  }
  return a;
}

void write_golden(const golden_case& c, const std::string& first, const std::string& second) {
  const auto a = parse_sse(first);
  const auto b = parse_sse(second);
  ASSERT_EQ(a.size(), b.size());
  std::string text;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].event.empty()) text += "event: " + a[i].event + "\n";
    if (a[i].data == "[DONE]") {
      text += "data: [DONE]\n\n";
      continue;
    }
    text +=
        "data: " + generalize(ojson::parse(a[i].data), ojson::parse(b[i].data), "").dump() + "\n\n";
  }
  std::ofstream(aiclient::testing::source_dir() + "/tests/fixtures/" + golden_path(c),
                std::ios::binary)
      << text;
}

void PrintTo(const golden_case& c, std::ostream* os) {
  *os << c.fixture << " -> " << client_name(c.to);
}

class stream_golden : public ::testing::TestWithParam<golden_case> {};

TEST_P(stream_golden, output_matches_the_golden_file) {
  const golden_case& c = GetParam();
  const std::string upstream = fixture(c.fixture + ".sse");
  const run_result r = run(c.from, c.to, golden_options(), upstream);
  if (std::getenv("AICLIENT_UPDATE_GOLDEN")) {
    write_golden(c, r.out, run(c.from, c.to, golden_options(), upstream).out);
  }
  const auto expected = parse_sse(aiclient::testing::read_fixture(golden_path(c)));
  const auto actual = parse_sse(r.out);
  ASSERT_EQ(actual.size(), expected.size()) << r.out;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i) + ": " + actual[i].data);
    EXPECT_EQ(actual[i].event, expected[i].event);
    if (expected[i].data == "[DONE]") {
      EXPECT_EQ(actual[i].data, "[DONE]");
      continue;
    }
    std::string why;
    EXPECT_TRUE(matches(json::parse(expected[i].data), parse_json(actual[i].data), "$", why))
        << why;
  }
}

TEST_P(stream_golden, output_does_not_depend_on_how_the_upstream_bytes_are_split) {
  const golden_case& c = GetParam();
  const std::string upstream = fixture(c.fixture + ".sse");
  for (const bool include_usage : {true, false}) {
    for (const bool gemini_sse : {true, false}) {
      stream_options opts;
      opts.include_usage = include_usage;
      opts.gemini_sse = gemini_sse;
      const std::string whole = mask_volatile(run(c.from, c.to, opts, upstream).out);
      EXPECT_EQ(mask_volatile(run(c.from, c.to, opts, upstream, {split::bytes}).out), whole);
      for (unsigned seed = 1; seed <= 8; ++seed) {
        EXPECT_EQ(mask_volatile(run(c.from, c.to, opts, upstream, {split::random, seed}).out),
                  whole)
            << "seed " << seed;
      }
    }
  }
}

TEST_P(stream_golden, client_reassembles_what_the_upstream_sent) {
  const golden_case& c = GetParam();
  const std::string upstream = fixture(c.fixture + ".sse");
  const run_result r = run(c.from, c.to, golden_options(), upstream);
  const message_view up = read_stream(c.from, upstream);
  const message_view out = read_stream(c.to, r.out);

  for (const std::string& p : out.problems)
    ADD_FAILURE() << "client stream: " << p << "\n" << r.out;
  // Anthropic streams end at the error event; Gemini SSE has no terminator of its own.
  EXPECT_TRUE(out.terminated || out.error || c.to == wire_protocol::gemini) << r.out;
  EXPECT_EQ(r.failed, up.error);
  EXPECT_EQ(out.error, up.error);
  EXPECT_EQ(out.text, up.text);
  EXPECT_EQ(out.thinking, up.thinking);
  if (c.to != wire_protocol::openai && c.from != wire_protocol::openai) {
    EXPECT_EQ(out.signatures, up.signatures);  // OpenAI has no field for them
  }
  if (!up.model.empty()) {
    EXPECT_EQ(out.model, up.model);
  }

  ASSERT_EQ(out.tools.size(), up.tools.size()) << r.out;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < up.tools.size(); ++i) {
    SCOPED_TRACE("tool call " + std::to_string(i));
    EXPECT_EQ(out.tools[i].name, up.tools[i].name);
    const json args = out.tools[i].args();
    EXPECT_FALSE(args.is_discarded()) << out.tools[i].arguments;
    if (c.fixture.find("cut") == std::string::npos || c.to == wire_protocol::gemini) {
      EXPECT_EQ(args, up.tools[i].args());
    } else {
      EXPECT_EQ(out.tools[i].arguments, up.tools[i].arguments);  // bytes so far, unchanged
    }
    if (!up.tools[i].id.empty()) {
      EXPECT_EQ(out.tools[i].id, up.tools[i].id);
    } else {
      EXPECT_EQ(out.tools[i].id.rfind("call_", 0), 0u) << out.tools[i].id;
    }
    EXPECT_TRUE(ids.insert(out.tools[i].id).second) << "duplicate id " << out.tools[i].id;
  }

  if (up.error) {
    // The upstream's message reaches the client.
    EXPECT_EQ(out.error_body["error"]["message"], up.error_body["error"]["message"]) << r.out;
    return;
  }
  const bool cut = c.fixture.find("cut") != std::string::npos;
  EXPECT_EQ(r.complete, !cut);
  if (!cut) {
    EXPECT_EQ(out.stop, up.stop);
    EXPECT_EQ(out.input, up.input);
    EXPECT_EQ(out.output, up.output);
    if (c.to != wire_protocol::claude && c.from != wire_protocol::claude) {
      EXPECT_EQ(out.reasoning.value_or(0), up.reasoning.value_or(0));
    }
    EXPECT_EQ(out.cached.value_or(0), up.cached.value_or(0));
  } else {
    EXPECT_EQ(out.stop, up.tools.empty() ? "end_turn" : "tool_use");
  }
}

std::string case_name(const ::testing::TestParamInfo<golden_case>& info) {
  return info.param.fixture + "_to_" + client_name(info.param.to);
}

INSTANTIATE_TEST_SUITE_P(stream, stream_golden, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
