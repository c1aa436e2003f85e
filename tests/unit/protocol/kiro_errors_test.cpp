// Classification of Kiro HTTP error answers (PROVIDERS.md 3.6) and the monthly quota reset.
#include <gtest/gtest.h>

#include <chrono>

#include "aiclient/protocol/kiro.hpp"

namespace {

namespace kiro = aiclient::protocol::kiro;
using kiro::error_action;
using std::chrono::system_clock;

// A UTC time point from a civil date and time.
system_clock::time_point utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

TEST(kiro_errors, bad_requests_are_not_retried) {
  for (
      const char* body :
      {R"({"message":"Improperly formed request.","reason":null})",
       R"({"message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"})",
       R"({"__type":"com.amazon.aws.codewhisperer#ValidationException","message":"Invalid conversation id","reason":"INVALID_CONVERSATION_ID"})"}) {
    const kiro::error_info e = kiro::classify_error(400, body);
    EXPECT_EQ(e.action, error_action::client_error) << body;
    EXPECT_EQ(e.client_status, 400);
    EXPECT_FALSE(e.cooldown_until);
  }
  const kiro::error_info e = kiro::classify_error(
      400,
      R"({"__type":"com.amazon.aws.codewhisperer#ValidationException","message":"Input is too long.","reason":"CONTENT_LENGTH_EXCEEDS_THRESHOLD"})");
  EXPECT_EQ(e.type, "ValidationException");
  EXPECT_EQ(e.reason, "CONTENT_LENGTH_EXCEEDS_THRESHOLD");
  EXPECT_EQ(e.message, "Input is too long.");
}

TEST(kiro_errors, unauthorized_and_invalid_bearer_refresh_once) {
  EXPECT_EQ(kiro::classify_error(401, R"({"message":"Unauthorized"})").action,
            error_action::refresh_and_retry);
  EXPECT_EQ(kiro::classify_error(401, "").action, error_action::refresh_and_retry);
  const kiro::error_info e = kiro::classify_error(
      403, R"({"message":"The bearer token included in the request is invalid.","reason":null})",
      "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  EXPECT_EQ(e.action, error_action::refresh_and_retry);
  EXPECT_EQ(e.type, "AccessDeniedException");
}

TEST(kiro_errors, other_forbidden_answers_make_the_account_unusable) {
  for (const char* body :
       {R"({"message":"Your User ID temporarily is suspended."})",
        R"({"message":"Access denied","reason":"UNAUTHORIZED_CUSTOMIZATION_RESOURCE_ACCESS"})",
        "<html>Forbidden</html>"}) {
    const kiro::error_info e = kiro::classify_error(403, body);
    EXPECT_EQ(e.action, error_action::account_unusable) << body;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(kiro_errors, monthly_quota_parks_the_account_until_next_month) {
  const auto now = utc(2026, 5, 17, 13, 45, 12);
  kiro::error_info e = kiro::classify_error(
      402, R"({"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"})", {},
      now);
  EXPECT_EQ(e.action, error_action::quota_exhausted);
  EXPECT_EQ(e.reason, "MONTHLY_REQUEST_COUNT");
  EXPECT_EQ(e.client_status, 429);
  ASSERT_TRUE(e.cooldown_until);
  EXPECT_EQ(*e.cooldown_until, utc(2026, 6, 1));
  // The reason nested under "error", and under a 429 ThrottlingException.
  e = kiro::classify_error(429, R"({"error":{"reason":"MONTHLY_REQUEST_COUNT","message":"quota"}})",
                           "ThrottlingException", now);
  EXPECT_EQ(e.action, error_action::quota_exhausted);
  EXPECT_EQ(e.message, "quota");
  ASSERT_TRUE(e.cooldown_until);
  EXPECT_EQ(*e.cooldown_until, utc(2026, 6, 1));
}

TEST(kiro_errors, next_month_start_crosses_months_and_years) {
  EXPECT_EQ(kiro::next_month_start_utc(utc(2026, 1, 31, 23, 59, 59)), utc(2026, 2, 1));
  EXPECT_EQ(kiro::next_month_start_utc(utc(2026, 12, 15, 8)), utc(2027, 1, 1));
  EXPECT_EQ(kiro::next_month_start_utc(utc(2028, 2, 29, 12)), utc(2028, 3, 1));
  // Exactly at a reset: the next one.
  EXPECT_EQ(kiro::next_month_start_utc(utc(2026, 3, 1)), utc(2026, 4, 1));
  const auto now = system_clock::now();
  const auto next = kiro::next_month_start_utc(now);
  EXPECT_GT(next, now);
  EXPECT_LE(next - now, std::chrono::hours(24 * 31));
}

TEST(kiro_errors, throttling_timeouts_and_server_errors_are_transient) {
  kiro::error_info e =
      kiro::classify_error(429, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  EXPECT_EQ(e.action, error_action::transient);
  EXPECT_EQ(e.client_status, 429);
  EXPECT_EQ(e.type, "ThrottlingException");
  EXPECT_FALSE(e.cooldown_until);
  EXPECT_EQ(kiro::classify_error(408, "").action, error_action::transient);
  EXPECT_EQ(kiro::classify_error(408, "").client_status, 504);
  for (const int status : {500, 502, 503, 504}) {
    e = kiro::classify_error(status, R"({"message":"Encountered an unexpected error"})");
    EXPECT_EQ(e.action, error_action::transient) << status;
    EXPECT_EQ(e.client_status, status == 503 ? 503 : 502);
  }
}

TEST(kiro_errors, hostile_bodies_give_a_short_one_line_message) {
  const std::string huge(100000, 'x');
  kiro::error_info e = kiro::classify_error(500, huge + "\n");
  EXPECT_LE(e.message.size(), 300u);
  e = kiro::classify_error(500, "line one\nline two");
  EXPECT_EQ(e.message, "line one line two");
  e = kiro::classify_error(503, "");
  EXPECT_EQ(e.message, "Kiro answered HTTP 503");
  e = kiro::classify_error(500, std::string("\xff\xfe{\"message\":", 13));
  EXPECT_EQ(e.action, error_action::transient);
  e = kiro::classify_error(400, R"({"message":42,"reason":["x"]})");
  EXPECT_EQ(e.action, error_action::client_error);
  EXPECT_EQ(e.reason, "");
}

}  // namespace
