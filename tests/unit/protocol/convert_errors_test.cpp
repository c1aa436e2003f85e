// Untrusted bodies: malformed JSON, wrong types and requests that cannot be expressed become a
// one-line error (a 400 in the client's protocol), never a crash, an exception or invalid JSON.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "convert_test_support.hpp"

namespace {

using namespace convert_test;
using aiclient::protocol::convert_models;
using aiclient::protocol::convert_request;
using aiclient::protocol::convert_response;

constexpr auto openai = wire_protocol::openai;
constexpr auto claude = wire_protocol::claude;
constexpr auto gemini = wire_protocol::gemini;

struct bad_case {
  const char* name;
  wire_protocol from;
  wire_protocol to;
  std::string body;
  const char* expected;  ///< a piece of the error message
};

std::vector<bad_case> bad_requests() {
  const std::string deep = std::string(3000, '[') + std::string(3000, ']');
  return {
      {"empty", openai, claude, "", "malformed JSON"},
      {"whitespace", claude, openai, "  \n ", "malformed JSON"},
      {"array_root", openai, gemini, "[]", "must be a JSON object"},
      {"null_root", gemini, openai, "null", "must be a JSON object"},
      {"truncated", openai, claude, R"({"model":"m","messages":[{"role":"user","content":"hi"})",
       "malformed JSON"},
      {"trailing_garbage", claude, openai, R"({"model":"m","max_tokens":5,"messages":[]} {})",
       "after the top-level object"},
      {"bad_escape_in_text", openai, claude,
       R"({"model":"m","messages":[{"role":"user","content":"a\qb"}]})", "malformed JSON"},
      {"lone_surrogate", openai, gemini,
       R"({"model":"m","messages":[{"role":"user","content":"\ud800 x"}]})", "malformed JSON"},
      {"bad_literal_in_schema", claude, openai,
       R"({"model":"m","max_tokens":5,"messages":[],"tools":[{"name":"t","input_schema":{"type":"object","x":tru}}]})",
       "malformed JSON"},
      {"bad_number_in_input", claude, gemini,
       R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"t","input":{"n":01}}]}]})",
       "malformed JSON"},
      {"missing_colon_in_schema", openai, claude,
       R"({"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"t","parameters":{"type" "object"}}}]})",
       "malformed JSON"},
      {"invalid_utf8", openai, claude,
       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
       "malformed JSON"},
      {"control_char", openai, claude,
       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\x01\"}]}",
       "malformed JSON"},
      {"too_deep", openai, claude, R"({"model":"m","messages":[],"metadata":)" + deep + "}",
       "malformed JSON"},
      {"messages_not_array", openai, claude, R"({"model":"m","messages":{}})",
       R"("messages" must be an array)"},
      {"no_messages", openai, claude, R"({"model":"m"})", R"("messages" is required)"},
      {"role_missing", openai, gemini, R"({"model":"m","messages":[{"content":"x"}]})",
       R"("role" is required)"},
      {"unknown_role", openai, gemini,
       R"({"model":"m","messages":[{"role":"robot","content":"x"}]})", "unsupported role"},
      {"claude_bad_role", claude, openai,
       R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]})",
       "role must be"},
      {"temperature_string", openai, claude, R"({"model":"m","temperature":"hot","messages":[]})",
       R"("temperature" must be a number)"},
      {"max_tokens_float", claude, openai, R"({"model":"m","max_tokens":1.5,"messages":[]})",
       R"("max_tokens" must be an integer)"},
      {"tool_call_without_id", openai, claude,
       R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]})",
       "needs an id"},
      {"tool_message_without_id", openai, claude,
       R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "tool_call_id"},
      {"arguments_not_json", openai, claude,
       R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]})",
       "are not a JSON object"},
      {"arguments_not_object", openai, gemini,
       R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
       "are not a JSON object"},
      {"several_choices_for_claude", openai, claude, R"({"model":"m","n":2,"messages":[]})",
       "n > 1"},
      {"file_id", openai, claude,
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]})",
       "file_id"},
      {"unknown_part", openai, claude,
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"hologram"}]}]})",
       "unsupported content part type"},
      {"server_tool_block_to_openai", claude, openai,
       R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]})",
       "has no OpenAI equivalent"},
      {"result_without_call_for_gemini", openai, gemini,
       R"({"model":"m","messages":[{"role":"tool","tool_call_id":"nowhere","content":"x"}]})",
       "answers no earlier tool call"},
      {"gemini_call_without_name", gemini, openai,
       R"({"contents":[{"role":"model","parts":[{"functionCall":{"args":{}}}]}]})",
       "needs a \"name\""},
      {"gemini_bad_role", gemini, claude,
       R"({"contents":[{"role":"system","parts":[{"text":"x"}]}]})", "role must be"},
      {"gemini_enum_mime", gemini, openai,
       R"({"contents":[],"generationConfig":{"responseMimeType":"text/x.enum"}})",
       "unsupported responseMimeType"},
      {"gemini_url_to_openai", gemini, openai,
       R"({"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"image/png","fileUri":"gs://bucket/a.png"}}]}]})",
       "only http(s) URLs"},
      {"gemini_url_to_claude", gemini, claude,
       R"({"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"image/png","fileUri":"gs://bucket/a.png"}}]}]})",
       "only http(s) URLs"},
  };
}

TEST(convert_errors, bad_requests_give_one_clear_line) {
  for (const bad_case& c : bad_requests()) {
    const convert_result r = convert_request(c.from, c.to, c.body, {"m", false});
    EXPECT_FALSE(r.ok()) << c.name << " converted to " << r.body;
    EXPECT_TRUE(r.body.empty()) << c.name;
    EXPECT_NE(r.error.find(c.expected), std::string::npos)
        << c.name << ": \"" << r.error << "\" lacks \"" << c.expected << "\"";
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << c.name;
  }
}

TEST(convert_errors, bad_responses_and_model_lists_give_errors) {
  EXPECT_FALSE(convert_response(openai, claude, R"({"id":"x"})", "m").ok()) << "no choices";
  EXPECT_FALSE(convert_response(claude, openai, R"({"id":"x","type":"message"})", "m").ok());
  EXPECT_FALSE(convert_response(gemini, openai, R"({"usageMetadata":{}})", "m").ok());
  EXPECT_FALSE(convert_response(openai, gemini, "{", "m").ok());
  const convert_result bad_args = convert_response(
      openai, claude,
      R"({"choices":[{"message":{"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]})",
      "m");
  EXPECT_FALSE(bad_args.ok());
  EXPECT_NE(bad_args.error.find("not a JSON object"), std::string::npos) << bad_args.error;
  EXPECT_FALSE(convert_models(openai, claude, R"({"data":[{"id":5}]})").ok());
  EXPECT_FALSE(convert_models(gemini, openai, "[]").ok());
  EXPECT_TRUE(convert_models(claude, gemini, R"({"data":[]})").ok()) << "an empty list is fine";
}

// The escape checks of text and raw subtrees agree with a reference parser, whatever the
// position of the escape relative to the 16- and 64-byte blocks of the vector code.
TEST(convert_errors, string_validation_agrees_with_a_reference_parser) {
  std::mt19937 rng(1234);
  const std::vector<std::string> pieces = {
      "a",       "\\\\",     "\\\"", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\x", "\\u12",
      "\\ud800", "\\udc00a", "\\",   "é",   "\\/",     "\\uD834\\uDD1E", "b c"};
  int checked = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string s(static_cast<std::size_t>(rng() % 70), 'x');  // shifts the piece across blocks
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    s += std::string(static_cast<std::size_t>(rng() % 5), 'y');
    const bool valid = !json::parse("\"" + s + "\"", nullptr, false).is_discarded();
    // As message text (read as escaped text) and inside a tool schema (a raw subtree).
    const std::string as_text =
        R"({"model":"m","messages":[{"role":"user","content":")" + s + R"("}]})";
    const std::string as_raw =
        R"({"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{"description":")" +
        s + R"("}}}]})";
    for (const std::string& body : {as_text, as_raw}) {
      const convert_result r = convert_request(openai, claude, body, {});
      if (json::parse(body, nullptr, false).is_discarded() != !valid) continue;  // framing broke
      EXPECT_EQ(r.ok(), valid) << "string: " << s << "\nerror: " << r.error;
      if (r.ok()) {
        EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << r.body;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 3000);
}

// Valid strings are read through the quote index of the body (one pass over its escapes): the
// text and the raw subtrees that come out are the ones that went in, wherever the escapes and
// quotes fall relative to the 64-byte blocks. A bad escape anywhere in the body (here in a field
// the codecs ignore) switches to the per-string checks and changes nothing else.
TEST(convert_errors, strings_survive_the_body_quote_index) {
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {
      "a",   "\\\\", "\\\"", "\\n",      "\\u00e9",  "\\ud83d\\ude00",
      "\\/", "é",    "b c",  "\\\\\\\"", "\\\\\\\\", "{\\\"k\\\":1}"};
  for (int round = 0; round < 500; ++round) {
    std::string s(static_cast<std::size_t>(rng() % 130), 'x');
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    const json expected = json::parse("\"" + s + "\"");
    for (const std::string unknown : {"", R"(,"x_unknown":"bad \q escape")"}) {
      const std::string body =
          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":")" +
          s + "\"" + unknown +
          R"(}]}],"tools":[{"name":"f","input_schema":{"type":"object","description":")" + s +
          R"(","properties":{"p":{"type":"string","description":")" + s + R"("}}}}]})";
      const convert_result r = convert_request(claude, openai, body, {});
      ASSERT_TRUE(r.ok()) << s << ": " << r.error;
      const json out = json::parse(r.body);
      const json& content = out["messages"][0]["content"];
      EXPECT_EQ(content.is_string() ? content : content[0]["text"], expected) << s;
      const json& schema = out["tools"][0]["function"]["parameters"];
      EXPECT_EQ(schema["description"], expected) << s;
      EXPECT_EQ(schema["properties"]["p"]["description"], expected) << s;
    }
  }
}

// Every golden input, cut short or with bytes changed, converts to valid JSON or fails cleanly.
TEST(convert_errors, damaged_inputs_never_crash_or_emit_invalid_json) {
  std::mt19937 rng(42);
  int conversions = 0;
  for (const golden_case& c : all_cases()) {
    const std::string input = read_file(case_path(c, ".in.json"));
    std::vector<std::string> damaged;
    for (std::size_t cut = 0; cut < input.size(); cut += 1 + input.size() / 60)
      damaged.push_back(input.substr(0, cut));
    for (int i = 0; i < 20; ++i) {
      std::string s = input;
      const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', 'x', '0', ' ', '\x01'};
      s[rng() % s.size()] = replacements[rng() % sizeof replacements];
      damaged.push_back(s);
    }
    for (const std::string& body : damaged) {
      const convert_result r = run_conversion(c, c.from, c.to, body);
      ++conversions;
      if (!r.ok()) {
        EXPECT_TRUE(r.body.empty());
        EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
        continue;
      }
      EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded())
          << c.dir << "/" << c.name << " damaged input:\n"
          << body << "\noutput:\n"
          << r.body;
    }
  }
  EXPECT_GT(conversions, 5000);
}

}  // namespace
