// The three credential file formats: valid, missing, malformed, missing or mistyped fields;
// the facts the providers need; re-reading after the user logs in again.
#include <gtest/gtest.h>

#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

constexpr const char* gemini_type = "gemini-cli-oauth";
constexpr const char* qwen_type = "openai-qwen-oauth";
constexpr const char* kiro_type = "claude-kiro-oauth";

class credential_files : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream token_server_;  // must never be called by these tests (tokens are fresh)
  token_manager manager_{dead_endpoints(), test_options()};

  std::shared_ptr<const pool::instance> instance(const std::string& type, const std::string& path,
                                                 std::map<std::string, std::string> extra = {}) {
    extra[creds_field(type)] = path;
    extra["GEMINI_TOKEN_URL"] = token_server_.base_url() + "/token";
    extra["QWEN_TOKEN_URL"] = token_server_.base_url() + "/token";
    extra["KIRO_REFRESH_URL"] = token_server_.base_url() + "/token";
    extra["KIRO_IDC_TOKEN_URL"] = token_server_.base_url() + "/token";
    return make_instance(type, extra);
  }
};

TEST_F(credential_files, creds_field_names_each_oauth_type) {
  EXPECT_EQ(creds_field("gemini-cli-oauth"), "GEMINI_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(creds_field("openai-qwen-oauth"), "QWEN_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(creds_field("claude-kiro-oauth"), "KIRO_OAUTH_CREDS_FILE_PATH");
  EXPECT_EQ(creds_field("openai-custom"), "");
}

TEST_F(credential_files, gemini_valid_file_gives_its_token_without_refresh) {
  const std::string path = dir_.file("oauth_creds.json");
  const auto expiry = ms_from_now(1h);
  write_file(path, json{{"access_token", "ya29.valid-access"},
                        {"refresh_token", "1//refresh-secret"},
                        {"expiry_date", expiry},
                        {"token_type", "Bearer"},
                        {"scope", "https://www.googleapis.com/auth/cloud-platform"},
                        {"id_token", "eyJ.id.token"}}
                       .dump());
  const auto r = get_token(manager_, instance(gemini_type, path));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "ya29.valid-access");
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::milliseconds>(r.tok->expires_at.time_since_epoch())
          .count(),
      expiry);
  EXPECT_EQ(r.tok->facts.count("project"), 0u);  // not resolved yet
  EXPECT_TRUE(token_server_.requests().empty());

  const auto with_project =
      get_token(manager_, instance(gemini_type, path, {{"PROJECT_ID", "p-1"}}));
  ASSERT_TRUE(with_project.tok) << with_project.error;
  EXPECT_EQ(with_project.tok->facts.at("project"), "p-1");
}

TEST_F(credential_files, missing_file_is_an_error_naming_the_path) {
  for (const char* type : {gemini_type, qwen_type, kiro_type}) {
    const std::string path = dir_.file(std::string("absent-") + type + ".json");
    const auto r = get_token(manager_, instance(type, path));
    EXPECT_FALSE(r.tok) << type;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
    EXPECT_FALSE(r.permanent);
  }
}

TEST_F(credential_files, instance_without_the_file_field_is_an_error_naming_the_field) {
  const auto r = get_token(manager_, make_instance(qwen_type, {}));
  EXPECT_FALSE(r.tok);
  EXPECT_NE(r.error.find("QWEN_OAUTH_CREDS_FILE_PATH"), std::string::npos) << r.error;
  const auto other = get_token(manager_, make_instance("openai-custom", {}));
  EXPECT_FALSE(other.tok);
  EXPECT_NE(other.error.find("openai-custom"), std::string::npos) << other.error;
}

TEST_F(credential_files, malformed_json_is_an_error_without_the_file_content) {
  for (const char* type : {gemini_type, qwen_type, kiro_type}) {
    const std::string path = dir_.file(std::string("broken-") + type + ".json");
    write_file(path, R"({"access_token": "secret-abc-123", "refresh_token": "rt-xyz-789" )");
    const auto r = get_token(manager_, instance(type, path));
    EXPECT_FALSE(r.tok) << type;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("not valid JSON"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("secret-abc-123"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("rt-xyz-789"), std::string::npos) << r.error;
  }
  const std::string array_path = dir_.file("array.json");
  write_file(array_path, R"(["secret-abc-123"])");
  const auto r = get_token(manager_, instance(gemini_type, array_path));
  EXPECT_NE(r.error.find("not a JSON object"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("secret-abc-123"), std::string::npos) << r.error;

  const std::string empty_path = dir_.file("empty.json");
  write_file(empty_path, "");
  EXPECT_NE(get_token(manager_, instance(qwen_type, empty_path)).error.find("not valid JSON"),
            std::string::npos);
}

TEST_F(credential_files, missing_refresh_token_is_named) {
  struct c {
    const char* type;
    json doc;
    const char* field;
  };
  const c cases[] = {
      {gemini_type, json{{"access_token", "a-secret-1"}, {"expiry_date", ms_from_now(1h)}},
       "refresh_token"},
      {qwen_type,
       json{
           {"access_token", "a-secret-1"}, {"refresh_token", ""}, {"expiry_date", ms_from_now(1h)}},
       "refresh_token"},
      {kiro_type, json{{"accessToken", "a-secret-1"}, {"authMethod", "social"}}, "refreshToken"}};
  for (const auto& k : cases) {
    const std::string path = dir_.file(std::string("norefresh-") + k.type + ".json");
    write_file(path, k.doc.dump());
    const auto r = get_token(manager_, instance(k.type, path));
    EXPECT_FALSE(r.tok) << k.type;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(std::string("'") + k.field + "'"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("a-secret-1"), std::string::npos) << r.error;
  }
}

TEST_F(credential_files, mistyped_fields_are_named_without_values) {
  struct c {
    const char* type;
    json doc;
    const char* field;
  };
  const c cases[] = {
      {gemini_type, json{{"refresh_token", "r-secret-1"}, {"expiry_date", "tomorrow-secret"}},
       "expiry_date"},
      {gemini_type, json{{"refresh_token", "r-secret-1"}, {"access_token", 42}}, "access_token"},
      {qwen_type, json{{"refresh_token", "r-secret-1"}, {"resource_url", json::array()}},
       "resource_url"},
      {kiro_type, json{{"refreshToken", "r-secret-1"}, {"expiresAt", "soon-secret"}}, "expiresAt"},
      {kiro_type, json{{"refreshToken", "r-secret-1"}, {"region", "us east 1/../x"}}, "region"},
      {kiro_type, json{{"refreshToken", "r-secret-1"}, {"authMethod", "password-secret"}},
       "authMethod"},
      {kiro_type,
       json{{"refreshToken", "r-secret-1"}, {"authMethod", "IdC"}, {"clientIdHash", "../../etc"}},
       "clientIdHash"}};
  int n = 0;
  for (const auto& k : cases) {
    const std::string path = dir_.file("typed-" + std::to_string(n++) + ".json");
    write_file(path, k.doc.dump());
    const auto r = get_token(manager_, instance(k.type, path));
    EXPECT_FALSE(r.tok) << k.doc.dump();
    EXPECT_NE(r.error.find(std::string("'") + k.field + "'"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("secret"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(credential_files, qwen_base_url_comes_from_resource_url) {
  const std::pair<json, std::string> cases[] = {
      {"portal.qwen.ai", "https://portal.qwen.ai/v1"},
      {"https://portal.qwen.ai/v1", "https://portal.qwen.ai/v1"},
      {"http://127.0.0.1:9/", "http://127.0.0.1:9/v1"},
      {nullptr, "https://dashscope.aliyuncs.com/compatible-mode/v1"}};
  int n = 0;
  for (const auto& [resource, expected] : cases) {
    const std::string path = dir_.file("qwen-" + std::to_string(n++) + ".json");
    json doc = {{"access_token", "qa"},
                {"refresh_token", "qr"},
                {"token_type", "Bearer"},
                {"expiry_date", ms_from_now(2h)}};
    if (!resource.is_null()) doc["resource_url"] = resource;
    write_file(path, doc.dump());
    const auto r = get_token(manager_, instance(qwen_type, path));
    ASSERT_TRUE(r.tok) << r.error;
    EXPECT_EQ(r.tok->access_token, "qa");
    EXPECT_EQ(r.tok->facts.at("base_url"), expected) << resource;
  }
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(credential_files, kiro_social_facts) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path, json{{"accessToken", "aoa-access"},
                        {"refreshToken", "abc"},
                        {"expiresAt", "2099-05-01T12:00:00.000Z"},
                        {"authMethod", "social"},
                        {"provider", "Google"},
                        {"profileArn", "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC"}}
                       .dump());
  const auto r = get_token(manager_, instance(kiro_type, path));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "aoa-access");
  EXPECT_EQ(r.tok->expires_at, *pool::parse_iso8601("2099-05-01T12:00:00.000Z"));
  EXPECT_EQ(r.tok->facts.at("profile_arn"),
            "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC");
  EXPECT_EQ(r.tok->facts.at("region"), "us-east-1");  // the default
  EXPECT_EQ(r.tok->facts.at("auth_method"), "social");
  // SHA-256("abc"): the machine id is the hash of the refresh token.
  EXPECT_EQ(r.tok->facts.at("machine_id"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(credential_files, kiro_expires_at_without_zone_or_with_offset) {
  const std::pair<std::string, std::string> cases[] = {
      {"2099-01-01T00:00:00", "2099-01-01T00:00:00Z"},
      {"2099-01-01T02:00:00+02:00", "2099-01-01T00:00:00Z"},
      {"2099-01-01T00:00:00.250Z", "2099-01-01T00:00:00.250Z"}};
  int n = 0;
  for (const auto& [written, utc] : cases) {
    const std::string path = dir_.file("kiro-exp-" + std::to_string(n++) + ".json");
    write_file(path,
               json{{"accessToken", "a"}, {"refreshToken", "r"}, {"expiresAt", written}}.dump());
    const auto r = get_token(manager_, instance(kiro_type, path));
    ASSERT_TRUE(r.tok) << written << ": " << r.error;
    EXPECT_EQ(r.tok->expires_at, *pool::parse_iso8601(utc)) << written;
  }
}

TEST_F(credential_files, kiro_auth_method_aliases_and_defaults) {
  const std::pair<json, std::string> cases[] = {
      {json{{"authMethod", "IdC"}}, "idc"},
      {json{{"authMethod", "builder-id"}}, "idc"},
      {json{{"authMethod", "iam"}}, "idc"},
      {json{{"authMethod", "Social"}}, "social"},
      {json{{"clientId", "cid"}, {"clientSecret", "cs"}}, "idc"},  // no authMethod
      {json::object(), "social"}};
  int n = 0;
  for (const auto& [extra, method] : cases) {
    json doc = {{"accessToken", "a"},
                {"refreshToken", "r"},
                {"expiresAt", "2099-01-01T00:00:00Z"},
                {"region", "eu-central-1"}};
    for (const auto& [k, v] : extra.items()) doc[k] = v;
    const std::string path = dir_.file("kiro-m-" + std::to_string(n++) + ".json");
    write_file(path, doc.dump());
    const auto r = get_token(manager_, instance(kiro_type, path));
    ASSERT_TRUE(r.tok) << extra.dump() << ": " << r.error;
    EXPECT_EQ(r.tok->facts.at("auth_method"), method) << extra.dump();
    EXPECT_EQ(r.tok->facts.at("region"), "eu-central-1");
    EXPECT_EQ(r.tok->facts.count("profile_arn"), 0u);
  }
}

TEST_F(credential_files, file_is_read_again_after_an_external_change) {
  const std::string path = dir_.file("oauth_creds.json");
  write_file(path, json{{"access_token", "first-login"},
                        {"refresh_token", "r1"},
                        {"expiry_date", ms_from_now(1h)}}
                       .dump());
  const auto inst = instance(gemini_type, path);
  auto r = get_token(manager_, inst);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "first-login");
  EXPECT_EQ(get_token(manager_, inst).tok->access_token, "first-login");  // cached

  // The user logs in again: gemini-cli writes a new file.
  write_file(path, json{{"access_token", "second-login"},
                        {"refresh_token", "r2"},
                        {"expiry_date", ms_from_now(2h)}}
                       .dump());
  r = get_token(manager_, inst);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "second-login");

  // Deleted (logged out): an error, not the cached token.
  fs::remove(path);
  r = get_token(manager_, inst);
  EXPECT_FALSE(r.tok);
  EXPECT_NE(r.error.find(path), std::string::npos);
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(credential_files, home_folder_is_expanded) {
  const char* old_home = std::getenv("HOME");
  const std::string saved = old_home ? old_home : "";
  const std::string home = dir_.file("home");
  fs::create_directories(home + "/.qwen");
  write_file(
      home + "/.qwen/oauth_creds.json",
      json{{"access_token", "from-home"}, {"refresh_token", "r"}, {"expiry_date", ms_from_now(1h)}}
          .dump());
  ::setenv("HOME", home.c_str(), 1);
  const auto r = get_token(manager_, instance(qwen_type, "~/.qwen/oauth_creds.json"));
  if (old_home)
    ::setenv("HOME", saved.c_str(), 1);
  else
    ::unsetenv("HOME");
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "from-home");
}

}  // namespace
}  // namespace aiclient::auth::test
