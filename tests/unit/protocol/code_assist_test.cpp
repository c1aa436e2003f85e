#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiclient/protocol/code_assist.hpp"

namespace aiclient::protocol {
namespace {

TEST(code_assist, wraps_a_gemini_body_with_model_and_project) {
  const std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi \"there\""}]}]})";
  const auto wrapped = nlohmann::json::parse(code_assist_wrap("gemini-2.5-pro", "proj-1", body));
  EXPECT_EQ(wrapped["model"], "gemini-2.5-pro");
  EXPECT_EQ(wrapped["project"], "proj-1");
  EXPECT_EQ(wrapped["request"], nlohmann::json::parse(body));
  EXPECT_FALSE(nlohmann::json::parse(code_assist_wrap("m", "", body)).contains("project"));
}

TEST(code_assist, unwraps_the_response_member) {
  const std::string inner = R"({"candidates":[{"content":{"parts":[{"text":"x"}]}}]})";
  auto u = code_assist_unwrap(R"({"traceId":"t","response": )" + inner + " \n}");
  ASSERT_TRUE(u);
  EXPECT_EQ(*u, inner);
  u = code_assist_unwrap(inner);  // already plain
  ASSERT_TRUE(u);
  EXPECT_EQ(*u, inner);
  EXPECT_FALSE(code_assist_unwrap("[1,2]"));
  EXPECT_FALSE(code_assist_unwrap("{\"response\":"));
}

}  // namespace
}  // namespace aiclient::protocol
