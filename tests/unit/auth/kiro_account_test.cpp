// Kiro account calls against fake Kiro servers: the IdC client registration's expiry,
// getUsageLimits and ListAvailableModels (with a refused token refreshed once).
#include <gtest/gtest.h>

#include <mutex>

#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

constexpr const char* kiro_type = "claude-kiro-oauth";
constexpr const char* arn = "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC";

class kiro_account : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream token_server_;
  fake_upstream api_;
  token_manager manager_{dead_endpoints(), test_options()};
  std::string path_ = dir_.file("kiro-auth-token.json");

  void social_file(const std::string& access, std::chrono::system_clock::duration expires_in) {
    write_file(path_,
               json{{"accessToken", access},
                    {"refreshToken", "aor-social"},
                    {"expiresAt", pool::to_iso8601(std::chrono::system_clock::now() + expires_in)},
                    {"authMethod", "social"},
                    {"provider", "Google"},
                    {"region", "us-east-1"},
                    {"profileArn", arn}}
                   .dump());
  }
  void idc_file(std::chrono::system_clock::duration expires_in) {
    write_file(path_,
               json{{"accessToken", "aoa-idc"},
                    {"refreshToken", "aor-idc"},
                    {"expiresAt", pool::to_iso8601(std::chrono::system_clock::now() + expires_in)},
                    {"authMethod", "IdC"},
                    {"provider", "BuilderId"},
                    {"region", "us-east-1"},
                    {"clientIdHash", "f00dcafe"}}
                   .dump());
  }
  void registration(const json& expires_at) {
    write_file(
        dir_.file("f00dcafe.json"),
        json{{"clientId", "reg-id"}, {"clientSecret", "reg-secret"}, {"expiresAt", expires_at}}
            .dump());
  }
  std::shared_ptr<const pool::instance> instance() const {
    return make_instance(kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path_},
                                     {"KIRO_REFRESH_URL", token_server_.base_url() + "/refresh"},
                                     {"KIRO_IDC_TOKEN_URL", token_server_.base_url() + "/idc"}});
  }
  std::string base() const { return api_.base_url() + "/{region}"; }
};

TEST_F(kiro_account, an_expired_idc_registration_is_a_dead_login_without_a_refresh_call) {
  idc_file(-1min);
  registration("2021-03-04T05:06:07Z");
  const auto r = get_token(manager_, instance());
  EXPECT_FALSE(r.tok);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("Kiro IdC client registration expired at 2021-03-04T05:06:07.000Z"),
            std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("log in again with Kiro"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("reg-secret"), std::string::npos) << r.error;
  EXPECT_TRUE(token_server_.requests().empty());

  // A new login in Kiro registers a new client: the next attempt refreshes with it.
  registration(pool::to_iso8601(std::chrono::system_clock::now() + 90 * 24h));
  token_server_.push(
      json_answer(200, json{{"accessToken", "aoa-after-login"}, {"expiresIn", 3600}}.dump()));
  const auto ok = get_token(manager_, instance());
  ASSERT_TRUE(ok.tok) << ok.error;
  EXPECT_EQ(ok.tok->access_token, "aoa-after-login");
  ASSERT_EQ(token_server_.requests().size(), 1u);
  EXPECT_EQ(token_server_.requests()[0].target, "/idc");
  EXPECT_EQ(json::parse(token_server_.requests()[0].body)["clientId"], "reg-id");
}

TEST_F(kiro_account, registration_expiry_in_epoch_seconds_is_understood) {
  idc_file(-1min);
  registration(1600000000);  // 2020-09-13
  const auto r = get_token(manager_, instance());
  EXPECT_FALSE(r.tok);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("expired at 2020-09-13T"), std::string::npos) << r.error;
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(kiro_account, the_refresh_timer_reports_an_expired_registration_at_once) {
  manager_options o = test_options();
  token_manager m(dead_endpoints(), o);
  idc_file(5min);  // still works for 5 min, but it cannot be refreshed
  registration("2022-01-01T00:00:00Z");
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> failures;
  const auto inst = instance();
  m.start_timer([&] { return std::vector<std::shared_ptr<const pool::instance>>{inst}; },
                [&](const pool::instance&, const std::string& error, bool permanent) {
                  std::lock_guard lock(mu);
                  failures.emplace_back(error, permanent);
                });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !failures.empty();
  }));
  std::lock_guard lock(mu);
  EXPECT_TRUE(failures[0].second) << "permanent: the instance goes unhealthy at once";
  EXPECT_NE(failures[0].first.find("registration expired"), std::string::npos) << failures[0].first;
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(kiro_account, usage_limits_are_queried_and_summed) {
  social_file("aoa-live", 1h);
  api_.push(json_answer(200, R"({
      "nextDateReset": 1.7646624E9,
      "subscriptionInfo": {"subscriptionTitle": "KIRO FREE", "type": "Q_DEVELOPER_STANDALONE_FREE"},
      "usageBreakdownList": [{
        "resourceType": "CREDIT", "currentUsage": 40, "currentUsageWithPrecision": 40.25,
        "usageLimit": 50, "usageLimitWithPrecision": 50.0,
        "freeTrialInfo": {"freeTrialStatus": "ACTIVE", "currentUsageWithPrecision": 100,
                          "usageLimitWithPrecision": 500},
        "bonuses": [{"status": "ACTIVE", "currentUsage": 1, "usageLimit": 10},
                    {"status": "EXPIRED", "currentUsage": 0, "usageLimit": 1000}]}]})"));
  const kiro_usage u = run(manager_.kiro_usage_limits(instance(), base()));
  ASSERT_EQ(u.error, "");
  EXPECT_TRUE(u.has_breakdown);
  EXPECT_DOUBLE_EQ(u.current, 40.25 + 100 + 1);
  EXPECT_DOUBLE_EQ(u.limit, 50 + 500 + 10);
  EXPECT_FALSE(u.exhausted());
  EXPECT_EQ(u.subscription, "KIRO FREE");
  ASSERT_TRUE(u.next_reset);
  EXPECT_EQ(pool::to_iso8601(*u.next_reset), "2025-12-02T08:00:00.000Z");

  const auto seen = api_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target,
            "/us-east-1/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST&profileArn="
            "arn%3Aaws%3Acodewhisperer%3Aus-east-1%3A123456789012%3Aprofile%2FABC");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer aoa-live");
  EXPECT_NE(seen[0].headers.at("user-agent").find("KiroIDE-"), std::string::npos);
  EXPECT_TRUE(seen[0].headers.count("amz-sdk-invocation-id"));
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(kiro_account, a_used_up_allowance_is_exhausted) {
  social_file("aoa-live", 1h);
  api_.push(json_answer(200, R"({"usageBreakdownList":[{"currentUsage":50,"usageLimit":50,
      "nextDateReset":"2031-02-01T00:00:00Z"}]})"));
  const kiro_usage u = run(manager_.kiro_usage_limits(instance(), base()));
  ASSERT_EQ(u.error, "");
  EXPECT_TRUE(u.exhausted());
  ASSERT_TRUE(u.next_reset);
  EXPECT_EQ(pool::to_iso8601(*u.next_reset), "2031-02-01T00:00:00.000Z");
}

TEST_F(kiro_account, a_refused_token_is_refreshed_and_the_query_made_once_more) {
  social_file("aoa-stale", 1h);
  api_.push(json_answer(
      403, R"({"message":"The bearer token included in the request is invalid.","reason":null})"));
  api_.push(json_answer(200, R"({"usageBreakdownList":[{"currentUsage":1,"usageLimit":50}]})"));
  token_server_.push(json_answer(
      200,
      json{{"accessToken", "aoa-fresh"}, {"refreshToken", "aor-2"}, {"expiresIn", 3600}}.dump()));
  const kiro_usage u = run(manager_.kiro_usage_limits(instance(), base()));
  ASSERT_EQ(u.error, "");
  EXPECT_DOUBLE_EQ(u.current, 1);
  const auto seen = api_.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer aoa-stale");
  EXPECT_EQ(seen[1].headers.at("authorization"), "Bearer aoa-fresh");
  EXPECT_EQ(token_server_.requests().size(), 1u);
}

TEST_F(kiro_account, a_suspended_account_is_an_error_without_a_refresh) {
  social_file("aoa-live", 1h);
  api_.push(json_answer(
      403, R"({"message":"Your account is temporarily is suspended.","reason":"SUSPENDED"})"));
  const kiro_usage u = run(manager_.kiro_usage_limits(instance(), base()));
  EXPECT_NE(u.error.find("getUsageLimits: HTTP 403"), std::string::npos) << u.error;
  EXPECT_NE(u.error.find("temporarily is suspended"), std::string::npos) << u.error;
  EXPECT_EQ(u.error.find("aoa-live"), std::string::npos);
  EXPECT_FALSE(u.permanent);
  EXPECT_EQ(api_.requests().size(), 1u);
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(kiro_account, a_dead_login_is_reported_as_permanent) {
  social_file("aoa-old", -1min);
  token_server_.push(
      json_answer(400, R"({"message":"Invalid refresh token provided","reason":null})"));
  const kiro_usage u = run(manager_.kiro_usage_limits(instance(), base()));
  EXPECT_TRUE(u.permanent);
  EXPECT_NE(u.error.find("Invalid refresh token provided"), std::string::npos) << u.error;
  EXPECT_TRUE(api_.requests().empty());
}

TEST_F(kiro_account, model_list_without_profile_for_idc) {
  idc_file(1h);
  registration("2099-01-01T00:00:00Z");
  api_.push(json_answer(200, R"({"defaultModel":{"modelId":"auto"},"models":[
      {"modelId":"claude-sonnet-4.5","modelName":"Claude Sonnet 4.5"},
      {"modelId":"claude-haiku-4.5"},{"modelName":"no id"}],"nextToken":null})"));
  const kiro_models m = run(manager_.kiro_list_models(instance(), base()));
  ASSERT_EQ(m.error, "");
  EXPECT_EQ(m.ids, (std::vector<std::string>{"claude-sonnet-4.5", "claude-haiku-4.5"}));
  ASSERT_EQ(api_.requests().size(), 1u);
  EXPECT_EQ(api_.requests()[0].target, "/us-east-1/ListAvailableModels?origin=AI_EDITOR");

  api_.push(json_answer(200, R"({"unexpected":true})"));
  const kiro_models bad = run(manager_.kiro_list_models(instance(), base()));
  EXPECT_NE(bad.error.find("no models list"), std::string::npos) << bad.error;
}

}  // namespace
}  // namespace aiclient::auth::test
