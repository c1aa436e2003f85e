// Fast paths of the request conversion. The handler's path for converted requests:
// convert_request reading a body in place (the server allocates the parser's padding after it)
// and reusing the parse inspect_body made (parsed_body), compared with the plain two-pass path
// (inspect_body, then convert_request on a copy) on every golden request, a large body and
// damaged variants of each: the same summaries, the same output bytes, the same errors. And the
// one-pass writing of raw JSON as a string (tool arguments for OpenAI), against a reference.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/request_body.hpp"
#include "convert_test_support.hpp"

namespace {

using namespace convert_test;
using aiclient::protocol::convert_request;
using aiclient::protocol::inspect_body;
using aiclient::protocol::inspect_result;
using aiclient::protocol::json_padding;
using aiclient::protocol::parsed_body;

// `text` in a string with the parser's padding allocated after it, as the server reads bodies.
std::string with_room(std::string_view text) {
  std::string s;
  s.reserve(text.size() + json_padding);
  s.append(text);
  return s;
}

void expect_same_summary(const inspect_result& a, const inspect_result& b, const std::string& ctx) {
  EXPECT_EQ(a.error, b.error) << ctx;
  ASSERT_EQ(a.summary.has_value(), b.summary.has_value()) << ctx;
  if (!a.summary) return;
  EXPECT_EQ(a.summary->model, b.summary->model) << ctx;
  EXPECT_EQ(a.summary->has_model, b.summary->has_model) << ctx;
  EXPECT_EQ(a.summary->stream, b.summary->stream) << ctx;
  EXPECT_EQ(a.summary->include_usage, b.summary->include_usage) << ctx;
}

void expect_same_result(const convert_result& a, const convert_result& b, const std::string& ctx) {
  EXPECT_EQ(a.error, b.error) << ctx;
  EXPECT_EQ(a.body, b.body) << ctx;
}

// Runs the three paths on `text` and checks that they agree; returns 1 when the shared parse
// was used (inspect_body accepted the body), else 0.
int check_paths(wire_protocol from, wire_protocol to, const std::string& text,
                const request_options& opts, const std::string& ctx) {
  const inspect_result two_pass_summary = inspect_body(from, text);
  const convert_result two_pass = convert_request(from, to, text, opts);

  const std::string body = with_room(text);
  const convert_result in_place = convert_request(from, to, body, body.capacity(), opts);
  expect_same_result(two_pass, in_place, ctx + " (in place)");

  parsed_body parsed;
  const inspect_result shared_summary = inspect_body(from, body, body.capacity(), parsed);
  expect_same_summary(two_pass_summary, shared_summary, ctx + " (shared inspection)");
  EXPECT_EQ(parsed.ready(), shared_summary.summary.has_value()) << ctx;
  if (!parsed.ready()) return 0;  // the handler answers inspect_body's error and stops
  const convert_result shared = convert_request(from, to, body, body.capacity(), opts, &parsed);
  EXPECT_FALSE(parsed.ready()) << ctx << ": the parse is used once";
  expect_same_result(two_pass, shared, ctx + " (shared parse)");

  // A parse made on a copy (no room after the body) serves equal bytes at another address.
  parsed_body copied;
  EXPECT_TRUE(inspect_body(from, text, 0, copied).summary) << ctx;
  const std::string other = text;
  expect_same_result(two_pass, convert_request(from, to, other, 0, opts, &copied),
                     ctx + " (shared parse of a copy)");
  return 1;
}

std::vector<golden_case> request_cases() {
  std::vector<golden_case> cases;
  for (const golden_case& c : all_cases())
    if (c.kind == "request") cases.push_back(c);
  return cases;
}

TEST(convert_fast_paths, golden_requests_give_the_same_bytes_and_errors) {
  int shared = 0;
  const std::vector<golden_case> cases = request_cases();
  ASSERT_GT(cases.size(), 30u);
  for (const golden_case& c : cases) {
    const std::string input = read_file(case_path(c, ".in.json"));
    ASSERT_FALSE(input.empty()) << c.dir << "/" << c.name;
    shared += check_paths(c.from, c.to, input, options_of(c), c.dir + "/" + c.name);
  }
  // Nearly every golden input is accepted by inspect_body (a few are conversion errors, which
  // the shared path must report alike).
  EXPECT_GT(shared, static_cast<int>(cases.size()) * 3 / 4);
}

TEST(convert_fast_paths, damaged_requests_give_the_same_bytes_and_errors) {
  std::mt19937 rng(7);
  int shared = 0;
  int total = 0;
  for (const golden_case& c : request_cases()) {
    const std::string input = read_file(case_path(c, ".in.json"));
    std::vector<std::string> damaged;
    for (std::size_t cut = 0; cut < input.size(); cut += 1 + input.size() / 15)
      damaged.push_back(input.substr(0, cut));
    for (int i = 0; i < 12; ++i) {
      std::string s = input;
      const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', 'x', '0', ' ', '\x01'};
      s[rng() % s.size()] = replacements[rng() % sizeof replacements];
      damaged.push_back(s);
    }
    // Bad escapes, huge numbers and wrong types inside an otherwise valid body: errors of the
    // decoder (after stage 1), which the shared parse must report word for word.
    const std::size_t close = input.rfind('}');
    const std::string head = input.substr(0, close);
    damaged.push_back(head + R"(,"temperature":"hot"})");
    damaged.push_back(head + R"(,"max_tokens":123456789012345678901234567890})");
    damaged.push_back(head + R"(,"stop":["\q"]})");
    damaged.push_back(head + R"(,"stop_sequences":["\ud800"]})");
    damaged.push_back(head + R"(,"generationConfig":{"temperature":[1]}})");
    for (const std::string& body : damaged) {
      shared += check_paths(c.from, c.to, body, options_of(c), c.dir + "/" + c.name + " damaged");
      ++total;
    }
  }
  EXPECT_GT(total, 1000);
  EXPECT_GT(shared, 200);  // accepted by inspect_body, then converted or rejected by the decoder
}

TEST(convert_fast_paths, decoder_errors_are_the_same) {
  const request_options opts;
  // Accepted by inspect_body (valid structure, model and stream fine), rejected by the decoder.
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"a\qb"}]})",
       "invalid string escape"},
      {R"({"model":"m","max_tokens":1e999,"messages":[]})", "max_tokens"},
      {R"({"model":"m","max_tokens":10,"messages":"no"})", "messages"},
      {R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})",
       "text"},
      {R"({"model":"m","max_tokens":10,"messages":[],"tools":[{"name":"t","input_schema":{"a":tru}}]})",
       "invalid value"},
  };
  for (const auto& [text, needle] : bodies) {
    const convert_result two_pass =
        convert_request(wire_protocol::claude, wire_protocol::openai, text, opts);
    ASSERT_FALSE(two_pass.ok()) << text;
    EXPECT_NE(two_pass.error.find(needle), std::string::npos) << two_pass.error;
    EXPECT_EQ(check_paths(wire_protocol::claude, wire_protocol::openai, text, opts, text), 1);
  }
}

TEST(convert_fast_paths, large_body_in_every_direction) {
  // The golden inputs are small; a large body crosses many 64-byte blocks of the quote index.
  std::string big = R"({"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"system":")";
  for (int i = 0; i < 3000; ++i) big += "line \\\"" + std::to_string(i) + "\\\" \\u00e9\\n";
  big += R"(","tools":[)";
  for (int i = 0; i < 40; ++i) {
    if (i) big += ',';
    big +=
        R"({"name":"tool_)" + std::to_string(i) +
        R"(","description":"d","input_schema":{"type":"object","properties":{"p":{"type":"string","description":"\"q\""}}}})";
  }
  big += R"(],"messages":[)";
  for (int i = 0; i < 400; ++i) {
    if (i) big += ',';
    const std::string id = "toolu_" + std::to_string(i % 2 ? i : i - 1);
    big += i % 2 ? R"({"role":"assistant","content":[{"type":"text","text":"ok"},)"
                   R"({"type":"tool_use","id":")" +
                       id + R"(","name":"tool_1","input":{"p":"x \"y\"" , "n" : [1, 2]}}]})"
           : i == 0 ? std::string(R"({"role":"user","content":"start"})")
                    : R"({"role":"user","content":[{"type":"tool_result","tool_use_id":")" + id +
                          R"(","content":"result \\ text"}]})";
  }
  big += "]}";
  ASSERT_GT(big.size(), 100'000u);
  request_options opts;
  opts.model = "gpt-4.1";
  opts.stream = true;
  EXPECT_EQ(check_paths(wire_protocol::claude, wire_protocol::openai, big, opts, "claude big"), 1);
  EXPECT_EQ(check_paths(wire_protocol::claude, wire_protocol::gemini, big, opts, "gemini big"), 1);
  const convert_result as_openai =
      convert_request(wire_protocol::claude, wire_protocol::openai, big, opts);
  ASSERT_TRUE(as_openai.ok()) << as_openai.error;
  opts.model = "claude-sonnet-4-5";
  EXPECT_EQ(
      check_paths(wire_protocol::openai, wire_protocol::claude, as_openai.body, opts, "openai big"),
      1);
}

TEST(convert_fast_paths, the_conversion_runs_no_second_stage_one) {
  // Stage 1 validates UTF-8 (the decoder relies on it). Bytes made invalid after the inspection,
  // at the same address, are what a second stage 1 would reject: the shared conversion does not
  // report them, which shows that it used the inspection's parse. (Callers must not change the
  // bytes in between; this only observes that the work is not done twice.)
  const std::string text =
      R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"abc"}]})";
  request_options opts;
  opts.model = "gpt-4.1";
  std::string body = with_room(text);
  parsed_body parsed;
  ASSERT_TRUE(inspect_body(wire_protocol::claude, body, body.capacity(), parsed).summary);
  body[body.find("abc")] = '\xff';
  const convert_result fresh =
      convert_request(wire_protocol::claude, wire_protocol::openai, body, opts);
  EXPECT_FALSE(fresh.ok());
  EXPECT_NE(fresh.error.find("invalid UTF-8"), std::string::npos) << fresh.error;
  const convert_result shared = convert_request(wire_protocol::claude, wire_protocol::openai, body,
                                                body.capacity(), opts, &parsed);
  ASSERT_TRUE(shared.ok()) << shared.error;
  EXPECT_NE(shared.body.find("\xff"
                             "bc"),
            std::string::npos);
}

TEST(convert_fast_paths, a_parse_of_other_bytes_is_ignored) {
  const std::string a =
      with_room(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"aaa"}]})");
  const std::string b =
      with_room(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"bbb"}]})");
  request_options opts;
  opts.model = "gpt-4.1";
  // In place at another address: ignored (and released).
  parsed_body parsed;
  ASSERT_TRUE(inspect_body(wire_protocol::claude, a, a.capacity(), parsed).summary);
  const convert_result r =
      convert_request(wire_protocol::claude, wire_protocol::openai, b, b.capacity(), opts, &parsed);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_NE(r.body.find("bbb"), std::string::npos) << r.body;
  EXPECT_FALSE(parsed.ready());
  // Copied, then other bytes of the same size: ignored.
  parsed_body copied;
  ASSERT_TRUE(inspect_body(wire_protocol::claude, a, 0, copied).summary);
  const convert_result r2 =
      convert_request(wire_protocol::claude, wire_protocol::openai, b, 0, opts, &copied);
  ASSERT_TRUE(r2.ok()) << r2.error;
  EXPECT_NE(r2.body.find("bbb"), std::string::npos) << r2.body;
  // A rejected body keeps no parse.
  parsed_body rejected;
  EXPECT_FALSE(inspect_body(wire_protocol::claude, "{\"model\":1}", 0, rejected).summary);
  EXPECT_FALSE(rejected.ready());
  // Released by hand: nothing to reuse, the conversion parses on its own.
  parsed_body released;
  ASSERT_TRUE(inspect_body(wire_protocol::claude, a, a.capacity(), released).summary);
  EXPECT_TRUE(released.ready());
  released.release();
  EXPECT_FALSE(released.ready());
  const convert_result r3 = convert_request(wire_protocol::claude, wire_protocol::openai, a,
                                            a.capacity(), opts, &released);
  ASSERT_TRUE(r3.ok()) << r3.error;
  EXPECT_NE(r3.body.find("aaa"), std::string::npos);
}

TEST(convert_fast_paths, edited_bodies_have_room_for_in_place_parsing) {
  aiclient::protocol::body_edits edits;
  edits.model = "other";
  const std::string text = R"({"model":"m","max_tokens":10,"messages":[]})";
  const auto edited = aiclient::protocol::apply_edits(wire_protocol::claude, text, edits);
  ASSERT_TRUE(edited);
  EXPECT_GE(edited->capacity(), edited->size() + json_padding);
}

// The reference for a tool input written as OpenAI "arguments": the raw JSON without the
// whitespace between tokens, string literals kept byte for byte (escapes as written).
std::string minified(std::string_view json) {
  std::string out;
  bool inside = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (inside) {
      out += c;
      if (c == '\\') {
        out += json[++i];
      } else if (c == '"') {
        inside = false;
      }
    } else if (c == '"') {
      inside = true;
      out += c;
    } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
      out += c;
    }
  }
  return out;
}

TEST(convert_fast_paths, tool_inputs_become_minified_argument_strings) {
  // Random JSON values with whitespace everywhere it may go, every escape form, non-ASCII text
  // (2, 3 and 4 byte UTF-8) and long strings (the 16-byte steps of the scanner).
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"plain",
                                           "with space",
                                           R"(q\"uote)",
                                           R"(back\\slash)",
                                           R"(\/)",
                                           R"(\n\t\r\b\f)",
                                           R"(\u00e9\u20AC)",
                                           R"(\ud83d\ude00)",
                                           "\xc3\xa9t\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           std::string(40, 'x'),
                                           R"(a\\\"b)",
                                           "{[:,]} "};
  const auto ws = [&] {
    static const char* const spaces[] = {"", "", " ", "\n  ", "\t", "\r\n"};
    return std::string(spaces[rng() % 6]);
  };
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    switch (depth > 3 ? rng() % 3 : rng() % 5) {
      case 0: {
        std::string s = "\"";
        for (unsigned n = rng() % 4; n-- > 0;) s += pieces[rng() % pieces.size()];
        return s + "\"";
      }
      case 1:
        return std::to_string(static_cast<int>(rng() % 2000) - 1000) + (rng() % 2 ? ".5e+3" : "");
      case 2:
        return rng() % 2 ? "true" : "null";
      case 3: {
        std::string s = "[" + ws();
        for (unsigned n = rng() % 4, i = 0; i < n; ++i)
          s += (i ? "," + ws() : "") + value(depth + 1) + ws();
        return s + "]";
      }
      default: {
        std::string s = "{" + ws();
        for (unsigned n = rng() % 4, i = 0; i < n; ++i)
          s += (i ? "," + ws() : "") + "\"k" + std::to_string(i) + pieces[rng() % 3] + "\"" + ws() +
               ":" + ws() + value(depth + 1) + ws();
        return s + "}";
      }
    }
  };
  request_options opts;
  opts.model = "gpt-4.1";
  int with_space = 0;
  for (int round = 0; round < 300; ++round) {
    const std::string input = "{" + ws() + "\"a\"" + ws() + ":" + ws() + value(1) + ws() + "}";
    if (minified(input) != input) ++with_space;
    const std::string body =
        R"({"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":[)"
        R"({"type":"tool_use","id":"toolu_1","name":"f","input":)" +
        input + "}]}]}";
    const convert_result r =
        convert_request(wire_protocol::claude, wire_protocol::openai, body, opts);
    ASSERT_TRUE(r.ok()) << r.error << "\n" << input;
    const json out = json::parse(r.body);
    const json& call = out["messages"][0]["tool_calls"][0]["function"];
    EXPECT_EQ(call["arguments"].get<std::string>(), minified(input)) << input;
    EXPECT_EQ(json::parse(call["arguments"].get<std::string>()), json::parse(input)) << input;
  }
  EXPECT_GT(with_space, 100);  // most inputs had whitespace to remove
}

TEST(convert_fast_paths, escaped_keys_and_plain_values_are_read_by_their_characters) {
  // Keys and plain values ("role", "type") without a backslash are read as views of the body;
  // those with escapes must still be unescaped: each key and value below names a field or a
  // block type only once unescaped, and the conversion must see them as such. One key is longer
  // than 16 bytes with its escape past the first 16 (the backslash check takes 16 at a time).
  const std::string body = with_room(
      R"({"m\u006fdel":"claude-x","max_tokens":10,"m\u0065ssages":[{"r\u006fle":"\u0075ser",)"
      R"("content":[{"typ\u0065":"t\u0065xt","text":"hi","x\"y":1},{"type":"tool_resul\u0074",)"
      R"("tool_use_id":"toolu_1","content":"done"}]},{"role":"assistant","content":[{"type":)"
      R"("tool_use","id":"toolu_1","name":"f","input":{"q\"k":"v\u00e9"}}]}],"tools":[{"name":)"
      R"("f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto",)"
      R"("disable_parallel_tool_us\u0065":true}})");
  request_options opts;
  opts.model = "gpt-4.1";
  for (const bool shared : {false, true}) {
    parsed_body parsed;
    if (shared)
      ASSERT_TRUE(inspect_body(wire_protocol::claude, body, body.capacity(), parsed).summary);
    const convert_result r = convert_request(wire_protocol::claude, wire_protocol::openai, body,
                                             body.capacity(), opts, shared ? &parsed : nullptr);
    ASSERT_TRUE(r.ok()) << r.error;
    const json out = json::parse(r.body);
    ASSERT_EQ(out["messages"].size(), 3u) << out.dump();
    EXPECT_EQ(out["messages"][0]["role"], "tool");
    EXPECT_EQ(out["messages"][0]["content"], "done");
    EXPECT_EQ(out["messages"][1]["role"], "user");
    EXPECT_EQ(out["messages"][1]["content"], "hi");
    EXPECT_EQ(out["messages"][2]["tool_calls"][0]["function"]["arguments"],
              "{\"q\\\"k\":\"v\\u00e9\"}");
    EXPECT_EQ(out["parallel_tool_calls"], false);
  }
  // The same for an OpenAI body read into Claude: roles, part types and the message keys.
  const std::string openai = with_room(
      R"({"model":"gpt-x","m\u0065ssages":[{"r\u006fle":"s\u0079stem","content":"be brief"},)"
      R"({"role":"user","c\u006fntent":[{"t\u0079pe":"te\u0078t","text":"hello"}]}]})");
  opts.model = "claude-x";
  parsed_body parsed;
  ASSERT_TRUE(inspect_body(wire_protocol::openai, openai, openai.capacity(), parsed).summary);
  const convert_result r = convert_request(wire_protocol::openai, wire_protocol::claude, openai,
                                           openai.capacity(), opts, &parsed);
  ASSERT_TRUE(r.ok()) << r.error;
  const json out = json::parse(r.body);
  EXPECT_EQ(out["system"].dump(), R"("be brief")") << out.dump();
  ASSERT_EQ(out["messages"].size(), 1u) << out.dump();
  EXPECT_EQ(out["messages"][0]["role"], "user");
  EXPECT_EQ(out["messages"][0]["content"], "hello") << out.dump();
}

TEST(convert_fast_paths, unescaped_text_stays_valid_while_the_memory_lives) {
  // decode_memory::plain writes unescaped text into blocks it never reallocates: 300 KB of
  // text of growing sizes (several blocks, some texts larger than a block) keep their views.
  aiclient::protocol::decode_memory memory;
  std::vector<std::string> escaped;
  std::vector<std::string> expected;
  std::vector<std::string_view> views;
  for (int i = 0; i < 400; ++i) {
    const std::size_t n = static_cast<std::size_t>(i % 50) * 40 + (i % 97 == 0 ? 70000 : 1);
    std::string e, plain;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = static_cast<char>('a' + (i + k) % 26);
      e += k % 3 == 0 ? std::string("\\n") + c : std::string(1, c);
      plain += k % 3 == 0 ? std::string("\n") + c : std::string(1, c);
    }
    escaped.push_back(e);
    expected.push_back(plain);
  }
  for (const std::string& e : escaped)
    views.push_back(memory.plain(aiclient::protocol::text_value{e, true}));
  std::vector<std::string> churn(64, std::string(8192, '#'));  // reuses freed memory, if any
  for (std::size_t i = 0; i < views.size(); ++i) ASSERT_EQ(views[i], expected[i]) << i;
}

TEST(convert_fast_paths, unescaping_agrees_with_a_reference_parser) {
  // decode_memory::plain copies runs without a backslash 16 bytes at a time: every escape form,
  // at every position relative to those 16 bytes, against nlohmann's reading of the string.
  std::mt19937 rng(5);
  const std::vector<std::string> pieces = {"a",
                                           "\\\\",
                                           "\\\"",
                                           "\\n\\t\\r\\b\\f",
                                           "\\/",
                                           "\\u00e9",
                                           "\\u20AC",
                                           "\\u0041",
                                           "\\ud83d\\ude00",
                                           "\\ud800",
                                           "\xc3\xa9",
                                           std::string(20, 'z'),
                                           "{\\\"k\\\":1}"};
  for (int round = 0; round < 2000; ++round) {
    std::string e(static_cast<std::size_t>(rng() % 40), 'x');
    for (unsigned n = 1 + rng() % 6; n-- > 0;) e += pieces[rng() % pieces.size()];
    e += std::string(static_cast<std::size_t>(rng() % 20), 'y');
    aiclient::protocol::decode_memory memory;
    const std::string_view plain = memory.plain(aiclient::protocol::text_value{e, true});
    const json reference = json::parse("\"" + e + "\"", nullptr, false);
    if (reference.is_discarded()) {  // a lone surrogate: nlohmann rejects it, plain keeps it
      EXPECT_NE(e.find("\\ud800"), std::string::npos) << e;
      continue;
    }
    EXPECT_EQ(plain, reference.get<std::string>()) << e;
  }
}

}  // namespace
