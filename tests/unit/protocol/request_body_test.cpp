#include "aiclient/protocol/request_body.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using aiclient::protocol::apply_edits;
using aiclient::protocol::body_edits;
using aiclient::protocol::inspect_body;
using aiclient::protocol::inspect_result;
using aiclient::protocol::system_prompt_mode;
using aiclient::protocol::wire_protocol;
using ojson = nlohmann::ordered_json;  // compares key order too

// A tools array with odd spacing, escapes and keys named like the ones the editor looks for.
const std::string claude_tools =
    "[ {\"name\" :\"get_weather\" ,  \"description\":\"Weather \\u00e0 Z\\u00fcrich "
    "\\ud83c\\udf26 \\\"quoted\\\" \\\\ back\\/slash\",\n\t\"input_schema\":{ \"type\":\"object\","
    "\"properties\":{\"model\":{\"type\":\"string\"},\"system\":{\"type\" : \"string\"},"
    "\"messages\":{\"type\":\"array\"}} , \"required\" : [\"model\"] } } ,{\"name\":\"x\","
    "\"input_schema\":{}}  ]";

const std::string openai_tools =
    "[{\"type\" : \"function\",\"function\":{\"name\":\"lookup\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"role\":{\"enum\":[\"system\",\"developer\"]},\"model\":"
    "{\"type\":\"string\",\"description\":\"caf\\u00e9 \\u2014 \\n\"}}}}} ]";

inspect_result inspect(std::string_view body, wire_protocol p = wire_protocol::openai) {
  return inspect_body(p, body);
}

// ---------------------------------------------------------------------------------------------
// inspect_body

TEST(InspectBody, ReadsModelAndStream) {
  const auto r = inspect(R"({"model":"gpt-4o","stream":true,"messages":[]})");
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.summary->model, "gpt-4o");
  EXPECT_TRUE(r.summary->has_model);
  EXPECT_TRUE(r.summary->stream);
}

TEST(InspectBody, KeyOrderAndWhitespaceDoNotMatter) {
  const auto r = inspect(
      " \n\t{ \"stream\" : false ,\r\n \"max_tokens\": 1024, \"model\" :\t\"claude-sonnet-4\" } \n",
      wire_protocol::claude);
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_EQ(r.summary->model, "claude-sonnet-4");
  EXPECT_FALSE(r.summary->stream);
}

TEST(InspectBody, NestedModelKeysAreIgnored) {
  const std::string body = R"({"messages":[{"role":"user","content":"hi","model":"nested-1"}],)"
                           R"("metadata":{"model":"nested-2","stream":true},"tools":)" +
                           claude_tools + R"(,"model":"top-level","stream":true})";
  const auto r = inspect(body, wire_protocol::claude);
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_EQ(r.summary->model, "top-level");
  EXPECT_TRUE(r.summary->stream);

  const auto no_top = inspect(R"({"metadata":{"model":"nested","stream":true}})");
  ASSERT_TRUE(no_top.summary) << no_top.error;
  EXPECT_FALSE(no_top.summary->has_model);
  EXPECT_EQ(no_top.summary->model, "");
  EXPECT_FALSE(no_top.summary->stream);
}

TEST(InspectBody, UnicodeEscapesAreDecoded) {
  const auto r = inspect(R"({"model":"gpt\u002d4o-mod\u00e8le-\ud83d\ude80"})");
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_EQ(r.summary->model, "gpt-4o-mod\xC3\xA8le-\xF0\x9F\x9A\x80");

  const auto escaped_key = inspect(R"({"mod\u0065l":"m","str\u0065am":true})");
  ASSERT_TRUE(escaped_key.summary) << escaped_key.error;
  EXPECT_EQ(escaped_key.summary->model, "m");
  EXPECT_TRUE(escaped_key.summary->stream);
}

TEST(InspectBody, NullStreamIsFalseAndAbsentFieldsAreFine) {
  const auto r = inspect(R"({"model":"m","stream":null})");
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_FALSE(r.summary->stream);

  const auto empty = inspect("{}", wire_protocol::gemini);
  ASSERT_TRUE(empty.summary) << empty.error;
  EXPECT_FALSE(empty.summary->has_model);
  EXPECT_FALSE(empty.summary->stream);
}

TEST(InspectBody, LastDuplicateWinsLikeJsonParse) {
  const auto r = inspect(R"({"model":"first","stream":true,"model":"second","stream":false})");
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_EQ(r.summary->model, "second");
  EXPECT_FALSE(r.summary->stream);
}

TEST(InspectBody, MalformedJsonIsRejected) {
  const std::vector<std::string> bodies = {
      "",
      "   \n",
      "{",
      R"({"model":)",
      R"({"model":"gpt-4o")",
      "not json",
      R"({"model":"x"} junk)",
      R"({"model":"x"}})",
      R"({"model":"x"}{"a":1})",
      R"({"model":"x",})",
      R"({"model" "x"})",
      R"({"model":"x" "stream":true})",
      R"({"model":"unterminated)",
      R"({"model":"x","stream":tru})",
      R"({"model":"bad \q escape"})",
      "{\"model\":\"raw\ncontrol\"}",
      "nul",
      "-",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    const auto r = inspect(body);
    EXPECT_FALSE(r.summary);
    EXPECT_EQ(r.error.rfind("malformed JSON in request body: ", 0), 0u) << r.error;
  }
}

TEST(InspectBody, NonObjectBodiesAreRejected) {
  for (const std::string body : {"[]", R"([{"model":"x"}])", R"("model")", "42", "true", "null"}) {
    SCOPED_TRACE(body);
    const auto r = inspect(body);
    EXPECT_FALSE(r.summary);
    EXPECT_EQ(r.error, "request body must be a JSON object");
  }
}

TEST(InspectBody, WrongTypesAreRejected) {
  for (const std::string body :
       {R"({"model":42})", R"({"model":null})", R"({"model":["a"]})", R"({"model":{"id":"a"}})"}) {
    const auto r = inspect(body);
    EXPECT_FALSE(r.summary) << body;
    EXPECT_EQ(r.error, "\"model\" must be a string") << body;
  }
  for (const std::string body : {R"({"stream":"true"})", R"({"stream":1})", R"({"stream":{}})"}) {
    const auto r = inspect(body);
    EXPECT_FALSE(r.summary) << body;
    EXPECT_EQ(r.error, "\"stream\" must be a boolean") << body;
  }
}

TEST(InspectBody, BuffersAreReusedSafelyAcrossCalls) {
  // A large body followed by a small one: no stale bytes from the first may leak into the second.
  const std::string big = R"({"pad":")" + std::string(200000, 'x') + R"(","model":"big"})";
  const auto a = inspect(big);
  ASSERT_TRUE(a.summary) << a.error;
  EXPECT_EQ(a.summary->model, "big");
  const auto b = inspect(R"({"model":"s")");
  EXPECT_FALSE(b.summary);
  const auto c = inspect(R"({"model":"small"})");
  ASSERT_TRUE(c.summary) << c.error;
  EXPECT_EQ(c.summary->model, "small");
}

// ---------------------------------------------------------------------------------------------
// apply_edits

body_edits model_edit(std::string model) {
  body_edits e;
  e.model = std::move(model);
  return e;
}

body_edits prompt_edit(std::string prompt, system_prompt_mode mode) {
  body_edits e;
  e.system_prompt = std::move(prompt);
  e.mode = mode;
  return e;
}

constexpr auto overwrite = system_prompt_mode::overwrite;
constexpr auto append = system_prompt_mode::append;

// Applies the edits, requires success and a valid JSON result equal to `expected` (key order
// included), and returns the output bytes.
std::string expect_edit(wire_protocol p, const std::string& body, const body_edits& edits,
                        const std::string& expected) {
  std::string error;
  const auto out = apply_edits(p, body, edits, &error);
  EXPECT_TRUE(out.has_value()) << error;
  if (!out) return {};
  ojson got;
  EXPECT_NO_THROW(got = ojson::parse(*out)) << *out;
  EXPECT_EQ(got, ojson::parse(expected)) << *out;
  return *out;
}

TEST(ApplyEdits, ReplacesModelKeepingEveryOtherByte) {
  const std::string body =
      "{ \"model\" :  \"gpt-4o\" ,\n  \"tools\": " + openai_tools +
      ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"model\":\"x\"}]}";
  const std::string out =
      expect_edit(wire_protocol::openai, body, model_edit("gpt-4.1"),
                  "{\"model\":\"gpt-4.1\",\"tools\":" + openai_tools +
                      R"(,"messages":[{"role":"user","content":"hi","model":"x"}]})");
  std::string expected_bytes = body;
  expected_bytes.replace(expected_bytes.find("\"gpt-4o\""), 8, "\"gpt-4.1\"");
  EXPECT_EQ(out, expected_bytes);
}

TEST(ApplyEdits, EscapesTheNewModelAndEditsEveryDuplicate) {
  const std::string body = R"({"model":"a","n":1,"model" : "b"})";
  const std::string out =
      expect_edit(wire_protocol::claude, body, model_edit("we\"ird\\name\n"),
                  R"({"model":"we\"ird\\name\n","n":1,"model":"we\"ird\\name\n"})");
  EXPECT_EQ(out, R"({"model":"we\"ird\\name\n","n":1,"model" : "we\"ird\\name\n"})");
}

TEST(ApplyEdits, InsertsModelWhenAbsent) {
  EXPECT_EQ(expect_edit(wire_protocol::openai, R"({"messages":[]})", model_edit("m"),
                        R"({"model":"m","messages":[]})"),
            R"({"model":"m","messages":[]})");
  EXPECT_EQ(expect_edit(wire_protocol::claude, "{}", model_edit("m"), R"({"model":"m"})"),
            R"({"model":"m"})");
  EXPECT_EQ(expect_edit(wire_protocol::claude, " { \n } ", model_edit("m"), R"({"model":"m"})"),
            " {\"model\":\"m\" \n } ");
}

TEST(ApplyEdits, GeminiModelIsReplacedButNeverAdded) {
  const std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
  EXPECT_EQ(expect_edit(wire_protocol::gemini, body, model_edit("gemini-2.5-pro"), body), body);
  expect_edit(wire_protocol::gemini, R"({"model":"a","contents":[]})", model_edit("b"),
              R"({"model":"b","contents":[]})");
}

TEST(ApplyEdits, NoEditsCopiesTheBody) {
  const std::string body = "{\"model\" : \"m\",\"tools\":" + claude_tools + "}";
  EXPECT_EQ(expect_edit(wire_protocol::claude, body, body_edits{}, body), body);
}

// --- claude "system"

TEST(ApplyEdits, ClaudeSystemStringOverwrite) {
  const std::string body = R"({"model":"c","system" : "old prompt" ,"tools":)" + claude_tools + "}";
  const std::string out =
      expect_edit(wire_protocol::claude, body, prompt_edit("NEW", overwrite),
                  R"({"model":"c","system":"NEW","tools":)" + claude_tools + "}");
  EXPECT_EQ(out, R"({"model":"c","system" : "NEW" ,"tools":)" + claude_tools + "}");
}

TEST(ApplyEdits, ClaudeSystemStringAppend) {
  const std::string body = R"({"system":"You are \"helpful\".\n","model":"c"})";
  const std::string out = expect_edit(
      wire_protocol::claude, body, prompt_edit("Be brief \xE2\x80\x94 \"always\".", append),
      R"({"system":"You are \"helpful\".\n\n\nBe brief \u2014 \"always\".","model":"c"})");
  EXPECT_EQ(out, R"({"system":"You are \"helpful\".\n\n\nBe brief )"
                 "\xE2\x80\x94"
                 R"( \"always\".","model":"c"})");
  // An empty string gets the prompt alone.
  expect_edit(wire_protocol::claude, R"({"system":""})", prompt_edit("P", append),
              R"({"system":"P"})");
}

TEST(ApplyEdits, ClaudeSystemArrayOverwrite) {
  const std::string body =
      R"({"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],"tools":)" +
      claude_tools + "}";
  const std::string out = expect_edit(wire_protocol::claude, body, prompt_edit("NEW", overwrite),
                                      R"({"system":"NEW","tools":)" + claude_tools + "}");
  EXPECT_NE(out.find(claude_tools), std::string::npos);
}

TEST(ApplyEdits, ClaudeSystemArrayAppend) {
  const std::string body =
      R"({"system":[ {"type":"text","text":"a","cache_control":{"type":"ephemeral"}} ] ,"tools":)" +
      claude_tools + "}";
  const std::string out =
      expect_edit(wire_protocol::claude, body, prompt_edit("NEW", append),
                  R"({"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},)"
                  R"({"type":"text","text":"NEW"}],"tools":)" +
                      claude_tools + "}");
  EXPECT_NE(out.find(claude_tools), std::string::npos);
  expect_edit(wire_protocol::claude, R"({"system":[ ]})", prompt_edit("NEW", append),
              R"({"system":[{"type":"text","text":"NEW"}]})");
}

TEST(ApplyEdits, ClaudeSystemAbsentIsInserted) {
  const std::string body = R"({"model":"c","messages":[{"role":"user","content":"x"}]})";
  for (const auto mode : {overwrite, append}) {
    expect_edit(wire_protocol::claude, body, prompt_edit("NEW", mode),
                R"({"system":"NEW","model":"c","messages":[{"role":"user","content":"x"}]})");
  }
  expect_edit(wire_protocol::claude, R"({"system":null,"model":"c"})", prompt_edit("NEW", append),
              R"({"system":"NEW","model":"c"})");
}

TEST(ApplyEdits, ClaudeModelAndSystemInsertedTogether) {
  body_edits e = prompt_edit("NEW", append);
  e.model = "claude-opus-4";
  expect_edit(wire_protocol::claude, R"({"max_tokens":10})", e,
              R"({"model":"claude-opus-4","system":"NEW","max_tokens":10})");
  expect_edit(wire_protocol::claude, "{}", e, R"({"model":"claude-opus-4","system":"NEW"})");
}

TEST(ApplyEdits, ClaudeSystemOfWrongTypeIsAnError) {
  std::string error;
  EXPECT_FALSE(
      apply_edits(wire_protocol::claude, R"({"system":42})", prompt_edit("x", append), &error));
  EXPECT_NE(error.find("\"system\""), std::string::npos) << error;
}

// --- openai messages

TEST(ApplyEdits, OpenAiSystemMessageOverwriteAndAppend) {
  const std::string body =
      R"({"model":"gpt-4o","messages":[{"role":"system","content":"old"},)"
      R"({"role":"user","content":"hi"},{"role":"system","content":"second"}],"tools":)" +
      openai_tools + "}";
  const auto expected = [&](std::string_view content) {
    return R"({"model":"gpt-4o","messages":[{"role":"system","content":)" + std::string(content) +
           R"(},{"role":"user","content":"hi"},{"role":"system","content":"second"}],"tools":)" +
           openai_tools + "}";
  };
  std::string out =
      expect_edit(wire_protocol::openai, body, prompt_edit("NEW", overwrite), expected(R"("NEW")"));
  EXPECT_NE(out.find(openai_tools), std::string::npos);
  out = expect_edit(wire_protocol::openai, body, prompt_edit("NEW", append),
                    expected(R"("old\n\nNEW")"));
  EXPECT_NE(out.find(openai_tools), std::string::npos);
}

TEST(ApplyEdits, OpenAiDeveloperMessageWithRoleAfterContent) {
  const std::string body =
      R"({"messages":[{"role":"user","content":"first"},{"content" : "dev rules", "role":"developer"}]})";
  expect_edit(wire_protocol::openai, body, prompt_edit("NEW", append),
              R"({"messages":[{"role":"user","content":"first"},)"
              R"({"content":"dev rules\n\nNEW","role":"developer"}]})");
  expect_edit(wire_protocol::openai, body, prompt_edit("NEW", overwrite),
              R"({"messages":[{"role":"user","content":"first"},)"
              R"({"content":"NEW","role":"developer"}]})");
}

TEST(ApplyEdits, OpenAiSystemMessageWithArrayContent) {
  const std::string body =
      R"({"messages":[{"role":"system","content":[{"type":"text","text":"a"}]},)"
      R"({"role":"user","content":[{"type":"text","text":"q"}]}]})";
  expect_edit(
      wire_protocol::openai, body, prompt_edit("NEW", append),
      R"({"messages":[{"role":"system","content":[{"type":"text","text":"a"},)"
      R"({"type":"text","text":"NEW"}]},{"role":"user","content":[{"type":"text","text":"q"}]}]})");
  expect_edit(wire_protocol::openai, body, prompt_edit("NEW", overwrite),
              R"({"messages":[{"role":"system","content":"NEW"},)"
              R"({"role":"user","content":[{"type":"text","text":"q"}]}]})");
}

TEST(ApplyEdits, OpenAiWithoutSystemMessageInsertsOneFirst) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"say \"system\""}],"tools":)" +
      openai_tools + "}";
  for (const auto mode : {overwrite, append}) {
    const std::string out =
        expect_edit(wire_protocol::openai, body, prompt_edit("NEW", mode),
                    R"({"model":"m","messages":[{"role":"system","content":"NEW"},)"
                    R"({"role":"user","content":"say \"system\""}],"tools":)" +
                        openai_tools + "}");
    EXPECT_NE(out.find(openai_tools), std::string::npos);
  }
  expect_edit(wire_protocol::openai, R"({"messages":[ ]})", prompt_edit("NEW", append),
              R"({"messages":[{"role":"system","content":"NEW"}]})");
  expect_edit(wire_protocol::openai, R"({"model":"m"})", prompt_edit("NEW", append),
              R"({"messages":[{"role":"system","content":"NEW"}],"model":"m"})");
}

TEST(ApplyEdits, OpenAiSystemMessageWithoutOrNullContent) {
  expect_edit(wire_protocol::openai, R"({"messages":[{"role":"system"}]})",
              prompt_edit("NEW", append), R"({"messages":[{"content":"NEW","role":"system"}]})");
  expect_edit(wire_protocol::openai, R"({"messages":[{"role":"system","content":null}]})",
              prompt_edit("NEW", append), R"({"messages":[{"role":"system","content":"NEW"}]})");
}

// --- gemini systemInstruction

TEST(ApplyEdits, GeminiSystemInstructionPresent) {
  const std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],)"
                           R"("systemInstruction":{"role":"system","parts":[{"text":"old"}]},)"
                           R"("generationConfig":{"temperature":0.5}})";
  expect_edit(wire_protocol::gemini, body, prompt_edit("NEW", append),
              R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],)"
              R"("systemInstruction":{"role":"system","parts":[{"text":"old"},{"text":"NEW"}]},)"
              R"("generationConfig":{"temperature":0.5}})");
  expect_edit(wire_protocol::gemini, body, prompt_edit("NEW", overwrite),
              R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}],)"
              R"("systemInstruction":{"parts":[{"text":"NEW"}]},)"
              R"("generationConfig":{"temperature":0.5}})");
}

TEST(ApplyEdits, GeminiSystemInstructionWithoutParts) {
  expect_edit(wire_protocol::gemini, R"({"systemInstruction":{"role":"user"}})",
              prompt_edit("NEW", append),
              R"({"systemInstruction":{"parts":[{"text":"NEW"}],"role":"user"}})");
  expect_edit(wire_protocol::gemini, R"({"systemInstruction":{}})", prompt_edit("NEW", append),
              R"({"systemInstruction":{"parts":[{"text":"NEW"}]}})");
  expect_edit(wire_protocol::gemini, R"({"system_instruction":{"parts":[]}})",
              prompt_edit("NEW", append), R"({"system_instruction":{"parts":[{"text":"NEW"}]}})");
}

TEST(ApplyEdits, GeminiSystemInstructionAbsentIsInserted) {
  const std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
  for (const auto mode : {overwrite, append}) {
    expect_edit(wire_protocol::gemini, body, prompt_edit("NEW", mode),
                R"({"systemInstruction":{"parts":[{"text":"NEW"}]},)"
                R"("contents":[{"role":"user","parts":[{"text":"hi"}]}]})");
  }
}

TEST(ApplyEdits, MalformedBodiesAreErrorsNotExceptions) {
  for (const std::string body : {"", "{", R"({"model":)", "[]", R"({"model":"x"} junk)"}) {
    std::string error;
    EXPECT_FALSE(apply_edits(wire_protocol::openai, body, model_edit("m"), &error)) << body;
    EXPECT_FALSE(error.empty()) << body;
    EXPECT_FALSE(apply_edits(wire_protocol::openai, body, model_edit("m")));  // null error ptr
  }
  std::string error;
  EXPECT_FALSE(apply_edits(wire_protocol::claude, R"({"model":7})", model_edit("m"), &error));
  EXPECT_EQ(error, "\"model\" must be a string");
}

// --- a large Claude-Code-like request

std::string big_tools(int count) {
  std::string tools = "[";
  for (int i = 0; i < count; ++i) {
    if (i) tools += " ,\n  ";
    tools += R"({"name":"tool_)" + std::to_string(i) +
             R"(","description":"Tool \u00e9 \ud83d\udd27 with \"quotes\" and a long text: )";
    for (int k = 0; k < 40; ++k) tools += "lorem ipsum dolor sit amet ";
    tools += R"(","input_schema":{"type" : "object","properties":{)";
    for (int k = 0; k < 12; ++k) {
      if (k) tools += ',';
      tools += R"("param_)" + std::to_string(k) +
               R"(":{"type":"string","description":"model or system \\ value","enum":["a","b"]})";
    }
    tools += R"(},"required":["param_0"]}})";
  }
  return tools + "]";
}

TEST(ApplyEdits, LargeBodyWithManyToolsIsEditedCorrectly) {
  const std::string tools = big_tools(48);
  std::string messages = "[";
  for (int i = 0; i < 30; ++i) {
    if (i) messages += ',';
    messages += R"({"role":")" + std::string(i % 2 ? "assistant" : "user") +
                R"(","content":[{"type":"text","text":"turn )" + std::to_string(i) +
                R"( \n with \"model\": \"fake\""}]})";
  }
  messages += "]";
  const std::string body = R"({"model":"claude-sonnet-4","max_tokens":32000,"system":[)"
                           R"({"type":"text","text":"You are Claude Code."}],"tools":)" +
                           tools + R"(,"messages":)" + messages + R"(,"stream":true})";
  ASSERT_GT(body.size(), 100u * 1024);

  const auto summary = inspect_body(wire_protocol::claude, body);
  ASSERT_TRUE(summary.summary) << summary.error;
  EXPECT_EQ(summary.summary->model, "claude-sonnet-4");
  EXPECT_TRUE(summary.summary->stream);

  body_edits e = prompt_edit("Gateway rules.", append);
  e.model = "claude-opus-4";
  std::string error;
  const auto out = apply_edits(wire_protocol::claude, body, e, &error);
  ASSERT_TRUE(out) << error;
  EXPECT_NE(out->find(tools), std::string::npos);
  EXPECT_NE(out->find(messages), std::string::npos);

  ojson expected = ojson::parse(body);
  expected["model"] = "claude-opus-4";
  expected["system"].push_back(ojson{{"type", "text"}, {"text", "Gateway rules."}});
  EXPECT_EQ(ojson::parse(*out), expected);

  // The same tools in an OpenAI body: the system message is inserted first.
  const std::string openai_body =
      R"({"model":"gpt-4o","tools":)" + tools + R"(,"messages":[{"role":"user","content":"x"}]})";
  const auto openai_out = apply_edits(wire_protocol::openai, openai_body, e, &error);
  ASSERT_TRUE(openai_out) << error;
  ojson openai_expected = ojson::parse(openai_body);
  openai_expected["model"] = "claude-opus-4";
  openai_expected["messages"].insert(openai_expected["messages"].begin(),
                                     ojson{{"role", "system"}, {"content", "Gateway rules."}});
  EXPECT_EQ(ojson::parse(*openai_out), openai_expected);
  EXPECT_NE(openai_out->find(tools), std::string::npos);
}

// Every truncation and thousands of random mutations of realistic bodies: never a crash or an
// exception; whenever the mutated body is valid JSON (by nlohmann), the edit succeeds and its
// output is valid JSON.
TEST(ApplyEdits, TruncatedAndMutatedBodiesNeverBreakTheEditor) {
  const std::vector<std::pair<wire_protocol, std::string>> bodies = {
      {wire_protocol::claude,
       R"({"model":"c","system":[{"type":"text","text":"s\n"}],"messages":[{"role":"user",)"
       R"("content":[{"type":"text","text":"hi \u00e9"}]}],"tools":)" +
           claude_tools + R"(,"stream":true})"},
      {wire_protocol::openai,
       R"({"model":"o","messages":[{"role":"user","content":"q"},{"content":[{"type":"text",)"
       R"("text":"sys"}],"role":"developer"}],"tools":)" +
           openai_tools + R"(,"stream":false})"},
      {wire_protocol::gemini,
       R"({"contents":[{"role":"user","parts":[{"text":"x"}]}],"systemInstruction":)"
       R"({"role":"system","parts":[{"text":"s"}]},"generationConfig":{"topK":3}})"},
  };
  const std::string alphabet = "{}[]\":,\\ \n0aeltnu";
  std::mt19937 rng(12345);
  for (const auto& [p, body] : bodies) {
    SCOPED_TRACE(std::string(to_string(p)));
    for (const auto mode : {overwrite, append}) {
      body_edits e = prompt_edit("P", mode);
      e.model = "M";
      for (std::size_t n = 0; n < body.size(); ++n) {
        const std::string cut = body.substr(0, n);
        EXPECT_FALSE(inspect_body(p, cut).summary) << cut;
        EXPECT_FALSE(apply_edits(p, cut, e)) << cut;
      }
      for (int i = 0; i < 1000; ++i) {
        std::string m = body;
        for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
          const std::size_t at = rng() % m.size();
          const char c = alphabet[rng() % alphabet.size()];
          switch (rng() % 3) {
            case 0:
              m[at] = c;
              break;
            case 1:
              m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), c);
              break;
            default:
              m.erase(at, 1);
              break;
          }
        }
        const auto summary = inspect_body(p, m);
        std::string error;
        const auto out = apply_edits(p, m, e, &error);
        if (!nlohmann::json::accept(m)) continue;
        const auto parsed = nlohmann::json::parse(m);
        if (!parsed.is_object()) continue;
        if (parsed.contains("model") && !parsed["model"].is_string()) continue;
        const bool stream_ok = !parsed.contains("stream") || parsed["stream"].is_boolean() ||
                               parsed["stream"].is_null();
        if (stream_ok) {
          EXPECT_TRUE(summary.summary) << summary.error << "\n" << m;
          if (summary.summary) {
            EXPECT_EQ(summary.summary->has_model, parsed.contains("model")) << m;
            EXPECT_EQ(summary.summary->model, parsed.value("model", "")) << m;
            const bool stream = parsed.contains("stream") && parsed["stream"].is_boolean() &&
                                parsed["stream"].get<bool>();
            EXPECT_EQ(summary.summary->stream, stream) << m;
          }
        }
        if (!out) {
          // Only a wrongly typed system field may refuse the edit.
          EXPECT_NE(error.find("must be"), std::string::npos) << error << "\n" << m;
          continue;
        }
        EXPECT_TRUE(nlohmann::json::accept(*out)) << m << "\n=>\n" << *out;
      }
    }
  }
}

}  // namespace

namespace {
TEST(InspectBody, ReadsStreamOptionsIncludeUsage) {
  auto r = aiclient::protocol::inspect_body(
      aiclient::protocol::wire_protocol::openai,
      R"({"model":"m","stream":true,"stream_options":{"other":1,"include_usage":true},"messages":[]})");
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_TRUE(r.summary->include_usage);
  r = aiclient::protocol::inspect_body(aiclient::protocol::wire_protocol::openai,
                                       R"({"model":"m","stream_options":{"include_usage":false}})");
  ASSERT_TRUE(r.summary);
  EXPECT_FALSE(r.summary->include_usage);
  r = aiclient::protocol::inspect_body(aiclient::protocol::wire_protocol::openai,
                                       R"({"model":"m","stream_options":null})");
  ASSERT_TRUE(r.summary);
  EXPECT_FALSE(r.summary->include_usage);
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Parsing in place (a buffer with room for the padding) gives what parsing a copy gives.

namespace in_place {

std::string with_room(std::string_view text) {
  std::string s;
  s.reserve(text.size() + aiclient::protocol::json_padding);
  s.append(text);
  return s;
}

TEST(InspectBodyInPlace, SameSummaryAndErrorsAsTheCopy) {
  const std::vector<std::string> bodies = {
      R"({"model":"gpt-4o","stream":true,"messages":[]})",
      "{\"model\":\"claude\",\"tools\":" + claude_tools + ",\"stream\":false}",
      R"({"model":"caf\u00e9","messages":[{"role":"user","content":"x"}]})",
      R"({"model":)",          // truncated
      R"(["not an object"])",  // wrong root
      R"({"model":1})",        // wrong type
      "",                      // empty
  };
  for (const auto& text : bodies) {
    const std::string body = with_room(text);
    ASSERT_GE(body.capacity(), body.size() + aiclient::protocol::json_padding);
    const auto copied = inspect_body(wire_protocol::openai, std::string_view(body));
    const auto in_place = inspect_body(wire_protocol::openai, body, body.capacity());
    EXPECT_EQ(copied.error, in_place.error) << text;
    ASSERT_EQ(copied.summary.has_value(), in_place.summary.has_value()) << text;
    if (copied.summary) {
      EXPECT_EQ(copied.summary->model, in_place.summary->model) << text;
      EXPECT_EQ(copied.summary->stream, in_place.summary->stream) << text;
    }
  }
}

TEST(ApplyEditsInPlace, SameBytesAsTheCopy) {
  const std::string body =
      with_room("{ \"system\" : \"be brief\", \"model\":\"old\",\"tools\":" + claude_tools +
                ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  body_edits edits;
  edits.model = "new-model";
  edits.system_prompt = "Always answer in French.";
  std::string err_copy, err_in_place;
  const auto copied = apply_edits(wire_protocol::claude, std::string_view(body), edits, &err_copy);
  const auto in_place =
      apply_edits(wire_protocol::claude, body, body.capacity(), edits, &err_in_place);
  ASSERT_TRUE(copied) << err_copy;
  ASSERT_TRUE(in_place) << err_in_place;
  EXPECT_EQ(*copied, *in_place);
  EXPECT_NE(in_place->find("\"new-model\""), std::string::npos);
  EXPECT_NE(in_place->find("Always answer in French."), std::string::npos);
}

TEST(InspectBodyInPlace, TooLittleRoomFallsBackToACopy) {
  // `allocated` smaller than size + padding: the body is copied, the result is the same.
  const std::string body = R"({"model":"m","stream":true})";
  const auto r = inspect_body(wire_protocol::openai, body, body.size());
  ASSERT_TRUE(r.summary) << r.error;
  EXPECT_EQ(r.summary->model, "m");
  EXPECT_TRUE(r.summary->stream);
}

}  // namespace in_place
