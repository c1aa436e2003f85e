// Gemini Code Assist project discovery against a fake Code Assist API: PROJECT_ID, an
// onboarded account (currentTier), onboarding with a long-running operation, ineligible tiers.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

class gemini_project : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream api_;    // Code Assist
  fake_upstream token_;  // OAuth token endpoint
  token_manager manager_{dead_endpoints(), test_options()};
  std::string path_ = dir_.file("oauth_creds.json");

  void SetUp() override {
    write_file(path_, json{{"access_token", "ya29.api-access"},
                           {"refresh_token", "1//r"},
                           {"expiry_date", ms_from_now(1h)}}
                          .dump());
  }
  std::shared_ptr<const pool::instance> instance(std::map<std::string, std::string> extra = {}) {
    extra["GEMINI_OAUTH_CREDS_FILE_PATH"] = path_;
    extra["GEMINI_CODE_ASSIST_BASE"] = api_.base_url() + "/v1internal";
    extra["GEMINI_TOKEN_URL"] = token_.base_url() + "/token";
    return make_instance("gemini-cli-oauth", extra);
  }
  std::pair<std::string, std::string> resolve(std::shared_ptr<const pool::instance> inst) {
    return run(manager_.resolve_gemini_project(std::move(inst)));
  }
  std::vector<std::string> calls() const {
    std::vector<std::string> out;
    for (const auto& r : api_.requests()) out.push_back(r.method + " " + r.target);
    return out;
  }
};

TEST_F(gemini_project, project_id_field_wins_without_any_call) {
  const auto [project, error] = resolve(instance({{"PROJECT_ID", "my-own-project"}}));
  EXPECT_EQ(project, "my-own-project");
  EXPECT_EQ(error, "");
  EXPECT_TRUE(api_.requests().empty());
}

TEST_F(gemini_project, onboarded_account_uses_its_current_tier_project) {
  api_.push(json_answer(200, R"({"currentTier":{"id":"standard-tier","name":"Standard"},
      "allowedTiers":[{"id":"standard-tier","isDefault":true}],
      "cloudaicompanionProject":"cool-proj-12345"})"));
  const auto inst = instance();
  const auto [project, error] = resolve(inst);
  EXPECT_EQ(error, "");
  EXPECT_EQ(project, "cool-proj-12345");

  const auto seen = api_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1internal:loadCodeAssist");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer ya29.api-access");
  const auto body = json::parse(seen[0].body);
  EXPECT_EQ(body["metadata"]["pluginType"], "GEMINI");
  EXPECT_EQ(body["metadata"]["ideType"], "IDE_UNSPECIFIED");
  EXPECT_FALSE(body.contains("cloudaicompanionProject"));

  // Cached per credentials file, and part of the token's facts from now on.
  EXPECT_EQ(resolve(inst).first, "cool-proj-12345");
  EXPECT_EQ(api_.requests().size(), 1u);
  const auto tok = get_token(manager_, inst);
  ASSERT_TRUE(tok.tok) << tok.error;
  EXPECT_EQ(tok.tok->facts.at("project"), "cool-proj-12345");
}

TEST_F(gemini_project, onboarding_polls_the_long_running_operation) {
  api_.push(json_answer(200, R"({"allowedTiers":[
      {"id":"free-tier","name":"Gemini Code Assist for individuals","isDefault":true,
       "userDefinedCloudaicompanionProject":false},
      {"id":"standard-tier","userDefinedCloudaicompanionProject":true}]})"));
  api_.push(json_answer(200, R"({"name":"operations/onboard-1","done":false})"));
  api_.push(json_answer(200, R"({"name":"operations/onboard-1","done":false})"));
  api_.push(json_answer(200, R"({"name":"operations/onboard-1","done":true,
      "response":{"cloudaicompanionProject":{"id":"onboarded-proj","name":"Onboarded"}}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(error, "");
  EXPECT_EQ(project, "onboarded-proj");
  EXPECT_EQ(calls(),
            (std::vector<std::string>{
                "POST /v1internal:loadCodeAssist", "POST /v1internal:onboardUser",
                "GET /v1internal/operations/onboard-1", "GET /v1internal/operations/onboard-1"}));
  const auto onboard = json::parse(api_.requests()[1].body);
  EXPECT_EQ(onboard["tierId"], "free-tier");
  EXPECT_FALSE(onboard.contains("cloudaicompanionProject"));  // free tier: 412 with one
  EXPECT_EQ(onboard["metadata"]["pluginType"], "GEMINI");
}

TEST_F(gemini_project, onboarding_that_never_finishes_is_bounded) {
  api_.set_handler([](const recorded_request& r) {
    if (r.target == "/v1internal:loadCodeAssist")
      return json_answer(200, R"({"allowedTiers":[{"id":"free-tier","isDefault":true}]})");
    return json_answer(200, R"({"name":"operations/slow","done":false})");
  });
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find("did not finish after 5 polls"), std::string::npos) << error;
  EXPECT_EQ(requests_to(api_, "/v1internal/operations/slow").size(), 5u);
}

TEST_F(gemini_project, ineligible_tiers_are_quoted_verbatim) {
  const std::string reason =
      "This client is no longer supported for Gemini Code Assist for individuals.";
  api_.push(json_answer(200, json{{"ineligibleTiers",
                                   {{{"reasonCode", "UNSUPPORTED_CLIENT"},
                                     {"reasonMessage", reason},
                                     {"tierId", "free-tier"}}}}}
                                 .dump()));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find(reason), std::string::npos) << error;
  EXPECT_NE(error.find("UNSUPPORTED_CLIENT"), std::string::npos) << error;
  EXPECT_EQ(calls(), (std::vector<std::string>{"POST /v1internal:loadCodeAssist"}));
}

TEST_F(gemini_project, current_tier_without_project_asks_for_project_id) {
  api_.push(json_answer(200, R"({"currentTier":{"id":"standard-tier"}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find("PROJECT_ID"), std::string::npos) << error;
}

TEST_F(gemini_project, load_code_assist_error_is_reported) {
  api_.push(
      json_answer(403, R"({"error":{"code":403,"message":"The caller does not have permission",
      "status":"PERMISSION_DENIED"}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find("HTTP 403"), std::string::npos) << error;
  EXPECT_NE(error.find("The caller does not have permission"), std::string::npos) << error;
  EXPECT_EQ(error.find("ya29.api-access"), std::string::npos) << error;
}

TEST_F(gemini_project, a_401_refreshes_the_token_and_retries_once) {
  api_.push(json_answer(
      401,
      R"({"error":{"code":401,"message":"Request had invalid authentication credentials."}})"));
  api_.push(json_answer(
      200, R"({"currentTier":{"id":"free-tier"},"cloudaicompanionProject":"p-after-401"})"));
  token_.push(
      json_answer(200, json{{"access_token", "ya29.refreshed"}, {"expires_in", 3599}}.dump()));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(error, "");
  EXPECT_EQ(project, "p-after-401");
  EXPECT_EQ(token_.requests().size(), 1u);
  const auto seen = api_.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].headers.at("authorization"), "Bearer ya29.refreshed");
}

TEST_F(gemini_project, concurrent_resolutions_share_one_discovery) {
  api_.push(json_answer(
      200, R"({"currentTier":{"id":"free-tier"},"cloudaicompanionProject":"shared"})", 200ms));
  const auto inst = instance();
  asio::io_context ioc;
  std::vector<std::string> projects;
  for (int i = 0; i < 6; ++i) {
    asio::co_spawn(ioc, manager_.resolve_gemini_project(inst),
                   [&](std::exception_ptr, std::pair<std::string, std::string> r) {
                     projects.push_back(r.first);
                   });
  }
  ioc.run();
  EXPECT_EQ(projects, std::vector<std::string>(6, "shared"));
  EXPECT_EQ(api_.requests().size(), 1u);
}

const std::string vpc_sc_denial = R"({"error":{"code":403,
    "message":"Request is prohibited by organization's policy. vpcServiceControlsUniqueIdentifier: x",
    "status":"PERMISSION_DENIED",
    "details":[{"@type":"type.googleapis.com/google.rpc.PreconditionFailure"},
               {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SECURITY_POLICY_VIOLATED",
                "domain":"googleapis.com"}]}})";

TEST_F(gemini_project, a_security_policy_violation_onboards_with_the_standard_tier) {
  api_.push(json_answer(403, vpc_sc_denial));
  api_.push(json_answer(200, R"({"name":"operations/vpc-1","done":false})"));
  api_.push(json_answer(200, R"({"name":"operations/vpc-1","done":true,
      "response":{"cloudaicompanionProject":{"id":"vpc-proj"}}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(error, "");
  EXPECT_EQ(project, "vpc-proj");
  EXPECT_EQ(calls(), (std::vector<std::string>{"POST /v1internal:loadCodeAssist",
                                               "POST /v1internal:onboardUser",
                                               "GET /v1internal/operations/vpc-1"}));
  const auto onboard = json::parse(api_.requests()[1].body);
  EXPECT_EQ(onboard["tierId"], "standard-tier");
  EXPECT_EQ(onboard["metadata"]["pluginType"], "GEMINI");
}

TEST_F(gemini_project, a_security_policy_violation_that_cannot_onboard_asks_for_project_id) {
  // Array-wrapped, as Google sometimes sends errors.
  api_.push(json_answer(403, "[" + vpc_sc_denial + "]"));
  api_.push(json_answer(
      400,
      R"({"error":{"code":400,"message":"Precondition check failed.","status":"FAILED_PRECONDITION"}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find("onboardUser: HTTP 400"), std::string::npos) << error;
  EXPECT_NE(error.find("Precondition check failed."), std::string::npos) << error;
  EXPECT_NE(error.find("VPC Service Controls: set PROJECT_ID"), std::string::npos) << error;
}

TEST_F(gemini_project, another_403_on_load_code_assist_is_not_a_standard_tier) {
  api_.push(json_answer(
      403,
      R"({"error":{"code":403,"message":"denied","details":[{"reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}})"));
  const auto [project, error] = resolve(instance());
  EXPECT_EQ(project, "");
  EXPECT_NE(error.find("loadCodeAssist: HTTP 403"), std::string::npos) << error;
  EXPECT_EQ(calls(), (std::vector<std::string>{"POST /v1internal:loadCodeAssist"}));
}

// ---- countTokens ----

const std::string contents = R"([{"role":"user","parts":[{"text":"how many tokens is this?"}]}])";

TEST_F(gemini_project, count_tokens_calls_code_assist) {
  api_.push(json_answer(200, R"({"totalTokens":42})"));
  const token_count c =
      run(manager_.count_code_assist_tokens(instance(), "gemini-2.5-pro", contents));
  EXPECT_EQ(c.error, "");
  ASSERT_TRUE(c.total);
  EXPECT_EQ(*c.total, 42);
  const auto seen = api_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1internal:countTokens");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer ya29.api-access");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(
      json::parse(seen[0].body),
      json::parse(R"({"request":{"model":"models/gemini-2.5-pro","contents":)" + contents + "}}"));
  // A model already named "models/..." is not prefixed twice; no project is needed.
  api_.push(json_answer(200, R"({"totalTokens":"7"})"));
  const token_count again =
      run(manager_.count_code_assist_tokens(instance(), "models/gemini-2.5-flash", contents));
  ASSERT_TRUE(again.total) << again.error;
  EXPECT_EQ(*again.total, 7);
  EXPECT_EQ(json::parse(api_.requests()[1].body)["request"]["model"], "models/gemini-2.5-flash");
}

TEST_F(gemini_project, count_tokens_refreshes_after_a_401_and_retries_once) {
  api_.push(json_answer(401, R"({"error":{"code":401,"message":"invalid credentials"}})"));
  api_.push(json_answer(200, R"({"totalTokens":9})"));
  token_.push(
      json_answer(200, json{{"access_token", "ya29.refreshed"}, {"expires_in", 3599}}.dump()));
  const token_count c =
      run(manager_.count_code_assist_tokens(instance(), "gemini-2.5-pro", contents));
  ASSERT_TRUE(c.total) << c.error;
  EXPECT_EQ(*c.total, 9);
  ASSERT_EQ(api_.requests().size(), 2u);
  EXPECT_EQ(api_.requests()[1].headers.at("authorization"), "Bearer ya29.refreshed");
  EXPECT_EQ(token_.requests().size(), 1u);
}

TEST_F(gemini_project, count_tokens_failures_are_errors_without_secrets) {
  api_.push(json_answer(
      429,
      R"({"error":{"code":429,"message":"quota for ya29.api-access","status":"RESOURCE_EXHAUSTED"}})"));
  const token_count c =
      run(manager_.count_code_assist_tokens(instance(), "gemini-2.5-pro", contents));
  EXPECT_FALSE(c.total);
  EXPECT_NE(c.error.find("countTokens: HTTP 429"), std::string::npos) << c.error;
  EXPECT_EQ(c.error.find("ya29.api-access"), std::string::npos) << c.error;

  api_.push(json_answer(200, R"({"somethingElse":1})"));
  const token_count odd =
      run(manager_.count_code_assist_tokens(instance(), "gemini-2.5-pro", contents));
  EXPECT_FALSE(odd.total);
  EXPECT_NE(odd.error.find("no totalTokens"), std::string::npos) << odd.error;

  const token_count bad = run(manager_.count_code_assist_tokens(instance(), "m", "{}"));
  EXPECT_FALSE(bad.total);
  EXPECT_NE(bad.error.find("not a JSON array"), std::string::npos) << bad.error;
  EXPECT_EQ(api_.requests().size(), 2u);
}

}  // namespace
}  // namespace aiclient::auth::test
