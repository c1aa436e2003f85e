#include <gtest/gtest.h>

#include "aiclient/util/strings.hpp"

namespace aiclient::util {
namespace {

TEST(strings, constant_time_equal_compares_content_and_length) {
  EXPECT_TRUE(constant_time_equal("secret-key", "secret-key"));
  EXPECT_FALSE(constant_time_equal("secret-key", "secret-kez"));
  EXPECT_FALSE(constant_time_equal("secret-key", "secret-key2"));
  EXPECT_FALSE(constant_time_equal("secret-key", "secret"));
  EXPECT_FALSE(constant_time_equal("secret-key", ""));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(strings, mask_secret_never_shows_the_whole_secret) {
  EXPECT_EQ(mask_secret("sk-abcdefghijklmnop"), "sk-a...mnop");
  EXPECT_EQ(mask_secret("short"), "***");
  EXPECT_EQ(mask_secret(""), "***");
}

TEST(strings, query_param_decodes_and_finds_exact_keys) {
  EXPECT_EQ(query_param("alt=sse&key=a%2Bb", "key"), "a+b");
  EXPECT_EQ(query_param("keys=1&key=2", "key"), "2");
  EXPECT_EQ(query_param("alt=sse", "key"), "");
  EXPECT_EQ(query_param("key", "key"), "");
  EXPECT_EQ(percent_decode("%zz%41"), "%zzA");
  EXPECT_EQ(percent_decode("abc%4"), "abc%4");
}

TEST(strings, case_helpers) {
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("Content-Type", "content-typ"));
  EXPECT_TRUE(istarts_with("Bearer xyz", "bearer "));
  EXPECT_EQ(to_lower("X-Api-KEY"), "x-api-key");
  EXPECT_EQ(trim("  a b \r\n"), "a b");
}

}  // namespace
}  // namespace aiclient::util
