// Token refresh against fake token servers: when it happens, the request each provider gets,
// write-back (other fields kept, mode 0600), rotation, and failures without secrets.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "aiclient/util/strings.hpp"
#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

constexpr const char* gemini_type = "gemini-cli-oauth";
constexpr const char* qwen_type = "openai-qwen-oauth";
constexpr const char* kiro_type = "claude-kiro-oauth";
constexpr const char* default_qwen_client = "f0304373b74a44d2b584a3fb70ca9e56";

/// Lower-case hex SHA-256 (what Kiro's machine id is made of).
std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    out += buf;
  }
  return out;
}

/// Field `key` of a form-encoded body, decoded.
std::string form_field(const std::string& body, const std::string& key) {
  return util::query_param(body, key);
}

class refresh : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream token_server_;
  token_manager manager_{dead_endpoints(), test_options()};

  std::string token_url(const std::string& path = "/token") const {
    return token_server_.base_url() + path;
  }

  /// A gemini credentials file (with an unknown field in the middle) expiring in `in`.
  std::string gemini_file(std::chrono::system_clock::duration in, mode_t mode = 0600) {
    const std::string path = dir_.file("oauth_creds.json");
    write_file(path,
               json{{"access_token", "ya29.old-access"},
                    {"refresh_token", "1//old-refresh/secret+value"},
                    {"x_unknown", {{"kept", true}}},
                    {"scope", "https://www.googleapis.com/auth/cloud-platform"},
                    {"token_type", "Bearer"},
                    {"expiry_date", ms_from_now(in)}}
                   .dump(2),
               mode);
    return path;
  }

  std::shared_ptr<const pool::instance> gemini(const std::string& path,
                                               std::map<std::string, std::string> extra = {}) {
    extra["GEMINI_OAUTH_CREDS_FILE_PATH"] = path;
    if (!extra.count("GEMINI_TOKEN_URL")) extra["GEMINI_TOKEN_URL"] = token_url();
    return make_instance(gemini_type, extra);
  }

  static std::string gemini_answer(const std::string& access = "ya29.new-access") {
    return json{{"access_token", access},
                {"expires_in", 3599},
                {"scope", "https://www.googleapis.com/auth/cloud-platform"},
                {"token_type", "Bearer"}}
        .dump();
  }
};

TEST_F(refresh, gemini_refreshes_within_the_margin_and_writes_back) {
  const std::string path = gemini_file(5min, 0644);
  token_server_.push(json_answer(200, gemini_answer()));

  const auto r = get_token(manager_, gemini(path));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "ya29.new-access");
  EXPECT_LT(seconds_off(r.tok->expires_at, 3599s), 5.0);

  // The token endpoint saw the form the Google OAuth server expects.
  const auto seen = token_server_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/token");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(form_field(seen[0].body, "grant_type"), "refresh_token");
  EXPECT_EQ(form_field(seen[0].body, "refresh_token"), "1//old-refresh/secret+value");
  EXPECT_EQ(form_field(seen[0].body, "client_id"), dead_endpoints().gemini_client_id);
  EXPECT_EQ(form_field(seen[0].body, "client_secret"), "test-gemini-client-secret");

  // Written back: new token and expiry, the rest kept in order, mode 0600 (it was 0644).
  const auto doc = json::parse(read_file(path));
  EXPECT_EQ(doc["access_token"], "ya29.new-access");
  EXPECT_EQ(doc["refresh_token"], "1//old-refresh/secret+value");
  EXPECT_EQ(doc["x_unknown"], json({{"kept", true}}));
  EXPECT_NEAR(double(doc["expiry_date"].get<std::int64_t>()), double(ms_from_now(3599s)), 5000.0);
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"access_token", "refresh_token", "x_unknown", "scope",
                                            "token_type", "expiry_date"}));
  EXPECT_EQ(file_mode(path), 0600u);

  // Fresh now: the next get() does not refresh.
  EXPECT_EQ(get_token(manager_, gemini(path)).tok->access_token, "ya29.new-access");
  EXPECT_EQ(token_server_.requests().size(), 1u);
}

TEST_F(refresh, no_refresh_outside_the_margin) {
  const std::string path = gemini_file(1h);
  const auto r = get_token(manager_, gemini(path));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "ya29.old-access");
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(refresh, force_refreshes_a_valid_token_once) {
  const std::string path = gemini_file(1h);
  token_server_.push(json_answer(200, gemini_answer("ya29.after-401")));
  token_server_.push(json_answer(200, gemini_answer("ya29.too-many")));
  const auto r = get_token(manager_, gemini(path), true);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "ya29.after-401");
  // A second 401 right after (another request that used the old token): no second refresh.
  const auto again = get_token(manager_, gemini(path), true);
  ASSERT_TRUE(again.tok) << again.error;
  EXPECT_EQ(again.tok->access_token, "ya29.after-401");
  EXPECT_EQ(token_server_.requests().size(), 1u);
}

TEST_F(refresh, gemini_needs_a_client_secret) {
  endpoints ep = dead_endpoints();
  ep.gemini_client_secret.clear();
  token_manager m(ep, test_options());
  const std::string path = gemini_file(-1min);
  const auto r = get_token(m, gemini(path));
  EXPECT_FALSE(r.tok);
  EXPECT_FALSE(r.permanent);
  EXPECT_NE(r.error.find("GEMINI_OAUTH_CLIENT_SECRET"), std::string::npos) << r.error;
  EXPECT_TRUE(token_server_.requests().empty());

  // The instance's own field fills it in.
  token_server_.push(json_answer(200, gemini_answer()));
  const auto ok = get_token(m, gemini(path, {{"GEMINI_OAUTH_CLIENT_SECRET", "per-instance"}}));
  ASSERT_TRUE(ok.tok) << ok.error;
  ASSERT_EQ(token_server_.requests().size(), 1u);
  EXPECT_EQ(form_field(token_server_.requests()[0].body, "client_secret"), "per-instance");
}

TEST_F(refresh, qwen_rotated_refresh_token_and_resource_url_are_stored) {
  const std::string path = dir_.file("qwen_creds.json");
  write_file(path, json{{"access_token", "q-old-access"},
                        {"refresh_token", "q-old-refresh"},
                        {"token_type", "Bearer"},
                        {"resource_url", "portal.qwen.ai"},
                        {"expiry_date", ms_from_now(-10min)},
                        {"extra", "kept"}}
                       .dump());
  token_server_.push(json_answer(200, json{{"access_token", "q-new-access"},
                                           {"token_type", "Bearer"},
                                           {"expires_in", 7200},
                                           {"refresh_token", "q-rotated-refresh"},
                                           {"resource_url", "http://127.0.0.1:1234"}}
                                          .dump()));
  const auto inst = make_instance(qwen_type, {{"QWEN_OAUTH_CREDS_FILE_PATH", path},
                                              {"QWEN_TOKEN_URL", token_url("/oauth2/token")}});
  const auto r = get_token(manager_, inst);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-new-access");
  EXPECT_EQ(r.tok->facts.at("base_url"), "http://127.0.0.1:1234/v1");
  EXPECT_LT(seconds_off(r.tok->expires_at, 7200s), 5.0);

  const auto seen = token_server_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/oauth2/token");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(form_field(seen[0].body, "grant_type"), "refresh_token");
  EXPECT_EQ(form_field(seen[0].body, "refresh_token"), "q-old-refresh");
  EXPECT_EQ(form_field(seen[0].body, "client_id"), default_qwen_client);
  EXPECT_EQ(seen[0].body.find("client_secret"), std::string::npos);

  const auto doc = json::parse(read_file(path));
  EXPECT_EQ(doc["refresh_token"], "q-rotated-refresh");
  EXPECT_EQ(doc["access_token"], "q-new-access");
  EXPECT_EQ(doc["resource_url"], "http://127.0.0.1:1234");
  EXPECT_EQ(doc["extra"], "kept");
  EXPECT_EQ(file_mode(path), 0600u);

  // A restarted gateway uses the rotated refresh token.
  token_manager restarted(dead_endpoints(), test_options());
  token_server_.push(
      json_answer(200, json{{"access_token", "q-third"}, {"expires_in", 60}}.dump()));
  const auto again = get_token(restarted, inst, true);
  ASSERT_TRUE(again.tok) << again.error;
  ASSERT_EQ(token_server_.requests().size(), 2u);
  EXPECT_EQ(form_field(token_server_.requests()[1].body, "refresh_token"), "q-rotated-refresh");
  EXPECT_EQ(json::parse(read_file(path))["refresh_token"], "q-rotated-refresh");  // kept
}

TEST_F(refresh, kiro_social_refresh_request_and_rotation) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path,
             json{{"accessToken", "aoa-old"},
                  {"refreshToken", "aor-old-refresh"},
                  {"expiresAt", "2020-01-01T00:00:00.000Z"},
                  {"authMethod", "social"},
                  {"provider", "Github"},
                  {"region", "eu-central-1"},
                  {"profileArn", "arn:old"}}
                 .dump(2),
             0644);
  token_server_.push(json_answer(200, json{{"accessToken", "aoa-new"},
                                           {"refreshToken", "aor-rotated"},
                                           {"profileArn", "arn:new"},
                                           {"expiresIn", 3600}}
                                          .dump()));
  const auto inst =
      make_instance(kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path},
                                {"KIRO_REFRESH_URL", token_url("/{region}/refreshToken")}});
  const auto r = get_token(manager_, inst);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "aoa-new");
  EXPECT_EQ(r.tok->facts.at("profile_arn"), "arn:new");
  EXPECT_EQ(r.tok->facts.at("region"), "eu-central-1");
  const auto seen = token_server_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/eu-central-1/refreshToken");  // {region} substituted
  EXPECT_EQ(json::parse(seen[0].body), json({{"refreshToken", "aor-old-refresh"}}));
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(seen[0].headers.at("user-agent").rfind("KiroIDE-", 0), 0u);

  const auto doc = json::parse(read_file(path));
  EXPECT_EQ(doc["accessToken"], "aoa-new");
  EXPECT_EQ(doc["refreshToken"], "aor-rotated");
  EXPECT_EQ(doc["profileArn"], "arn:new");
  EXPECT_EQ(doc["provider"], "Github");
  EXPECT_EQ(doc["authMethod"], "social");
  const auto expires = pool::parse_iso8601(doc["expiresAt"].get<std::string>());
  ASSERT_TRUE(expires);
  EXPECT_LT(seconds_off(*expires, 3600s), 5.0);
  EXPECT_EQ(file_mode(path), 0600u);
  // The machine id follows the refresh token in use.
  EXPECT_EQ(r.tok->facts.at("machine_id"), sha256_hex("aor-rotated"));
}

TEST_F(refresh, kiro_idc_refresh_uses_the_registration_file) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path, json{{"accessToken", "aoa-old"},
                        {"refreshToken", "aor-idc-refresh"},
                        {"expiresAt", "2020-01-01T00:00:00Z"},
                        {"authMethod", "IdC"},
                        {"provider", "BuilderId"},
                        {"region", "us-west-2"},
                        {"clientIdHash", "0123abcd"}}
                       .dump());
  write_file(dir_.file("0123abcd.json"), json{{"clientId", "reg-client-id"},
                                              {"clientSecret", "reg-client-secret"},
                                              {"expiresAt", "2099-01-01T00:00:00Z"}}
                                             .dump());
  token_server_.push(json_answer(
      200,
      json{{"accessToken", "aoa-idc-new"}, {"expiresIn", 28800}, {"tokenType", "Bearer"}}.dump()));
  const auto inst =
      make_instance(kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path},
                                {"KIRO_IDC_TOKEN_URL", token_url("/oidc/{region}/token")}});
  const auto r = get_token(manager_, inst);
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "aoa-idc-new");
  EXPECT_EQ(r.tok->facts.at("auth_method"), "idc");
  EXPECT_LT(seconds_off(r.tok->expires_at, 28800s), 5.0);
  const auto seen = token_server_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/oidc/us-west-2/token");
  EXPECT_EQ(json::parse(seen[0].body), json({{"clientId", "reg-client-id"},
                                             {"clientSecret", "reg-client-secret"},
                                             {"refreshToken", "aor-idc-refresh"},
                                             {"grantType", "refresh_token"}}));
  EXPECT_TRUE(seen[0].headers.count("amz-sdk-invocation-id"));
  const auto doc = json::parse(read_file(path));
  EXPECT_EQ(doc["refreshToken"], "aor-idc-refresh");  // not rotated: kept
  EXPECT_EQ(doc["accessToken"], "aoa-idc-new");
  EXPECT_EQ(doc["clientIdHash"], "0123abcd");
}

TEST_F(refresh, kiro_idc_client_in_the_token_file) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path, json{{"refreshToken", "aor-idc-refresh"},
                        {"clientId", "file-client-id"},
                        {"clientSecret", "file-client-secret"}}
                       .dump());
  token_server_.push(json_answer(200, json{{"accessToken", "aoa-1"}, {"expiresIn", 3600}}.dump()));
  const auto inst = make_instance(
      kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path}, {"KIRO_IDC_TOKEN_URL", token_url()}});
  const auto r = get_token(manager_, inst);  // no accessToken, no expiresAt: refreshed at once
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->facts.at("auth_method"), "idc");
  ASSERT_EQ(token_server_.requests().size(), 1u);
  const auto body = json::parse(token_server_.requests()[0].body);
  EXPECT_EQ(body["clientId"], "file-client-id");
  EXPECT_EQ(body["clientSecret"], "file-client-secret");
  EXPECT_EQ(body["grantType"], "refresh_token");
}

TEST_F(refresh, kiro_idc_without_registration_is_a_clear_error) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path, json{{"refreshToken", "aor-x"},
                        {"authMethod", "IdC"},
                        {"clientIdHash", "missinghash"},
                        {"expiresAt", "2020-01-01T00:00:00Z"}}
                       .dump());
  const auto r =
      get_token(manager_, make_instance(kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path},
                                                    {"KIRO_IDC_TOKEN_URL", token_url()}}));
  EXPECT_FALSE(r.tok);
  EXPECT_NE(r.error.find(dir_.file("missinghash.json")), std::string::npos) << r.error;
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(refresh, invalid_grant_is_permanent_and_not_retried_until_the_file_changes) {
  const std::string path = gemini_file(-1min);
  token_server_.push(json_answer(
      400,
      R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})"));
  const auto r = get_token(manager_, gemini(path));
  EXPECT_FALSE(r.tok);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("HTTP 400"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("invalid_grant"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("old-refresh"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("test-gemini-client-secret"), std::string::npos) << r.error;

  // The refresh token is dead: asking again does not hammer the token endpoint.
  const auto again = get_token(manager_, gemini(path));
  EXPECT_TRUE(again.permanent);
  EXPECT_EQ(token_server_.requests().size(), 1u);

  // The user logs in again: the new file is used.
  write_file(path, json{{"access_token", "relogin"},
                        {"refresh_token", "new-r"},
                        {"expiry_date", ms_from_now(-1min)}}
                       .dump());
  token_server_.push(json_answer(200, gemini_answer("after-relogin")));
  const auto fixed = get_token(manager_, gemini(path));
  ASSERT_TRUE(fixed.tok) << fixed.error;
  EXPECT_EQ(fixed.tok->access_token, "after-relogin");
  EXPECT_EQ(token_server_.requests().size(), 2u);
}

TEST_F(refresh, kiro_invalid_refresh_token_is_permanent) {
  const std::string path = dir_.file("kiro-auth-token.json");
  write_file(path, json{{"accessToken", "aoa"},
                        {"refreshToken", "aor-dead"},
                        {"expiresAt", "2020-01-01T00:00:00Z"}}
                       .dump());
  token_server_.push(
      json_answer(400, R"({"message":"Invalid refresh token provided","reason":null})"));
  const auto r = get_token(manager_, make_instance(kiro_type, {{"KIRO_OAUTH_CREDS_FILE_PATH", path},
                                                               {"KIRO_REFRESH_URL", token_url()}}));
  EXPECT_FALSE(r.tok);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("Invalid refresh token provided"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("aor-dead"), std::string::npos) << r.error;
}

TEST_F(refresh, failures_are_errors_without_secrets) {
  const std::string path = gemini_file(-1min);
  const std::vector<std::string> secrets = {"ya29.old-access", "1//old-refresh/secret+value",
                                            "old-refresh", "test-gemini-client-secret"};
  const auto check = [&](const token_result& r, const std::string& expected) {
    EXPECT_FALSE(r.tok);
    EXPECT_FALSE(r.permanent) << r.error;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(expected), std::string::npos) << r.error;
    for (const auto& s : secrets) EXPECT_EQ(r.error.find(s), std::string::npos) << r.error;
  };

  // Token endpoint down.
  const std::string down = "http://127.0.0.1:" + std::to_string(closed_port()) + "/token";
  check(get_token(manager_, gemini(path, {{"GEMINI_TOKEN_URL", down}})), "connect");

  // 500 whose body echoes what it received.
  token_server_.push(json_answer(
      500,
      R"({"error":"server_error","error_description":"could not use 1//old-refresh/secret+value"})"));
  check(get_token(manager_, gemini(path)), "HTTP 500");

  // 200 that is not JSON.
  scripted_response html = json_answer(200, "<html>ya29.old-access</html>");
  html.headers = {{"content-type", "text/html"}};
  token_server_.push(html);
  check(get_token(manager_, gemini(path)), "not JSON");

  // 200 JSON without a token.
  token_server_.push(json_answer(200, R"({"token_type":"Bearer"})"));
  check(get_token(manager_, gemini(path)), "access_token");

  // 400 with another error than invalid_grant: not permanent.
  token_server_.push(json_answer(400, R"({"error":"invalid_request"})"));
  check(get_token(manager_, gemini(path)), "invalid_request");

  // Nothing was written to the file.
  EXPECT_EQ(json::parse(read_file(path))["access_token"], "ya29.old-access");
}

TEST_F(refresh, still_valid_token_survives_a_failed_early_refresh) {
  const std::string path = gemini_file(5min);  // within the 15 min margin, still valid
  token_server_.push(json_answer(503, R"({"error":"unavailable"})"));
  const auto r = get_token(manager_, gemini(path));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "ya29.old-access");
  EXPECT_EQ(token_server_.requests().size(), 1u);

  // After a 401 the old token is known bad: the failure is reported.
  token_server_.push(json_answer(503, R"({"error":"unavailable"})"));
  const auto forced = get_token(manager_, gemini(path), true);
  EXPECT_FALSE(forced.tok);
  EXPECT_NE(forced.error.find("HTTP 503"), std::string::npos) << forced.error;
}

}  // namespace
}  // namespace aiclient::auth::test
