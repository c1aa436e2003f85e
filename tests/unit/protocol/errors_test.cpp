#include "aiclient/protocol/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aiclient/protocol/protocol.hpp"
#include "aiclient/protocol/sse.hpp"

namespace {

using aiclient::protocol::append_json_string;
using aiclient::protocol::error_body;
using aiclient::protocol::sse_event;
using aiclient::protocol::sse_parser;
using aiclient::protocol::stream_error_event;
using aiclient::protocol::wire_protocol;
using json = nlohmann::json;

TEST(Protocol, NamesAreLowerCase) {
  EXPECT_EQ(to_string(wire_protocol::openai), "openai");
  EXPECT_EQ(to_string(wire_protocol::claude), "claude");
  EXPECT_EQ(to_string(wire_protocol::gemini), "gemini");
}

struct openai_case {
  int status;
  const char* type;
  const char* code;  // nullptr: JSON null
};

TEST(ErrorBody, OpenAiShapeAndTypePerStatus) {
  const std::vector<openai_case> cases = {
      {400, "invalid_request_error", nullptr},
      {401, "authentication_error", "invalid_api_key"},
      {403, "permission_error", nullptr},
      {404, "not_found_error", nullptr},
      {405, "invalid_request_error", nullptr},
      {408, "timeout_error", nullptr},
      {413, "invalid_request_error", "request_too_large"},
      {422, "invalid_request_error", nullptr},
      {429, "rate_limit_error", nullptr},
      {500, "server_error", nullptr},
      {501, "not_implemented", nullptr},
      {502, "upstream_error", nullptr},
      {503, "service_unavailable", nullptr},
      {504, "timeout_error", nullptr},
      {507, "server_error", nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    const json j = json::parse(error_body(wire_protocol::openai, c.status, "boom"));
    ASSERT_TRUE(j.is_object());
    ASSERT_EQ(j.size(), 1u);
    const json& e = j.at("error");
    EXPECT_EQ(e.size(), 4u);
    EXPECT_EQ(e.at("message"), "boom");
    EXPECT_EQ(e.at("type"), c.type);
    EXPECT_TRUE(e.at("param").is_null());
    if (c.code) {
      EXPECT_EQ(e.at("code"), c.code);
    } else {
      EXPECT_TRUE(e.at("code").is_null());
    }
  }
}

TEST(ErrorBody, ClaudeShapeAndTypePerStatus) {
  const std::vector<std::pair<int, const char*>> cases = {
      {400, "invalid_request_error"},
      {401, "authentication_error"},
      {403, "permission_error"},
      {404, "not_found_error"},
      {405, "invalid_request_error"},
      {413, "request_too_large"},
      {429, "rate_limit_error"},
      {500, "api_error"},
      {502, "api_error"},
      {503, "overloaded_error"},
      {504, "timeout_error"},
      {529, "overloaded_error"},
  };
  for (const auto& [status, type] : cases) {
    SCOPED_TRACE(status);
    const json j = json::parse(error_body(wire_protocol::claude, status, "nope"));
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j.at("type"), "error");
    EXPECT_EQ(j.at("error").size(), 2u);
    EXPECT_EQ(j.at("error").at("type"), type);
    EXPECT_EQ(j.at("error").at("message"), "nope");
  }
}

TEST(ErrorBody, GeminiShapeAndStatusPerHttpStatus) {
  const std::vector<std::pair<int, const char*>> cases = {
      {400, "INVALID_ARGUMENT"},  {401, "UNAUTHENTICATED"},    {403, "PERMISSION_DENIED"},
      {404, "NOT_FOUND"},         {405, "UNIMPLEMENTED"},      {408, "DEADLINE_EXCEEDED"},
      {413, "INVALID_ARGUMENT"},  {429, "RESOURCE_EXHAUSTED"}, {500, "INTERNAL"},
      {501, "UNIMPLEMENTED"},     {502, "UNAVAILABLE"},        {503, "UNAVAILABLE"},
      {504, "DEADLINE_EXCEEDED"}, {505, "INTERNAL"},
  };
  for (const auto& [status, name] : cases) {
    SCOPED_TRACE(status);
    const json j = json::parse(error_body(wire_protocol::gemini, status, "bad"));
    ASSERT_EQ(j.size(), 1u);
    const json& e = j.at("error");
    EXPECT_EQ(e.size(), 3u);
    EXPECT_EQ(e.at("code"), status);
    EXPECT_EQ(e.at("message"), "bad");
    EXPECT_EQ(e.at("status"), name);
  }
}

TEST(ErrorBody, MessageIsEscapedAndRoundTrips) {
  const std::string message =
      "quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 nul " +
      std::string(1, '\0') + " unit-sep \x1f del \x7f é 東京 🎉";
  for (const auto p : {wire_protocol::openai, wire_protocol::claude, wire_protocol::gemini}) {
    SCOPED_TRACE(to_string(p));
    const std::string body = error_body(p, 400, message);
    for (const char c : body) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control";
    const json j = json::parse(body);
    EXPECT_EQ(j.at("error").at("message").get<std::string>(), message);
  }
}

TEST(AppendJsonString, EscapesExactly) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\b\f\n\r\t\x01\x1f", 12));
  EXPECT_EQ(out, R"("a\"b\\c\b\f\n\r\t\u0001\u001f")");
  out = "prefix:";
  append_json_string(out, "");
  EXPECT_EQ(out, R"(prefix:"")");
}

TEST(AppendJsonString, ValidUtf8PassesThrough) {
  const std::string text = "\xC3\xA9 \xE6\x9D\xB1 \xF0\x9F\x8E\x89 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
  std::string out;
  append_json_string(out, text);
  EXPECT_EQ(out, "\"" + text + "\"");
}

TEST(AppendJsonString, InvalidUtf8BecomesReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\xFF"
       "b",
       "a" + fffd + "b"},                               // never valid byte
      {"\x80", fffd},                                   // lone continuation byte
      {"\xC0\xAF", fffd + fffd},                        // overlong '/'
      {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong 3-byte form
      {"\xED\xA0\x80", fffd + fffd + fffd},             // UTF-16 surrogate
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\xE6\x9D"
       "x",
       fffd + "x"},            // truncated sequence: one U+FFFD
      {"\xF0\x9F\x8E", fffd},  // truncated at the end
      {"\xC3", fffd},
  };
  for (const auto& [in, expected] : cases) {
    std::string out;
    append_json_string(out, in);
    EXPECT_EQ(out, "\"" + expected + "\"") << testing::PrintToString(in);
    EXPECT_TRUE(json::accept(out)) << out;
  }
}

std::vector<sse_event> parse_events(std::string_view text) {
  std::vector<sse_event> events;
  sse_parser parser;
  EXPECT_TRUE(parser.feed(text, [&](const sse_event& e) { events.push_back(e); }));
  EXPECT_TRUE(parser.finish([&](const sse_event& e) { events.push_back(e); }));
  return events;
}

TEST(StreamErrorEvent, OpenAiSendsErrorThenDone) {
  const std::string text = stream_error_event(wire_protocol::openai, 502, "upstream \"died\"");
  EXPECT_EQ(text.rfind("data: ", 0), 0u);
  EXPECT_TRUE(text.ends_with("\n\ndata: [DONE]\n\n"));
  const auto events = parse_events(text);
  ASSERT_EQ(events.size(), 2u);
  const json j = json::parse(events[0].data);
  EXPECT_EQ(j["error"]["message"], "upstream \"died\"");
  EXPECT_EQ(j["error"]["type"], "upstream_error");
  EXPECT_EQ(events[1].data, "[DONE]");
}

TEST(StreamErrorEvent, ClaudeSendsNamedErrorEvent) {
  const std::string text = stream_error_event(wire_protocol::claude, 529, "overloaded\nretry");
  EXPECT_EQ(text.rfind("event: error\ndata: {", 0), 0u);
  EXPECT_TRUE(text.ends_with("}\n\n"));
  const auto events = parse_events(text);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "error");
  const json j = json::parse(events[0].data);
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "overloaded_error");
  EXPECT_EQ(j["error"]["message"], "overloaded\nretry");
}

TEST(StreamErrorEvent, GeminiSendsOneDataEvent) {
  const std::string text = stream_error_event(wire_protocol::gemini, 429, "quota");
  EXPECT_EQ(text.rfind("data: {", 0), 0u);
  EXPECT_TRUE(text.ends_with("}\n\n"));
  const auto events = parse_events(text);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].event.empty());
  const json j = json::parse(events[0].data);
  EXPECT_EQ(j["error"]["code"], 429);
  EXPECT_EQ(j["error"]["status"], "RESOURCE_EXHAUSTED");
}

}  // namespace
