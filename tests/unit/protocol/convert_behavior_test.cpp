// What a client sees across conversions: tool loops over several turns with ids kept, thought
// signatures that come back, provider constraints (Claude's max_tokens and thinking rules, tool
// id characters, Gemini schemas), exact text, model and stream options, the canonical model.
#include <gtest/gtest.h>

#include <string>

#include "aiclient/protocol/canonical.hpp"
#include "convert_test_support.hpp"

namespace {

using namespace convert_test;
using aiclient::protocol::canonical_request;
using aiclient::protocol::convert_request;
using aiclient::protocol::convert_response;
using aiclient::protocol::message_role;
using aiclient::protocol::part_kind;

constexpr auto openai = wire_protocol::openai;
constexpr auto claude = wire_protocol::claude;
constexpr auto gemini = wire_protocol::gemini;

// The converted body as JSON; a failed conversion fails the test and gives null.
json request(wire_protocol from, wire_protocol to, const json& body, request_options opts = {}) {
  const convert_result r = convert_request(from, to, body.dump(), opts);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.ok() ? json::parse(r.body) : json();
}

json response(wire_protocol from, wire_protocol to, const json& body, std::string_view model = "") {
  const convert_result r = convert_response(from, to, body.dump(), model);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.ok() ? json::parse(r.body) : json();
}

const json weather_tool_openai = {
    {"type", "function"},
    {"function",
     {{"name", "get_weather"},
      {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};

TEST(convert_behavior, openai_client_parallel_tool_loop_on_a_claude_upstream_keeps_ids) {
  // 1. Claude answers with two parallel tool calls; the OpenAI client sees both, ids kept.
  const json claude_answer = {{"id", "msg_1"},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"model", "claude-sonnet-4"},
                              {"content",
                               {{{"type", "tool_use"},
                                 {"id", "toolu_P"},
                                 {"name", "get_weather"},
                                 {"input", {{"city", "Paris"}}}},
                                {{"type", "tool_use"},
                                 {"id", "toolu_L"},
                                 {"name", "get_weather"},
                                 {"input", {{"city", "London"}}}}}},
                              {"stop_reason", "tool_use"},
                              {"usage", {{"input_tokens", 10}, {"output_tokens", 20}}}};
  const json seen = response(claude, openai, claude_answer);
  const json& msg = seen["choices"][0]["message"];
  ASSERT_EQ(msg["tool_calls"].size(), 2u);
  EXPECT_EQ(msg["tool_calls"][0]["id"], "toolu_P");
  EXPECT_EQ(msg["tool_calls"][1]["id"], "toolu_L");
  EXPECT_EQ(json::parse(msg["tool_calls"][1]["function"]["arguments"].get<std::string>()),
            json({{"city", "London"}}));
  EXPECT_EQ(seen["choices"][0]["finish_reason"], "tool_calls");

  // 2. The client runs both and sends the results as two tool messages.
  json next = {{"model", "claude-sonnet-4"},
               {"tools", {weather_tool_openai}},
               {"messages",
                {{{"role", "user"}, {"content", "Weather in Paris and London?"}},
                 msg,
                 {{"role", "tool"}, {"tool_call_id", "toolu_P"}, {"content", "18C"}},
                 {{"role", "tool"}, {"tool_call_id", "toolu_L"}, {"content", "12C"}}}}};
  const json upstream = request(openai, claude, next);
  const json& messages = upstream["messages"];
  ASSERT_EQ(messages.size(), 3u) << upstream.dump(2);
  EXPECT_EQ(messages[1]["content"][0]["id"], "toolu_P");
  EXPECT_EQ(messages[1]["content"][1]["id"], "toolu_L");
  // Both results in ONE user message (Claude wants alternation), in order, ids kept.
  ASSERT_EQ(messages[2]["role"], "user");
  ASSERT_EQ(messages[2]["content"].size(), 2u);
  EXPECT_EQ(messages[2]["content"][0]["tool_use_id"], "toolu_P");
  EXPECT_EQ(messages[2]["content"][0]["content"], "18C");
  EXPECT_EQ(messages[2]["content"][1]["tool_use_id"], "toolu_L");
}

TEST(convert_behavior, tool_ids_reach_claude_with_only_the_characters_it_accepts) {
  // Claude accepts [A-Za-z0-9_-] in tool ids: others become '_' (a byte each), on the call and
  // on its result alike; an id made of accepted characters is kept as it is.
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"go"},{"role":"assistant","tool_calls":[)"
      R"({"id":"call:1/\u00e9.x","type":"function","function":{"name":"f","arguments":"{}"}},)"
      R"({"id":"Az09_-","type":"function","function":{"name":"g","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call:1/\u00e9.x","content":"a"},)"
      R"({"role":"tool","tool_call_id":"Az09_-","content":"b"}]})";
  const convert_result r = convert_request(openai, claude, body, {});
  ASSERT_TRUE(r.ok()) << r.error;
  const json out = json::parse(r.body);
  const json& calls = out["messages"][1]["content"];
  EXPECT_EQ(calls[0]["id"], "call_1____x") << r.body;
  EXPECT_EQ(calls[1]["id"], "Az09_-") << r.body;
  const json& results = out["messages"][2]["content"];
  EXPECT_EQ(results[0]["tool_use_id"], "call_1____x") << r.body;
  EXPECT_EQ(results[1]["tool_use_id"], "Az09_-") << r.body;
}

TEST(convert_behavior, openai_client_tool_loop_on_a_gemini_upstream_matches_results_by_id) {
  // Gemini sends no call ids: the client gets stable made-up ones...
  const json gemini_answer = {
      {"candidates",
       {{{"content",
          {{"role", "model"},
           {"parts",
            {{{"functionCall", {{"name", "get_weather"}, {"args", {{"city", "Paris"}}}}}},
             {{"functionCall", {{"name", "get_time"}, {"args", json::object()}}}}}}}},
         {"finishReason", "STOP"}}}},
      {"usageMetadata", {{"promptTokenCount", 5}, {"candidatesTokenCount", 7}}}};
  const json seen = response(gemini, openai, gemini_answer, "gemini-2.5-pro");
  const json& calls = seen["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(seen["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(seen["model"], "gemini-2.5-pro");
  const std::string id_weather = calls[0]["id"];
  const std::string id_time = calls[1]["id"];
  EXPECT_NE(id_weather, id_time);

  // ...and its results (in any order) go back with the right function names.
  json next = {{"messages",
                {{{"role", "user"}, {"content", "Weather and time?"}},
                 seen["choices"][0]["message"],
                 {{"role", "tool"}, {"tool_call_id", id_time}, {"content", "10:00"}},
                 {{"role", "tool"}, {"tool_call_id", id_weather}, {"content", "18C"}}}}};
  const json upstream = request(openai, gemini, next);
  const json& contents = upstream["contents"];
  ASSERT_EQ(contents.size(), 3u) << upstream.dump(2);
  EXPECT_EQ(contents[1]["role"], "model");
  EXPECT_EQ(contents[1]["parts"].size(), 2u);
  const json& results = contents[2]["parts"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["functionResponse"]["name"], "get_time");
  EXPECT_EQ(results[0]["functionResponse"]["response"]["output"], "10:00");
  EXPECT_EQ(results[1]["functionResponse"]["name"], "get_weather");
}

TEST(convert_behavior, gemini_client_ids_survive_an_openai_upstream) {
  const json openai_answer = {
      {"id", "chatcmpl-1"},
      {"object", "chat.completion"},
      {"created", 1},
      {"model", "gpt-4o"},
      {"choices",
       {{{"index", 0},
         {"message",
          {{"role", "assistant"},
           {"content", nullptr},
           {"tool_calls",
            {{{"id", "call_A"},
              {"type", "function"},
              {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}},
             {{"id", "call_B"},
              {"type", "function"},
              {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Rome\"}"}}}}}}}},
         {"finish_reason", "tool_calls"}}}},
      {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 2}}}};
  const json seen = response(openai, gemini, openai_answer);
  const json& parts = seen["candidates"][0]["content"]["parts"];
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]["functionCall"]["id"], "call_A");
  EXPECT_EQ(parts[1]["functionCall"]["args"], json({{"city", "Rome"}}));

  // A Gemini client that echoes the ids gets them matched exactly; one that drops them (and
  // answers by name, in order) gets consistent made-up ids.
  for (const bool echo_ids : {true, false}) {
    json model_turn = {{"role", "model"}, {"parts", parts}};
    json r1 = {{"functionResponse", {{"name", "get_weather"}, {"response", {{"output", "18C"}}}}}};
    json r2 = {{"functionResponse", {{"name", "get_weather"}, {"response", {{"output", "25C"}}}}}};
    if (echo_ids) {
      r1["functionResponse"]["id"] = "call_A";
      r2["functionResponse"]["id"] = "call_B";
    } else {
      for (json& p : model_turn["parts"]) p["functionCall"].erase("id");
    }
    const json next = {{"contents",
                        {{{"role", "user"}, {"parts", {{{"text", "Weather?"}}}}},
                         model_turn,
                         {{"role", "user"}, {"parts", {r1, r2}}}}}};
    const json upstream = request(gemini, openai, next, {"gpt-4o", false});
    const json& m = upstream["messages"];
    ASSERT_EQ(m.size(), 4u) << upstream.dump(2);
    const json& calls = m[1]["tool_calls"];
    EXPECT_EQ(m[2]["tool_call_id"], calls[0]["id"]);
    EXPECT_EQ(m[2]["content"], "18C");
    EXPECT_EQ(m[3]["tool_call_id"], calls[1]["id"]);
    EXPECT_EQ(m[3]["content"], "25C");
    if (echo_ids) {
      EXPECT_EQ(calls[0]["id"], "call_A");
    }
  }
}

TEST(convert_behavior, gemini_signatures_come_back_through_a_claude_client) {
  const json gemini_answer = {
      {"candidates",
       {{{"content",
          {{"role", "model"},
           {"parts",
            {{{"thought", true},
              {"text", "Need the weather."},
              {"thoughtSignature", "SIG_THOUGHT"}},
             {{"functionCall", {{"name", "get_weather"}, {"args", {{"city", "Paris"}}}}},
              {"thoughtSignature", "SIG_CALL"}}}}}},
         {"finishReason", "STOP"}}}}};
  const json seen = response(gemini, claude, gemini_answer, "gemini-3-pro");
  EXPECT_EQ(seen["stop_reason"], "tool_use");
  const json& content = seen["content"];
  ASSERT_GE(content.size(), 2u);
  EXPECT_EQ(content[0]["type"], "thinking");
  EXPECT_EQ(content[0]["thinking"], "Need the weather.");
  EXPECT_EQ(content[0]["signature"], "SIG_THOUGHT");
  const std::string tool_id = content.back()["id"];

  // Claude Code sends the assistant turn back as it got it, with the tool result.
  const json next = {
      {"model", "claude-sonnet-4"},
      {"max_tokens", 4000},
      {"messages",
       {{{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"}, {"content", content}},
        {{"role", "user"},
         {"content", {{{"type", "tool_result"}, {"tool_use_id", tool_id}, {"content", "18C"}}}}}}}};
  const json upstream = request(claude, gemini, next);
  const json& model_parts = upstream["contents"][1]["parts"];
  ASSERT_EQ(model_parts.size(), 2u) << upstream.dump(2);
  EXPECT_EQ(model_parts[0]["thought"], true);
  EXPECT_EQ(model_parts[0]["thoughtSignature"], "SIG_THOUGHT");
  EXPECT_EQ(model_parts[1]["functionCall"]["name"], "get_weather");
  EXPECT_EQ(model_parts[1]["thoughtSignature"], "SIG_CALL");
  EXPECT_EQ(upstream["contents"][2]["parts"][0]["functionResponse"]["name"], "get_weather");
}

TEST(convert_behavior, calls_without_a_known_signature_get_the_documented_gemini_placeholder) {
  const json body = {
      {"model", "x"},
      {"messages",
       {{{"role", "user"}, {"content", "Go"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}},
           {{"id", "c2"},
            {"type", "function"},
            {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "a"}},
        {{"role", "tool"}, {"tool_call_id", "c2"}, {"content", "b"}}}}};
  const json parts = request(openai, gemini, body)["contents"][1]["parts"];
  ASSERT_EQ(parts.size(), 2u);
  // Only the first call of a model turn needs one (Gemini 3 validates exactly that part).
  EXPECT_EQ(parts[0]["thoughtSignature"], "skip_thought_signature_validator");
  EXPECT_FALSE(parts[1].contains("thoughtSignature"));
}

TEST(convert_behavior, claude_gets_the_max_tokens_and_thinking_it_requires) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  EXPECT_EQ(request(openai, claude, body)["max_tokens"], 8192);

  body["reasoning_effort"] = "low";
  body["temperature"] = 0.3;
  json up = request(openai, claude, body);
  EXPECT_EQ(up["thinking"]["type"], "enabled");
  EXPECT_EQ(up["thinking"]["budget_tokens"], 1024);
  EXPECT_GT(up["max_tokens"].get<int>(), up["thinking"]["budget_tokens"].get<int>());
  EXPECT_FALSE(up.contains("temperature")) << "Claude rejects temperature != 1 with thinking";

  body["max_tokens"] = 1500;  // budget must stay below max_tokens
  body["reasoning_effort"] = "high";
  up = request(openai, claude, body);
  EXPECT_EQ(up["max_tokens"], 1500);
  EXPECT_LT(up["thinking"]["budget_tokens"].get<int>(), 1500);
  EXPECT_GE(up["thinking"]["budget_tokens"].get<int>(), 1024);

  body["max_tokens"] = 1000;  // no room for Claude's minimum budget: no thinking
  EXPECT_FALSE(request(openai, claude, body).contains("thinking"));

  body.erase("max_tokens");
  body["tools"] = {weather_tool_openai};
  body["tool_choice"] = "required";  // forced tool use excludes thinking on Claude
  up = request(openai, claude, body);
  EXPECT_FALSE(up.contains("thinking"));
  EXPECT_EQ(up["tool_choice"]["type"], "any");

  json hot = {
      {"model", "m"}, {"temperature", 1.8}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  EXPECT_EQ(request(openai, claude, hot)["temperature"], 1.0) << "Claude's range is 0..1";
}

TEST(convert_behavior, claude_tool_ids_are_made_valid_consistently) {
  const json body = {
      {"model", "m"},
      {"messages",
       {{{"role", "user"}, {"content", "Go"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "functions.get_weather:0"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", ""}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "functions.get_weather:0"}, {"content", "ok"}}}}};
  const json up = request(openai, claude, body);
  const json& use = up["messages"][1]["content"][0];
  EXPECT_EQ(use["id"], "functions_get_weather_0");
  EXPECT_EQ(use["input"], json::object()) << "empty arguments become {}";
  EXPECT_EQ(up["messages"][2]["content"][0]["tool_use_id"], "functions_get_weather_0");
}

TEST(convert_behavior, text_survives_every_direction_character_for_character) {
  const std::string tricky =
      "quote \" backslash \\ slash / tab \t newline \n nul-ish \x01 é 日本 😀 \\u0041 "
      "</script> {\"json\": [1, 2]}";
  const json body = {{"model", "m"},
                     {"messages",
                      {{{"role", "system"}, {"content", tricky}},
                       {{"role", "user"}, {"content", tricky}},
                       {{"role", "assistant"}, {"content", tricky}},
                       {{"role", "user"}, {"content", "again"}}}}};
  for (const wire_protocol mid : {claude, gemini}) {
    const json up = request(openai, mid, body);
    const json back = request(mid, openai, up, {"m", false});
    ASSERT_EQ(back["messages"].size(), 4u) << back.dump(2);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(back["messages"][i]["content"], tricky) << i;
  }
  // Escaped input (\u sequences, surrogate pairs) stays the same characters.
  const std::string escaped_body =
      R"({"model":"m","messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00 \"q\" \/"}]})";
  const convert_result r = convert_request(openai, claude, escaped_body, {});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(json::parse(r.body)["messages"][0]["content"], "café 😀 \"q\" /");
}

TEST(convert_behavior, options_set_the_model_and_the_stream) {
  const json gemini_body = {{"contents", {{{"role", "user"}, {"parts", {{{"text", "Hi"}}}}}}}};
  const json up = request(gemini, openai, gemini_body, {"gpt-4o-mini", true});
  EXPECT_EQ(up["model"], "gpt-4o-mini");
  EXPECT_EQ(up["stream"], true);
  EXPECT_EQ(up["stream_options"]["include_usage"], true) << "usage is needed for the client";

  const json claude_up = request(gemini, claude, gemini_body, {"claude-x", true});
  EXPECT_EQ(claude_up["model"], "claude-x");
  EXPECT_EQ(claude_up["stream"], true);

  const json openai_body = {
      {"model", "alias"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  const json to_gemini = request(openai, gemini, openai_body, {"gemini-2.5-flash", true});
  EXPECT_FALSE(to_gemini.contains("model")) << "Gemini's model and stream go in the URL";
  EXPECT_FALSE(to_gemini.contains("stream"));
  EXPECT_EQ(request(openai, claude, openai_body, {"claude-real", false})["model"], "claude-real");
}

TEST(convert_behavior, gemini_schemas_lose_every_rejected_keyword_at_any_depth) {
  const json schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"items_list",
         {{"type", "array"},
          {"items", {{"$ref", "#/$defs/item"}}},
          {"minItems", 1},
          {"uniqueItems", true}}},
        {"mode", {{"oneOf", {{{"const", "a"}}, {{"const", "b"}}}}}},
        {"count", {{"type", "integer"}, {"exclusiveMinimum", 0}, {"multipleOf", 2}}},
        {"$schema", {{"type", "string"}, {"description", "a property with a keyword's name"}}},
        {"tree", {{"$ref", "#/$defs/node"}}}}},
      {"$defs",
       {{"item",
         {{"type", "object"},
          {"properties", {{"name", {{"type", "string"}, {"pattern", "^[a-z]+$"}}}}},
          {"additionalProperties", false},
          {"patternProperties", {{"^x-", {{"type", "string"}}}}}}},
        {"node",  // recursive: expanded to a bounded depth
         {{"type", "object"},
          {"properties",
           {{"children", {{"type", "array"}, {"items", {{"$ref", "#/$defs/node"}}}}}}}}}}}};
  const std::string cleaned = aiclient::protocol::clean_schema_for_gemini(schema.dump());
  json out;
  ASSERT_NO_THROW(out = json::parse(cleaned)) << cleaned;
  const std::set<std::string> allowed = {
      "type",      "format",   "title",         "description",   "nullable",
      "enum",      "items",    "properties",    "required",      "anyOf",
      "minItems",  "maxItems", "minimum",       "maximum",       "minLength",
      "maxLength", "pattern",  "minProperties", "maxProperties", "propertyOrdering"};
  std::function<void(const json&, const std::string&)> check = [&](const json& s,
                                                                   const std::string& path) {
    ASSERT_TRUE(s.is_object()) << path;
    for (const auto& [k, v] : s.items()) {
      EXPECT_TRUE(allowed.count(k)) << "keyword " << k << " left at " << path;
      if (k == "properties") {
        for (const auto& [name, sub] : v.items()) check(sub, path + "/" + name);
      } else if (k == "items") {
        check(v, path + "/items");
      } else if (k == "anyOf") {
        for (const json& sub : v) check(sub, path + "/anyOf");
      }
    }
  };
  check(out, "");
  EXPECT_TRUE(out["properties"].contains("$schema")) << "property names are data, not keywords";
  EXPECT_EQ(out["properties"]["items_list"]["items"]["properties"]["name"]["pattern"], "^[a-z]+$");
  EXPECT_EQ(out["properties"]["mode"]["anyOf"][1]["enum"], json({"b"}));
  EXPECT_LT(cleaned.size(), 20000u) << "recursive $ref expansion is bounded";
}

TEST(convert_behavior, unknown_fields_stay_in_their_own_protocol) {
  const json body = {{"model", "m"},
                     {"logprobs", true},
                     {"service_tier", "flex"},
                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  const json same = request(openai, openai, body);
  EXPECT_EQ(same["logprobs"], true);
  EXPECT_EQ(same["service_tier"], "flex");
  const json other = request(openai, claude, body);
  EXPECT_FALSE(other.contains("logprobs"));
  EXPECT_FALSE(other.contains("service_tier"));
}

TEST(convert_behavior, the_canonical_model_holds_what_the_client_said) {
  const std::string body = R"({
    "model": "gpt-4o", "stream": true, "temperature": 0.25, "stop": "END",
    "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Look"},
                                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
      {"role": "assistant", "reasoning_content": "hmm", "content": null,
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "done"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}}})";
  canonical_request q;
  ASSERT_EQ(decode_request(openai, body, q), "");
  EXPECT_EQ(q.memory.plain(q.model), "gpt-4o");
  EXPECT_TRUE(q.stream);
  ASSERT_TRUE(q.temperature);
  EXPECT_EQ(*q.temperature, 0.25);
  ASSERT_EQ(q.stop.size(), 1u);
  EXPECT_TRUE(q.stop_string);
  ASSERT_EQ(q.messages.size(), 4u);
  EXPECT_EQ(q.messages[0].role, message_role::developer);
  ASSERT_EQ(q.messages[1].parts.size(), 2u);
  const auto& image = q.messages[1].parts[1];
  EXPECT_EQ(image.kind, part_kind::media);
  EXPECT_EQ(q.memory.plain(image.media_type), "image/png");
  EXPECT_EQ(q.memory.plain(image.data), "AAAA");
  const auto& assistant = q.messages[2];
  ASSERT_EQ(assistant.parts.size(), 2u);
  EXPECT_EQ(assistant.parts[0].kind, part_kind::thinking);
  EXPECT_EQ(assistant.parts[1].kind, part_kind::tool_call);
  EXPECT_EQ(q.memory.plain(assistant.parts[1].arguments), R"({"a":1})");
  EXPECT_EQ(q.messages[3].role, message_role::user);
  EXPECT_EQ(q.messages[3].parts[0].kind, part_kind::tool_result);
  EXPECT_EQ(q.memory.plain(q.messages[3].parts[0].id), "c1");
  ASSERT_EQ(q.tools.size(), 1u);
  EXPECT_EQ(q.tools[0].parameters, R"({"type": "object"})");
  EXPECT_EQ(q.choice.mode, aiclient::protocol::tool_choice_mode::named);

  // Moving the value keeps its views valid (they point into buffers it owns).
  canonical_request moved = std::move(q);
  EXPECT_EQ(moved.memory.plain(moved.messages[1].parts[0].text), "Look");
}

TEST(convert_behavior, usage_with_cache_and_reasoning_reaches_every_client) {
  const json gemini_answer = {{"candidates",
                               {{{"content", {{"role", "model"}, {"parts", {{{"text", "ok"}}}}}},
                                 {"finishReason", "STOP"}}}},
                              {"usageMetadata",
                               {{"promptTokenCount", 1000},
                                {"cachedContentTokenCount", 600},
                                {"candidatesTokenCount", 50},
                                {"thoughtsTokenCount", 200},
                                {"totalTokenCount", 1250}}}};
  const json o = response(gemini, openai, gemini_answer);
  EXPECT_EQ(o["usage"]["prompt_tokens"], 1000);
  EXPECT_EQ(o["usage"]["completion_tokens"], 250);
  EXPECT_EQ(o["usage"]["total_tokens"], 1250);
  EXPECT_EQ(o["usage"]["prompt_tokens_details"]["cached_tokens"], 600);
  EXPECT_EQ(o["usage"]["completion_tokens_details"]["reasoning_tokens"], 200);
  const json c = response(gemini, claude, gemini_answer);
  EXPECT_EQ(c["usage"]["input_tokens"], 400) << "Claude counts cache reads apart";
  EXPECT_EQ(c["usage"]["cache_read_input_tokens"], 600);
  EXPECT_EQ(c["usage"]["output_tokens"], 250);
}

TEST(convert_behavior, a_claude_code_sized_request_converts_whole) {
  const std::string body = claude_code_like_request();
  ASSERT_GT(body.size(), 100000u);
  const json in = json::parse(body);
  for (const wire_protocol to : {openai, gemini}) {
    const convert_result r = convert_request(claude, to, body, {"target-model", true});
    ASSERT_TRUE(r.ok()) << r.error;
    const json out = json::parse(r.body);
    if (to == openai) {
      EXPECT_EQ(out["tools"].size(), 24u);
      EXPECT_EQ(out["tools"][3]["function"]["parameters"], in["tools"][3]["input_schema"]);
      EXPECT_EQ(out["messages"][0]["role"], "system");
      // system, then user / assistant with its tool call / tool result for each turn.
      EXPECT_EQ(out["messages"][2]["tool_calls"][0]["id"], "toolu_011000");
      EXPECT_EQ(out["messages"][3]["tool_call_id"], "toolu_011000");
      EXPECT_EQ(out["messages"][3]["content"], in["messages"][2]["content"][0]["content"]);
      EXPECT_EQ(out["messages"].size(), 1 + 14 * 3 + 1u);
    } else {
      EXPECT_EQ(out["tools"][0]["functionDeclarations"].size(), 24u);
      // Each tool result and the next user turn share one user content (Gemini alternates).
      EXPECT_EQ(out["contents"].size(), in["messages"].size() - 14);
      EXPECT_EQ(out["contents"][2]["parts"][0]["functionResponse"]["response"]["output"],
                in["messages"][2]["content"][0]["content"]);
    }
  }
}

}  // namespace
