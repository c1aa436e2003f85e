#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_file.hpp"

namespace aiclient::pool {
namespace {

std::string error_of(std::string_view text) {
  try {
    parse_pools(text, "pools.json");
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

TEST(pool_file, reads_instances_in_order) {
  auto p = parse_pools(R"({
    "openai-custom": [
      {"OPENAI_API_KEY":"sk-1","OPENAI_BASE_URL":"https://a/v1","uuid":"u1","isHealthy":false},
      {"OPENAI_API_KEY":"sk-2","OPENAI_BASE_URL":"https://b/v1","uuid":"u2","customName":"two"}
    ],
    "claude-custom": [{"CLAUDE_API_KEY":"k","CLAUDE_BASE_URL":"https://api.anthropic.com","extra":1}],
    "gemini-cli-oauth": [{"GEMINI_OAUTH_CREDS_FILE_PATH":"./c.json","PROJECT_ID":"p"}]
  })",
                       "pools.json");
  ASSERT_EQ(p.count("openai-custom"), 2u);
  EXPECT_EQ(p.by_type["openai-custom"][1].custom_name, "two");
  // The first usable one skips the unhealthy instance.
  ASSERT_NE(p.first("openai-custom"), nullptr);
  EXPECT_EQ(p.first("openai-custom")->uuid, "u2");
  EXPECT_EQ(p.first("claude-custom")->base_url, "https://api.anthropic.com");
  EXPECT_EQ(p.first("openai-qwen-oauth"), nullptr);
}

TEST(pool_file, errors_name_type_index_and_field_without_secrets) {
  EXPECT_EQ(error_of(R"({"openai-custom":[{"OPENAI_BASE_URL":"https://a/v1"}]})"),
            "pools.json: openai-custom[0] is missing OPENAI_API_KEY");
  EXPECT_EQ(error_of(R"({"nope":[]})"), "pools.json: unknown provider type \"nope\"");
  EXPECT_EQ(error_of(R"({"openai-custom":{}})"),
            "pools.json: openai-custom must be an array of instances");
  EXPECT_EQ(error_of(R"({"openai-custom":[{"OPENAI_API_KEY":5,"OPENAI_BASE_URL":"https://a"}]})"),
            "pools.json: openai-custom[0].OPENAI_API_KEY must be a string");
  EXPECT_EQ(
      error_of(R"({"claude-custom":[{"CLAUDE_API_KEY":"sk-secret","CLAUDE_BASE_URL":"ftp://x"}]})"),
      "pools.json: claude-custom[0].CLAUDE_BASE_URL must start with http:// or https://");
  EXPECT_EQ(error_of(R"({"mock":[{"uuid":"a"},{"uuid":"a"}]})"),
            "pools.json: mock[1].uuid \"a\" is already used by mock[0]");
  EXPECT_EQ(error_of(R"({"mock":[{"isHealthy":"yes"}]})"),
            "pools.json: mock[0].isHealthy must be true or false");
  EXPECT_EQ(error_of("{not json"), "pools.json: not valid JSON (line 1, column 3)");
  EXPECT_EQ(error_of("[]"), "pools.json: top level must be an object of provider types");
}

TEST(pool_file, every_type_requires_its_credentials) {
  EXPECT_EQ(error_of(R"({"openai-custom":[{"OPENAI_API_KEY":"sk-1"}]})"),
            "pools.json: openai-custom[0] is missing OPENAI_BASE_URL");
  EXPECT_EQ(error_of(R"({"claude-custom":[{"CLAUDE_BASE_URL":"https://x"}]})"),
            "pools.json: claude-custom[0] is missing CLAUDE_API_KEY");
  EXPECT_EQ(error_of(R"({"gemini-cli-oauth":[{"PROJECT_ID":"p"}]})"),
            "pools.json: gemini-cli-oauth[0] is missing GEMINI_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(error_of(R"({"claude-kiro-oauth":[{}]})"),
            "pools.json: claude-kiro-oauth[0] is missing KIRO_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(error_of(R"({"openai-qwen-oauth":[{"QWEN_OAUTH_CREDS_FILE_PATH":null}]})"),
            "pools.json: openai-qwen-oauth[0] is missing QWEN_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(error_of(R"({"openai-qwen-oauth":[{"QWEN_OAUTH_CREDS_FILE_PATH":""}]})"),
            "pools.json: openai-qwen-oauth[0].QWEN_OAUTH_CREDS_FILE_PATH must not be empty");
  EXPECT_EQ(
      error_of(R"({"gemini-cli-oauth":[{"GEMINI_OAUTH_CREDS_FILE_PATH":"c","PROJECT_ID":7}]})"),
      "pools.json: gemini-cli-oauth[0].PROJECT_ID must be a string");
  EXPECT_EQ(
      error_of(R"({"openai-custom":[{"OPENAI_API_KEY":"sk-1","OPENAI_BASE_URL":"https:///v1"}]})"),
      "pools.json: openai-custom[0].OPENAI_BASE_URL has no valid host");
  // PROJECT_ID is optional, mock needs nothing, and every type may be present at once.
  const auto p = parse_pools(R"({
    "openai-custom": [{"OPENAI_API_KEY":"sk-1","OPENAI_BASE_URL":"http://127.0.0.1:8080/v1"}],
    "claude-custom": [{"CLAUDE_API_KEY":"k","CLAUDE_BASE_URL":"https://api.anthropic.com"}],
    "gemini-cli-oauth": [{"GEMINI_OAUTH_CREDS_FILE_PATH":"./g.json"}],
    "claude-kiro-oauth": [{"KIRO_OAUTH_CREDS_FILE_PATH":"./k.json"}],
    "openai-qwen-oauth": [{"QWEN_OAUTH_CREDS_FILE_PATH":"./q.json"}],
    "mock": [{}]
  })",
                             "pools.json");
  for (const auto& type : config::known_provider_types()) EXPECT_EQ(p.count(type), 1u) << type;
  EXPECT_EQ(p.first("openai-custom")->api_key, "sk-1");
  EXPECT_EQ(p.first("openai-custom")->base_url, "http://127.0.0.1:8080/v1");
}

TEST(pool_file, errors_never_carry_credential_values) {
  const std::string secret = "sk-very-secret-0123456789";
  const std::string cases[] = {
      R"({"openai-custom":[{"OPENAI_API_KEY":")" + secret + R"(","OPENAI_BASE_URL":"ftp://)" +
          secret + R"("}]})",
      R"({"openai-custom":[{"OPENAI_API_KEY":")" + secret +
          R"(","OPENAI_BASE_URL":"https://x", "usageCount":-1}]})",
      R"({"claude-custom":[{"CLAUDE_API_KEY":")" + secret + R"(" "CLAUDE_BASE_URL":"https://x"}]})",
      R"({"claude-custom":[{"CLAUDE_API_KEY":")" + secret + "\n",
  };
  for (const auto& text : cases) {
    const std::string err = error_of(text);
    EXPECT_FALSE(err.empty()) << text;
    EXPECT_EQ(err.find("secret"), std::string::npos) << err;
  }
  EXPECT_EQ(error_of(cases[2]), "pools.json: not valid JSON (line 1, column 81)");
}

TEST(pool_file, reads_models_fields_and_persisted_state) {
  const auto p = parse_pools(R"({
    "gemini-cli-oauth": [{
      "GEMINI_OAUTH_CREDS_FILE_PATH": "./creds.json", "PROJECT_ID": "proj-1",
      "uuid": "g1", "checkModelName": "gemini-2.5-flash", "customName": "work",
      "supportedModels": ["gemini-2.5-pro", "gemini-2.5-flash"], "notSupportedModels": null,
      "isHealthy": false, "isDisabled": true, "lastUsed": "2025-08-01T12:34:56.789Z",
      "usageCount": 42, "errorCount": 3, "lastErrorTime": "2025-08-01T12:35:00.000Z",
      "lastErrorMessage": "HTTP 503", "cooldownUntil": null,
      "lastHealthCheckTime": "2025-08-01T13:00:00Z", "someNumber": 5, "note": "hand-written"
    }],
    "openai-custom": [{"OPENAI_API_KEY":"sk","OPENAI_BASE_URL":"https://a/v1","uuid":"o1",
                       "notSupportedModels": ["gpt-4o-mini"], "cooldownUntil": "2025-08-01T14:00:00.000+02:00"}]
  })",
                             "pools.json");
  const instance& g = p.by_type.at("gemini-cli-oauth")[0];
  EXPECT_EQ(g.field("GEMINI_OAUTH_CREDS_FILE_PATH"), "./creds.json");
  EXPECT_EQ(g.field("PROJECT_ID"), "proj-1");
  EXPECT_EQ(g.field("note"), "hand-written");
  EXPECT_EQ(g.field("someNumber"), "");  // only string values are collected
  EXPECT_EQ(g.check_model, "gemini-2.5-flash");
  EXPECT_EQ(g.custom_name, "work");
  EXPECT_EQ(g.supported_models, (std::vector<std::string>{"gemini-2.5-pro", "gemini-2.5-flash"}));
  EXPECT_TRUE(g.serves_model("gemini-2.5-pro"));
  EXPECT_FALSE(g.serves_model("gemini-1.5-pro"));
  EXPECT_TRUE(g.serves_model(""));
  EXPECT_FALSE(g.state.is_healthy);
  EXPECT_TRUE(g.state.is_disabled);
  EXPECT_FALSE(g.is_healthy);
  EXPECT_TRUE(g.is_disabled);
  EXPECT_EQ(g.state.usage_count, 42u);
  EXPECT_EQ(g.state.error_count, 3);
  EXPECT_EQ(g.state.last_used, parse_iso8601("2025-08-01T12:34:56.789Z"));
  EXPECT_EQ(to_iso8601(*g.state.last_error_time), "2025-08-01T12:35:00.000Z");
  EXPECT_EQ(g.state.last_error_message, "HTTP 503");
  EXPECT_FALSE(g.state.cooldown_until.has_value());
  EXPECT_EQ(to_iso8601(*g.state.last_health_check), "2025-08-01T13:00:00.000Z");
  EXPECT_FALSE(g.uuid_generated);
  const instance& o = p.by_type.at("openai-custom")[0];
  EXPECT_TRUE(o.serves_model("gpt-4o"));
  EXPECT_FALSE(o.serves_model("gpt-4o-mini"));
  EXPECT_EQ(to_iso8601(*o.state.cooldown_until), "2025-08-01T12:00:00.000Z");
  EXPECT_TRUE(o.state.is_healthy);  // absent fields take their defaults
  EXPECT_EQ(o.state.usage_count, 0u);
  ASSERT_NE(p.document, nullptr);
}

TEST(pool_file, wrong_types_of_state_and_model_fields_are_errors) {
  EXPECT_EQ(error_of(R"({"mock":[{"usageCount":-1}]})"),
            "pools.json: mock[0].usageCount must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"mock":[{"errorCount":"2"}]})"),
            "pools.json: mock[0].errorCount must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"mock":[{"usageCount":1.5}]})"),
            "pools.json: mock[0].usageCount must be a non-negative integer");
  EXPECT_EQ(error_of(R"({"mock":[{"isDisabled":1}]})"),
            "pools.json: mock[0].isDisabled must be true or false");
  EXPECT_EQ(error_of(R"({"mock":[{},{"lastUsed":"yesterday"}]})"),
            "pools.json: mock[1].lastUsed must be an ISO-8601 timestamp (like "
            "2025-01-31T12:00:00.000Z) or null");
  EXPECT_EQ(error_of(R"({"mock":[{"cooldownUntil":1754000000000}]})"),
            "pools.json: mock[0].cooldownUntil must be an ISO-8601 timestamp (like "
            "2025-01-31T12:00:00.000Z) or null");
  EXPECT_EQ(error_of(R"({"mock":[{"supportedModels":"gpt-4o"}]})"),
            "pools.json: mock[0].supportedModels must be an array of model names");
  EXPECT_EQ(error_of(R"({"mock":[{"notSupportedModels":["a",3]}]})"),
            "pools.json: mock[0].notSupportedModels[1] must be a non-empty string (a model name)");
  EXPECT_EQ(error_of(R"({"mock":[{"uuid":12}]})"), "pools.json: mock[0].uuid must be a string");
  EXPECT_EQ(error_of(R"({"mock":[{"lastErrorMessage":{}}]})"),
            "pools.json: mock[0].lastErrorMessage must be a string");
  EXPECT_EQ(error_of(R"({"mock":["x"]})"), "pools.json: mock[0] must be an object");
  EXPECT_EQ(error_of(R"({"mock":null})"), "pools.json: mock must be an array of instances");
  // Duplicates are found across provider types too.
  EXPECT_EQ(error_of(R"({"mock":[{"uuid":"same"}],
                          "claude-kiro-oauth":[{"KIRO_OAUTH_CREDS_FILE_PATH":"k","uuid":"same"}]})"),
            "pools.json: claude-kiro-oauth[0].uuid \"same\" is already used by mock[0]");
}

TEST(pool_file, empty_pools_are_valid) {
  EXPECT_EQ(parse_pools("{}", "pools.json").by_type.size(), 0u);
  const auto p = parse_pools(R"({"openai-custom":[],"mock":[]})", "pools.json");
  EXPECT_EQ(p.count("openai-custom"), 0u);
  EXPECT_EQ(p.first("mock"), nullptr);
}

TEST(pool_file, missing_uuids_are_generated_as_lowercase_v4) {
  const auto p = parse_pools(R"({"mock":[{"uuid":"kept"},{},{"uuid":null},{"uuid":""}]})", "x");
  const auto& list = p.by_type.at("mock");
  EXPECT_EQ(list[0].uuid, "kept");
  EXPECT_FALSE(list[0].uuid_generated);
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE(list[i].uuid_generated);
    EXPECT_TRUE(std::regex_match(list[i].uuid, v4)) << list[i].uuid;
  }
  EXPECT_NE(list[1].uuid, list[2].uuid);
  EXPECT_NE(list[2].uuid, list[3].uuid);
  EXPECT_EQ(p.generated_uuids(), 3u);
}

TEST(pool_file, load_reads_the_file_and_names_it_in_errors) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/pool_file_test_pools.json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << R"({"mock":[{"uuid":"m1","customName":"demo"}]})";
  }
  const auto p = load_pools_file(path);
  EXPECT_EQ(p.first("mock")->custom_name, "demo");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "{\n  \"mock\": [\n    {\"isHealthy\": \"no\"}\n  ]\n}\n";
  }
  try {
    load_pools_file(path);
    ADD_FAILURE() << "no error";
  } catch (const config::config_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": mock[0].isHealthy must be true or false");
  }
  std::remove(path.c_str());
  EXPECT_THROW(load_pools_file(path), config::config_error);
}

TEST(iso8601, round_trips_and_reads_javascript_output) {
  using namespace std::chrono;
  EXPECT_EQ(to_iso8601(time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(to_iso8601(time_point{} - milliseconds(1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(to_iso8601(time_point{} + microseconds(1999)), "1970-01-01T00:00:00.001Z");
  // new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 7)).toISOString()
  const auto leap_day = parse_iso8601("2024-02-29T23:59:59.007Z");
  ASSERT_TRUE(leap_day);
  EXPECT_EQ(duration_cast<milliseconds>(leap_day->time_since_epoch()).count(), 1709251199007);
  EXPECT_EQ(to_iso8601(*leap_day), "2024-02-29T23:59:59.007Z");
  for (const char* s : {"2025-08-01T12:34:56.789Z", "1999-12-31T23:59:59.999Z",
                        "2000-01-01T00:00:00.000Z", "2100-03-01T00:00:00.000Z"})
    EXPECT_EQ(to_iso8601(*parse_iso8601(s)), s);
  // Accepted spellings of the same instant.
  const auto t = parse_iso8601("2025-08-01T12:34:56.000Z");
  EXPECT_EQ(parse_iso8601("2025-08-01T12:34:56Z"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01T14:34:56+02:00"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01T14:34:56.000+0200"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01T07:04:56-05:30"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01t12:34:56z"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01 12:34:56Z"), t);
  EXPECT_EQ(parse_iso8601("2025-08-01T12:34:56.5Z"), *t + milliseconds(500));
  EXPECT_EQ(parse_iso8601("2025-08-01T12:34:56.123456Z"), *t + microseconds(123456));
  // Not timestamps.
  for (const char* s :
       {"", "yesterday", "2025-08-01", "2025-08-01T12:34:56", "2025-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z", "2025-08-01T24:00:00Z", "2025-08-01T12:60:00Z",
        "2025-08-01T12:34:56.Z", "2025-08-01T12:34:56Zx", "2025-8-1T12:34:56Z", "1754000000000"})
    EXPECT_FALSE(parse_iso8601(s).has_value()) << s;
}

}  // namespace
}  // namespace aiclient::pool

namespace aiclient::pool {
namespace {
TEST(pool_file, model_mapping_is_read_and_applied) {
  auto p = parse_pools(R"({"openai-custom":[{"OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://a/v1",
      "uuid":"u","modelMapping":{"claude-sonnet-4":"gpt-4o","fast":"gpt-4o-mini"}}]})",
                       "pools.json");
  const auto& inst = p.by_type["openai-custom"][0];
  EXPECT_EQ(inst.upstream_model("claude-sonnet-4"), "gpt-4o");
  EXPECT_EQ(inst.upstream_model("fast"), "gpt-4o-mini");
  EXPECT_EQ(inst.upstream_model("other"), "other");
  try {
    parse_pools(R"({"mock":[{"uuid":"a","modelMapping":{"x":5}}]})", "pools.json");
    ADD_FAILURE() << "a non-string mapping must be refused";
  } catch (const config::config_error& e) {
    EXPECT_STREQ(e.what(), "pools.json: mock[0].modelMapping.x must be a non-empty model name");
  }
}
}  // namespace
}  // namespace aiclient::pool
