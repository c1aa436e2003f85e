#include <gtest/gtest.h>

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
  EXPECT_EQ(error_of(R"({"openai-custom":{}})"), "pools.json: openai-custom must be an array of instances");
  EXPECT_EQ(error_of(R"({"openai-custom":[{"OPENAI_API_KEY":5,"OPENAI_BASE_URL":"https://a"}]})"),
            "pools.json: openai-custom[0].OPENAI_API_KEY must be a string");
  EXPECT_EQ(error_of(R"({"claude-custom":[{"CLAUDE_API_KEY":"sk-secret","CLAUDE_BASE_URL":"ftp://x"}]})"),
            "pools.json: claude-custom[0].CLAUDE_BASE_URL must start with http:// or https://");
  EXPECT_EQ(error_of(R"({"mock":[{"uuid":"a"},{"uuid":"a"}]})"), "pools.json: mock[1].uuid \"a\" is used twice");
  EXPECT_EQ(error_of(R"({"mock":[{"isHealthy":"yes"}]})"), "pools.json: mock[0].isHealthy must be true or false");
  EXPECT_EQ(error_of("{not json"), "pools.json: not valid JSON");
  EXPECT_EQ(error_of("[]"), "pools.json: top level must be an object of provider types");
}

}  // namespace
}  // namespace aiclient::pool
