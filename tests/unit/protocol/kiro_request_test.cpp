// Canonical request -> Kiro generateAssistantResponse body: system prompt, history, tools and
// tool results, images, the constraints Kiro enforces, model mapping, headers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "aiclient/protocol/canonical.hpp"
#include "aiclient/protocol/kiro.hpp"
#include "stream_test_support.hpp"
#include "support/test_paths.hpp"

namespace {

namespace kiro = aiclient::protocol::kiro;
using aiclient::protocol::canonical_request;
using aiclient::protocol::wire_protocol;
using json = nlohmann::json;

struct built {
  kiro::built_request r;
  json body;
  json state;    ///< conversationState
  json current;  ///< currentMessage.userInputMessage
  json history;  ///< conversationState.history (array, possibly empty)
};

built build(wire_protocol from, const json& request, kiro::build_options opts = {}) {
  canonical_request q;
  const std::string error = aiclient::protocol::decode_request(from, request.dump(), q);
  EXPECT_EQ(error, "");
  built b;
  b.r = kiro::build_request(q, opts);
  EXPECT_TRUE(b.r.ok()) << b.r.error;
  b.body = json::parse(b.r.body);
  b.state = b.body["conversationState"];
  b.current = b.state["currentMessage"]["userInputMessage"];
  b.history = b.state.contains("history") ? b.state["history"] : json::array();
  return b;
}

built claude(const json& request, kiro::build_options opts = {}) {
  json r = request;
  if (!r.contains("model")) r["model"] = "claude-sonnet-4-5-20250929";
  if (!r.contains("max_tokens")) r["max_tokens"] = 1024;
  return build(wire_protocol::claude, r, std::move(opts));
}

built openai(const json& request, kiro::build_options opts = {}) {
  json r = request;
  if (!r.contains("model")) r["model"] = "claude-sonnet-4-5";
  return build(wire_protocol::openai, r, std::move(opts));
}

bool is_user(const json& turn) {
  return turn.contains("userInputMessage");
}

// History rules every body must follow: user first, alternating, assistant last; every user
// message with modelId and origin; every history tool use answered by a later result; every
// tool used in the history declared.
void expect_valid_shape(const built& b) {
  EXPECT_EQ(b.state["chatTriggerType"], "MANUAL");
  EXPECT_EQ(b.state["agentTaskType"], "vibe");
  EXPECT_TRUE(std::regex_match(
      b.state["conversationId"].get<std::string>(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_FALSE(b.current["content"].get<std::string>().empty());
  EXPECT_EQ(b.current["origin"], "AI_EDITOR");
  EXPECT_EQ(b.current["modelId"], b.r.model_id);
  EXPECT_FALSE(b.state.contains("history") && b.state["history"].empty());
  std::set<std::string> results;
  std::set<std::string> declared;
  auto collect_results = [&](const json& u) {
    if (u.contains("userInputMessageContext") &&
        u["userInputMessageContext"].contains("toolResults")) {
      for (const json& r : u["userInputMessageContext"]["toolResults"]) {
        EXPECT_TRUE(results.insert(r["toolUseId"].get<std::string>()).second) << "duplicate result";
      }
    }
  };
  for (std::size_t i = 0; i < b.history.size(); ++i) {
    const json& t = b.history[i];
    EXPECT_EQ(is_user(t), i % 2 == 0) << "history does not alternate at " << i << ": " << t.dump();
    if (is_user(t)) {
      EXPECT_EQ(t["userInputMessage"]["modelId"], b.r.model_id);
      EXPECT_EQ(t["userInputMessage"]["origin"], "AI_EDITOR");
      EXPECT_FALSE(t["userInputMessage"]["content"].get<std::string>().empty());
      collect_results(t["userInputMessage"]);
    }
  }
  if (!b.history.empty()) {
    EXPECT_FALSE(is_user(b.history.back()));
  }
  collect_results(b.current);
  if (b.current.contains("userInputMessageContext") &&
      b.current["userInputMessageContext"].contains("tools")) {
    for (const json& t : b.current["userInputMessageContext"]["tools"]) {
      const std::string name = t["toolSpecification"]["name"];
      EXPECT_LE(name.size(), 64u);
      std::string l = name;
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      declared.insert(l);
    }
  }
  std::set<std::string> uses;
  for (const json& t : b.history) {
    if (!t.contains("assistantResponseMessage")) continue;
    const json& a = t["assistantResponseMessage"];
    if (!a.contains("toolUses")) continue;
    for (const json& u : a["toolUses"]) {
      const std::string id = u["toolUseId"];
      EXPECT_TRUE(uses.insert(id).second) << "duplicate tool use " << id;
      EXPECT_TRUE(results.count(id)) << "tool use " << id << " has no result";
      EXPECT_TRUE(u["input"].is_object());
      std::string l = u["name"];
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      EXPECT_TRUE(declared.count(l)) << "tool " << l << " used but not declared";
    }
  }
  for (const std::string& r : results) EXPECT_TRUE(uses.count(r)) << "result " << r << " orphan";
}

const json weather_tool = {{"name", "get_weather"},
                           {"description", "Weather of a city"},
                           {"input_schema",
                            {{"type", "object"},
                             {"properties", {{"city", {{"type", "string"}}}}},
                             {"required", {"city"}}}}};

TEST(kiro_request, single_user_message) {
  const built b = claude({{"messages", {{{"role", "user"}, {"content", "Hello"}}}}});
  expect_valid_shape(b);
  EXPECT_EQ(b.current["content"], "Hello");
  EXPECT_EQ(b.current["modelId"], "claude-sonnet-4.5");
  EXPECT_EQ(b.r.model_id, "claude-sonnet-4.5");
  EXPECT_FALSE(b.state.contains("history"));
  EXPECT_FALSE(b.current.contains("userInputMessageContext"));
  EXPECT_FALSE(b.current.contains("images"));
  EXPECT_FALSE(b.body.contains("profileArn"));
  EXPECT_EQ(b.state["conversationId"], b.r.conversation_id);
  EXPECT_GT(b.r.input_tokens_estimate, 0);
  EXPECT_FALSE(b.r.thinking);
  // No nulls anywhere.
  EXPECT_EQ(b.r.body.find("null"), std::string::npos) << b.r.body;
}

TEST(kiro_request, profile_arn_conversation_id_and_model_override) {
  kiro::build_options opts;
  opts.profile_arn = "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABCDEF";
  opts.conversation_id = "11111111-2222-4333-8444-555555555555";
  opts.model = "claude-opus-4-6";
  const built b = claude({{"messages", {{{"role", "user"}, {"content", "Hi"}}}}}, opts);
  EXPECT_EQ(b.body["profileArn"], opts.profile_arn);
  EXPECT_EQ(b.state["conversationId"], opts.conversation_id);
  EXPECT_EQ(b.current["modelId"], "claude-opus-4.6");
}

TEST(kiro_request, system_prompt_is_a_leading_user_assistant_pair) {
  const built b = claude(
      {{"system", "You are terse."}, {"messages", {{{"role", "user"}, {"content", "Hello"}}}}});
  expect_valid_shape(b);
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_EQ(b.history[0]["userInputMessage"]["content"], "You are terse.");
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["content"],
            "I will follow these instructions.");
  EXPECT_EQ(b.current["content"], "Hello");
  // OpenAI system and developer messages, wherever they are, join the system text.
  const built o = openai({{"messages",
                           {{{"role", "system"}, {"content", "Rule one."}},
                            {{"role", "user"}, {"content", "Hi"}},
                            {{"role", "developer"}, {"content", "Rule two."}},
                            {{"role", "user"}, {"content", "Again"}}}}});
  expect_valid_shape(o);
  EXPECT_EQ(o.history[0]["userInputMessage"]["content"], "Rule one.\n\nRule two.");
  EXPECT_EQ(o.current["content"], "Hi\n\nAgain");
}

TEST(kiro_request, thinking_enabled_adds_the_thinking_mode_text) {
  const built b = claude({{"system", "Be careful."},
                          {"thinking", {{"type", "enabled"}, {"budget_tokens", 5000}}},
                          {"max_tokens", 8000},
                          {"messages", {{{"role", "user"}, {"content", "Solve it"}}}}});
  expect_valid_shape(b);
  EXPECT_TRUE(b.r.thinking);
  EXPECT_EQ(b.history[0]["userInputMessage"]["content"],
            "<thinking_mode>enabled</thinking_mode><max_thinking_length>5000</max_thinking_length>"
            "\n\nBe careful.");
  // Without a system prompt the pair carries the thinking text alone; OpenAI effort turns it on.
  const built o = openai(
      {{"reasoning_effort", "high"}, {"messages", {{{"role", "user"}, {"content", "Solve"}}}}});
  EXPECT_TRUE(o.r.thinking);
  EXPECT_EQ(
      o.history[0]["userInputMessage"]["content"],
      "<thinking_mode>enabled</thinking_mode><max_thinking_length>20000</max_thinking_length>");
}

TEST(kiro_request, multi_turn_with_tool_calls_and_results) {
  const json request = {
      {"system", "sys"},
      {"tools", {weather_tool}},
      {"messages",
       {{{"role", "user"}, {"content", "Weather in Paris and Rome?"}},
        {{"role", "assistant"},
         {"content",
          {{{"type", "thinking"}, {"thinking", "Two calls."}, {"signature", "sig"}},
           {{"type", "text"}, {"text", "Checking."}},
           {{"type", "tool_use"},
            {"id", "toolu_1"},
            {"name", "get_weather"},
            {"input", {{"city", "Paris"}}}},
           {{"type", "tool_use"},
            {"id", "toolu_2"},
            {"name", "get_weather"},
            {"input", {{"city", "Rome"}}}}}}},
        {{"role", "user"},
         {"content",
          {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "18C"}},
           {{"type", "tool_result"},
            {"tool_use_id", "toolu_2"},
            {"is_error", true},
            {"content", {{{"type", "text"}, {"text", "timeout"}}}}}}}},
        {{"role", "assistant"}, {"content", "Paris 18C; Rome unknown."}},
        {{"role", "user"}, {"content", "Thanks"}}}}};
  const built b = claude(request);
  expect_valid_shape(b);
  ASSERT_EQ(b.history.size(), 6u);  // system pair + 4 turns
  EXPECT_EQ(b.history[2]["userInputMessage"]["content"], "Weather in Paris and Rome?");
  const json& a = b.history[3]["assistantResponseMessage"];
  EXPECT_EQ(a["content"], "<thinking>Two calls.</thinking>\n\nChecking.");
  ASSERT_EQ(a["toolUses"].size(), 2u);
  EXPECT_EQ(a["toolUses"][0]["toolUseId"], "toolu_1");
  EXPECT_EQ(a["toolUses"][0]["name"], "get_weather");
  EXPECT_EQ(a["toolUses"][0]["input"], json({{"city", "Paris"}}));
  const json& results = b.history[4]["userInputMessage"]["userInputMessageContext"]["toolResults"];
  EXPECT_EQ(b.history[4]["userInputMessage"]["content"], "Tool results provided.");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(
      results[0],
      json::parse(R"({"toolUseId":"toolu_1","content":[{"text":"18C"}],"status":"success"})"));
  EXPECT_EQ(results[1]["status"], "error");
  EXPECT_EQ(results[1]["content"][0]["text"], "timeout");
  EXPECT_EQ(b.history[5]["assistantResponseMessage"]["content"], "Paris 18C; Rome unknown.");
  EXPECT_EQ(b.current["content"], "Thanks");
  // Tools are declared on the current message only.
  const json& tools = b.current["userInputMessageContext"]["tools"];
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["toolSpecification"]["name"], "get_weather");
  EXPECT_EQ(tools[0]["toolSpecification"]["description"], "Weather of a city");
  EXPECT_EQ(tools[0]["toolSpecification"]["inputSchema"]["json"], weather_tool["input_schema"]);
  EXPECT_FALSE(b.history[4]["userInputMessage"]["userInputMessageContext"].contains("tools"));
}

TEST(kiro_request, tool_results_as_the_current_message) {
  const built b = openai(
      {{"tools",
        {{{"type", "function"},
          {"function",
           {{"name", "ls"}, {"description", "list"}, {"parameters", {{"type", "object"}}}}}}}},
       {"messages",
        {{{"role", "user"}, {"content", "list files"}},
         {{"role", "assistant"},
          {"content", nullptr},
          {"tool_calls",
           {{{"id", "call_1"},
             {"type", "function"},
             {"function", {{"name", "ls"}, {"arguments", "{\"d\":\".\"}"}}}}}}},
         {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "a b"}}}}});
  expect_valid_shape(b);
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["content"], "");
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["toolUses"][0]["input"], json({{"d", "."}}));
  EXPECT_EQ(b.current["content"], "Tool results provided.");
  const json& ctx = b.current["userInputMessageContext"];
  EXPECT_EQ(ctx["toolResults"][0]["toolUseId"], "call_1");
  EXPECT_EQ(ctx["toolResults"][0]["content"][0]["text"], "a b");
  // A schema without properties gets them.
  EXPECT_EQ(ctx["tools"][0]["toolSpecification"]["inputSchema"]["json"],
            json::parse(R"({"type":"object","properties":{}})"));
}

TEST(kiro_request, images_become_kiro_images) {
  const std::string png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJg"
      "gg==";
  const built b =
      claude({{"messages",
               {{{"role", "user"},
                 {"content",
                  {{{"type", "image"},
                    {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", png}}}},
                   {{"type", "text"}, {"text", "What is this?"}}}}}}}});
  expect_valid_shape(b);
  ASSERT_EQ(b.current["images"].size(), 1u);
  EXPECT_EQ(b.current["images"][0], json({{"format", "png"}, {"source", {{"bytes", png}}}}));
  EXPECT_EQ(b.current["content"], "What is this?");
  // The image bytes do not count as text tokens.
  EXPECT_LT(b.r.input_tokens_estimate, static_cast<std::int64_t>(b.r.body.size() / 4));

  const built o = openai(
      {{"messages",
        {{{"role", "user"},
          {"content",
           {{{"type", "image_url"}, {"image_url", {{"url", "data:image/jpeg;base64,/9j/4AAQ"}}}},
            {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/cat.png"}}}},
            {{"type", "text"}, {"text", "Compare"}}}}}}}});
  ASSERT_EQ(o.current["images"].size(), 1u);
  EXPECT_EQ(o.current["images"][0]["format"], "jpeg");
  EXPECT_EQ(o.current["images"][0]["source"]["bytes"], "/9j/4AAQ");
  EXPECT_EQ(o.current["content"], "[Image: https://example.com/cat.png]\nCompare");
}

TEST(kiro_request, orphan_tool_uses_and_results_are_dropped) {
  const json request = {
      {"tools", {weather_tool}},
      {"messages",
       {{{"role", "user"}, {"content", "Go"}},
        {{"role", "assistant"},
         {"content",
          {{{"type", "text"}, {"text", "Calling."}},
           {{"type", "tool_use"},
            {"id", "answered"},
            {"name", "get_weather"},
            {"input", {{"city", "A"}}}},
           {{"type", "tool_use"},
            {"id", "never_answered"},
            {"name", "get_weather"},
            {"input", {{"city", "B"}}}}}}},
        {{"role", "user"},
         {"content",
          {{{"type", "tool_result"}, {"tool_use_id", "answered"}, {"content", "ok"}},
           {{"type", "tool_result"}, {"tool_use_id", "from_nowhere"}, {"content", "??"}},
           {{"type", "text"}, {"text", "Next?"}}}}}}}};
  const built b = claude(request);
  expect_valid_shape(b);
  ASSERT_EQ(b.history.size(), 2u);
  const json& uses = b.history[1]["assistantResponseMessage"]["toolUses"];
  ASSERT_EQ(uses.size(), 1u);
  EXPECT_EQ(uses[0]["toolUseId"], "answered");
  const json& results = b.current["userInputMessageContext"]["toolResults"];
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["toolUseId"], "answered");
  EXPECT_EQ(b.current["content"], "Next?");

  // A last assistant turn made only of calls never answered: the turn disappears with them,
  // and the user's message is current again.
  const built c = claude({{"tools", {weather_tool}},
                          {"messages",
                           {{{"role", "user"}, {"content", "Go"}},
                            {{"role", "assistant"},
                             {"content",
                              {{{"type", "tool_use"},
                                {"id", "x"},
                                {"name", "get_weather"},
                                {"input", json::object()}}}}}}}});
  expect_valid_shape(c);
  EXPECT_TRUE(c.history.empty());
  EXPECT_EQ(c.current["content"], "Go");
  EXPECT_EQ(c.r.body.find("toolUse"), std::string::npos) << c.r.body;
  // With text beside the unanswered call, the turn stays (without the call) and the current
  // message says "Continue".
  const built d = claude({{"tools", {weather_tool}},
                          {"messages",
                           {{{"role", "user"}, {"content", "Go"}},
                            {{"role", "assistant"},
                             {"content",
                              {{{"type", "text"}, {"text", "Let me see."}},
                               {{"type", "tool_use"},
                                {"id", "x"},
                                {"name", "get_weather"},
                                {"input", json::object()}}}}}}}});
  expect_valid_shape(d);
  ASSERT_EQ(d.history.size(), 2u);
  EXPECT_EQ(d.history[1]["assistantResponseMessage"]["content"], "Let me see.");
  EXPECT_FALSE(d.history[1]["assistantResponseMessage"].contains("toolUses"));
  EXPECT_EQ(d.current["content"], "Continue");
}

TEST(kiro_request, alternation_is_repaired) {
  // Consecutive user messages merge; an empty assistant turn disappears.
  const built b = openai({{"messages",
                           {{{"role", "user"}, {"content", "one"}},
                            {{"role", "user"}, {"content", "two"}},
                            {{"role", "assistant"}, {"content", "reply"}},
                            {{"role", "assistant"}, {"content", "more"}},
                            {{"role", "user"}, {"content", "three"}},
                            {{"role", "assistant"}, {"content", ""}},
                            {{"role", "user"}, {"content", "four"}}}}});
  expect_valid_shape(b);
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_EQ(b.history[0]["userInputMessage"]["content"], "one\n\ntwo");
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["content"], "reply\n\nmore");
  EXPECT_EQ(b.current["content"], "three\n\nfour");

  // Starting with the assistant: a user turn is put first; ending with the assistant (a
  // prefill): it stays in the history and the current message says "Continue".
  const built c = openai({{"messages",
                           {{{"role", "assistant"}, {"content", "Welcome!"}},
                            {{"role", "user"}, {"content", "Hi"}},
                            {{"role", "assistant"}, {"content", "Hello, I am"}}}}});
  expect_valid_shape(c);
  ASSERT_EQ(c.history.size(), 4u);
  EXPECT_EQ(c.history[0]["userInputMessage"]["content"], "Continue");
  EXPECT_EQ(c.history[1]["assistantResponseMessage"]["content"], "Welcome!");
  EXPECT_EQ(c.history[3]["assistantResponseMessage"]["content"], "Hello, I am");
  EXPECT_EQ(c.current["content"], "Continue");

  // With a system prompt and an assistant first turn, the pad goes between them.
  const built d = openai({{"messages",
                           {{{"role", "system"}, {"content", "S"}},
                            {{"role", "assistant"}, {"content", "Welcome!"}},
                            {{"role", "user"}, {"content", "Hi"}}}}});
  expect_valid_shape(d);
  ASSERT_EQ(d.history.size(), 4u);
  EXPECT_EQ(d.history[2]["userInputMessage"]["content"], "Continue");

  // Nothing but a system prompt.
  const built e = openai({{"messages", {{{"role", "system"}, {"content", "S"}}}}});
  expect_valid_shape(e);
  EXPECT_EQ(e.current["content"], "Continue");
}

TEST(kiro_request, long_tool_names_are_shortened_and_mapped_back) {
  const std::string long_name =
      "mcp__github_enterprise_server__" + std::string(60, 'a') + "_search";
  const std::string other_long =
      "mcp__github_enterprise_server__" + std::string(60, 'a') + "_create";
  json tool_a = weather_tool;
  tool_a["name"] = long_name;
  json tool_b = weather_tool;
  tool_b["name"] = other_long;
  const built b =
      claude({{"tools", {tool_a, tool_b}},
              {"messages",
               {{{"role", "user"}, {"content", "search"}},
                {{"role", "assistant"},
                 {"content",
                  {{{"type", "tool_use"},
                    {"id", "t1"},
                    {"name", long_name},
                    {"input", {{"city", "x"}}}}}}},
                {{"role", "user"},
                 {"content",
                  {{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "found"}}}}}}}});
  expect_valid_shape(b);
  const json& tools = b.current["userInputMessageContext"]["tools"];
  ASSERT_EQ(tools.size(), 2u);
  const std::string short_a = tools[0]["toolSpecification"]["name"];
  const std::string short_b = tools[1]["toolSpecification"]["name"];
  EXPECT_LE(short_a.size(), 64u);
  EXPECT_NE(short_a, short_b);
  EXPECT_EQ(short_a, kiro::shorten_tool_name(long_name));
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["toolUses"][0]["name"], short_a);
  ASSERT_EQ(b.r.tool_names.size(), 2u);
  EXPECT_EQ(b.r.tool_names.at(short_a), long_name);
  EXPECT_EQ(b.r.tool_names.at(short_b), other_long);

  // Kiro answers with the short name; the client sees the original.
  const std::string upstream = kiro::encode_event(
      "toolUseEvent",
      json{{"toolUseId", "t2"}, {"name", short_b}, {"input", "{\"city\":\"y\"}"}, {"stop", true}}
          .dump());
  kiro::kiro_stream_converter conv(wire_protocol::openai, {}, b.r.decoding("claude-sonnet-4-5"));
  std::string out;
  conv.feed(upstream, out);
  conv.finish(out);
  const stream_test::message_view v = stream_test::read_stream(wire_protocol::openai, out);
  ASSERT_EQ(v.tools.size(), 1u);
  EXPECT_EQ(v.tools[0].name, other_long);
}

TEST(kiro_request, tools_used_in_history_are_declared) {
  // The client stopped declaring "Read" (and spells it in another case): a placeholder is added
  // for the undeclared one, none for the case variant.
  json read_tool = weather_tool;
  read_tool["name"] = "read";
  const built b = claude(
      {{"tools", {read_tool}},
       {"messages",
        {{{"role", "user"}, {"content", "go"}},
         {{"role", "assistant"},
          {"content",
           {{{"type", "tool_use"}, {"id", "t1"}, {"name", "Read"}, {"input", json::object()}},
            {{"type", "tool_use"}, {"id", "t2"}, {"name", "Bash"}, {"input", {{"cmd", "ls"}}}}}}},
         {{"role", "user"},
          {"content",
           {{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "r"}},
            {{"type", "tool_result"}, {"tool_use_id", "t2"}, {"content", "b"}}}}}}}});
  expect_valid_shape(b);
  const json& tools = b.current["userInputMessageContext"]["tools"];
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0]["toolSpecification"]["name"], "read");
  EXPECT_EQ(tools[1]["toolSpecification"]["name"], "Bash");
  EXPECT_FALSE(tools[1]["toolSpecification"]["description"].get<std::string>().empty());
  EXPECT_EQ(tools[1]["toolSpecification"]["inputSchema"]["json"]["type"], "object");

  // Without any declared tools at all.
  const built c = openai({{"messages",
                           {{{"role", "user"}, {"content", "go"}},
                            {{"role", "assistant"},
                             {"tool_calls",
                              {{{"id", "c1"},
                                {"type", "function"},
                                {"function", {{"name", "ls"}, {"arguments", "{}"}}}}}}},
                            {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "x"}}}}});
  expect_valid_shape(c);
  EXPECT_EQ(c.current["userInputMessageContext"]["tools"][0]["toolSpecification"]["name"], "ls");
}

TEST(kiro_request, schemas_and_inputs_are_normalised) {
  const built b = claude(
      {{"tools",
        {{{"name", "nulls"},
          {"description", ""},
          {"input_schema",
           {{"type", "object"},
            {"properties",
             {{"opts", {{"type", "object"}, {"properties", nullptr}, {"required", nullptr}}},
              {"required", {{"type", "string"}}}}},
            {"required", nullptr}}}},
         {{"name", "long_desc"},
          {"description", std::string(12000, 'd')},
          {"input_schema", {{"properties", {{"a", {{"type", "integer"}, {"enum", {1, 2}}}}}}}}}}},
       {"messages",
        {{{"role", "user"}, {"content", "go"}},
         {{"role", "assistant"},
          {"content",
           {{{"type", "tool_use"},
             {"id", "t1"},
             {"name", "nulls"},
             {"input", {{"", "drop me"}, {"keep", 1}}}}}}},
         {{"role", "user"},
          {"content", {{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "ok"}}}}}}}});
  expect_valid_shape(b);
  const json& tools = b.current["userInputMessageContext"]["tools"];
  const json& s = tools[0]["toolSpecification"];
  EXPECT_EQ(s["description"], "nulls");  // empty description: the name
  EXPECT_EQ(s["inputSchema"]["json"],
            json::parse(R"({"type":"object","properties":{"opts":{"type":"object",
                "properties":{},"required":[]},"required":{"type":"string"}},"required":[]})"));
  const json& l = tools[1]["toolSpecification"];
  EXPECT_EQ(l["description"].get<std::string>().size(), 10000u);
  EXPECT_EQ(l["inputSchema"]["json"],
            json::parse(R"({"type":"object","properties":{"a":{"type":"integer","enum":[1,2]}}})"));
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["toolUses"][0]["input"], json({{"keep", 1}}));
}

TEST(kiro_request, native_tools_and_invalid_arguments) {
  const built b = openai({{"messages",
                           {{{"role", "user"}, {"content", "go"}},
                            {{"role", "assistant"},
                             {"tool_calls",
                              {{{"id", "c1"},
                                {"type", "function"},
                                {"function", {{"name", "ls"}, {"arguments", "not json"}}}}}}},
                            {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "x"}}}}});
  expect_valid_shape(b);
  EXPECT_EQ(b.history[1]["assistantResponseMessage"]["toolUses"][0]["input"], json::object());
}

TEST(kiro_request, escaped_text_survives) {
  const std::string tricky =
      "quote \" backslash \\ newline \n tab \t unicode \u00e9\u4e2d \U0001F600";
  const built b =
      claude({{"system", tricky}, {"messages", {{{"role", "user"}, {"content", tricky}}}}});
  EXPECT_EQ(b.current["content"], tricky);
  EXPECT_EQ(b.history[0]["userInputMessage"]["content"], tricky);
}

TEST(kiro_model, mapping_table_fuzzy_fallback_and_overrides) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"claude-sonnet-4-5", "claude-sonnet-4.5"},
      {"claude-sonnet-4-5-20250929", "claude-sonnet-4.5"},
      {"claude-sonnet-4-20250514", "claude-sonnet-4"},
      {"claude-3-7-sonnet-20250219", "CLAUDE_3_7_SONNET_20250219_V1_0"},
      {"claude-sonnet-4-6", "claude-sonnet-4.6"},
      {"claude-haiku-4-5", "claude-haiku-4.5"},
      {"claude-haiku-4-5-20251001", "claude-haiku-4.5"},
      {"claude-opus-4-5-20251101", "claude-opus-4.5"},
      {"claude-opus-4-6", "claude-opus-4.6"},
      {"claude-opus-4-7", "claude-opus-4.7"},
      {"claude-opus-4-8", "claude-opus-4.8"},
      {"Claude-Sonnet-4-5", "claude-sonnet-4.5"},
      {"claude-sonnet-4-5-thinking", "claude-sonnet-4.5"},
      {"claude-sonnet-4.5", "claude-sonnet-4.5"},
      {"CLAUDE_SONNET_4_5_20250929_V1_0", "CLAUDE_SONNET_4_5_20250929_V1_0"},
      {"auto", "auto"},
      // fuzzy
      {"claude-3-5-sonnet-20241022", "claude-sonnet-4.5"},
      {"claude-opus-4-1-20250805", "claude-opus-4.6"},
      {"claude-3-haiku-20240307", "claude-haiku-4.5"},
      {"gpt-4o", "claude-sonnet-4.5"},
      {"", "claude-sonnet-4.5"},
  };
  for (const auto& [from, to] : cases) EXPECT_EQ(kiro::map_model(from), to) << from;
  const kiro::model_map overrides = {{"gpt-4o", "claude-opus-4.5"},
                                     {"claude-sonnet-4-5", "claude-sonnet-4.6"}};
  EXPECT_EQ(kiro::map_model("gpt-4o", &overrides), "claude-opus-4.5");
  EXPECT_EQ(kiro::map_model("claude-sonnet-4-5", &overrides), "claude-sonnet-4.6");
  EXPECT_EQ(kiro::map_model("claude-haiku-4-5", &overrides), "claude-haiku-4.5");
  // Through the builder, with the request's model or the option's.
  kiro::build_options opts;
  opts.model_overrides = &overrides;
  const built b =
      openai({{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}, opts);
  EXPECT_EQ(b.current["modelId"], "claude-opus-4.5");
}

TEST(kiro_model, shortened_names_are_stable_and_distinct) {
  EXPECT_EQ(kiro::shorten_tool_name("short_name"), "short_name");
  const std::string exactly(64, 'n');
  EXPECT_EQ(kiro::shorten_tool_name(exactly), exactly);
  const std::string a = std::string(65, 'n');
  const std::string b = std::string(64, 'n') + "m";
  EXPECT_EQ(kiro::shorten_tool_name(a).size(), 64u);
  EXPECT_EQ(kiro::shorten_tool_name(a), kiro::shorten_tool_name(a));
  EXPECT_NE(kiro::shorten_tool_name(a), kiro::shorten_tool_name(b));
  EXPECT_EQ(kiro::shorten_tool_name(a).substr(0, 55), std::string(55, 'n'));
}

TEST(kiro_headers, carry_the_token_the_agent_and_a_fresh_invocation_id) {
  const std::string machine(64, 'f');
  const kiro::header_list h = kiro::request_headers("aoaTOKEN", machine, "0.11.107");
  std::map<std::string, std::string> m(h.begin(), h.end());
  EXPECT_EQ(m["Authorization"], "Bearer aoaTOKEN");
  EXPECT_EQ(m["Content-Type"], "application/json");
  EXPECT_EQ(m["Accept"], "application/json");
  EXPECT_EQ(m["amz-sdk-request"], "attempt=1; max=3");
  EXPECT_EQ(m["x-amz-user-agent"], "aws-sdk-js/1.0.34 KiroIDE-0.11.107-" + machine);
  EXPECT_TRUE(m["user-agent"].starts_with("aws-sdk-js/1.0.34 ua/2.1 os/"));
  EXPECT_TRUE(m["user-agent"].ends_with("api/codewhispererstreaming#1.0.34 m/E KiroIDE-0.11.107-" +
                                        machine));
  EXPECT_EQ(m["x-amzn-codewhisperer-optout"], "true");
  EXPECT_EQ(m["x-amzn-kiro-agent-mode"], "vibe");
  EXPECT_EQ(m["Connection"], "close");
  EXPECT_EQ(m.count("tokentype"), 0u);
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(m["amz-sdk-invocation-id"], uuid));
  const kiro::header_list again = kiro::request_headers("t", machine, "0.11.107");
  using header_map = std::map<std::string, std::string>;
  EXPECT_NE(header_map(again.begin(), again.end())["amz-sdk-invocation-id"],
            m["amz-sdk-invocation-id"]);
  kiro::header_options api;
  api.api_key = true;
  const kiro::header_list k = kiro::request_headers("ksk_x", machine, "0.11.107", api);
  EXPECT_EQ(header_map(k.begin(), k.end())["tokentype"], "API_KEY");
  EXPECT_NE(kiro::make_uuid_v4(), kiro::make_uuid_v4());
}

// A Claude Code-like request (system blocks, two tools one of them with a long name, two tool
// rounds, an image) gives the body in tests/fixtures/kiro/claude_code_request.kiro.json.
TEST(kiro_request, claude_code_request_matches_the_golden_body) {
  const json request =
      json::parse(aiclient::testing::read_fixture("kiro/claude_code_request.json"));
  const json expected =
      json::parse(aiclient::testing::read_fixture("kiro/claude_code_request.kiro.json"));
  kiro::build_options opts;
  opts.conversation_id = "00000000-0000-4000-8000-000000000000";
  opts.profile_arn = "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABCDEF";
  const built b = build(wire_protocol::claude, request, opts);
  expect_valid_shape(b);
  EXPECT_EQ(b.body, expected) << b.body.dump(2);
  ASSERT_EQ(b.r.tool_names.size(), 1u);
  EXPECT_EQ(b.r.tool_names.begin()->second,
            "mcp__filesystem_server_with_a_very_long_name__read_multiple_files_at_once");
}

}  // namespace
