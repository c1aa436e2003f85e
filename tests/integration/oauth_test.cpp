// OAuth provider types end to end: openai-qwen-oauth with fake token and API servers.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A Qwen account: a token server that hands out new-token-N, and an API that accepts only
// the token it is told to accept.
struct qwen_account {
  fake_upstream token_server;
  fake_upstream api;
  std::atomic<int> issued{0};
  std::string accepted = "old-token";
  std::mutex m;
  std::string creds_path;

  explicit qwen_account(long long expiry_ms) {
    token_server.set_handler([this](const recorded_request& req) {
      const int n = ++issued;
      {
        std::lock_guard lock(m);
        accepted = "new-token-" + std::to_string(n);
      }
      EXPECT_NE(req.body.find("grant_type=refresh_token"), std::string::npos);
      return json_answer(R"({"access_token":"new-token-)" + std::to_string(n) +
                         R"(","token_type":"Bearer","expires_in":3600,"refresh_token":"rotated-)" +
                         std::to_string(n) + R"(","resource_url":")" + api.base_url() + R"("})");
    });
    api.set_handler([this](const recorded_request& req) {
      std::string ok;
      {
        std::lock_guard lock(m);
        ok = "Bearer " + accepted;
      }
      if (req.headers.at("authorization") != ok)
        return json_answer(
            R"({"error":{"message":"invalid access token or token expired","type":"invalid_request_error"}})",
            401);
      return json_answer(
          R"({"id":"c1","object":"chat.completion","created":1,"model":"coder-model","choices":[{"index":0,"message":{"role":"assistant","content":"qwen says hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}})");
    });
    const std::string creds =
        R"({"access_token":"old-token","refresh_token":"refresh-1","token_type":"Bearer","resource_url":")" +
        api.base_url() + R"(","expiry_date":)" + std::to_string(expiry_ms) +
        R"(,"user_note":"keep me"})";
    creds_path = write_temp_file("oauth_creds.json", creds);
    ::chmod(creds_path.c_str(), 0644);
  }

  pool::pools pools() {
    const std::string text = R"({"openai-qwen-oauth":[{"QWEN_OAUTH_CREDS_FILE_PATH":")" +
                             creds_path + R"(","QWEN_TOKEN_URL":")" + token_server.base_url() +
                             R"(/api/v1/oauth2/token","uuid":"qwen-1"}]})";
    return pool::parse_pools(text, "pools.json");
  }
};

const std::string chat = R"({"model":"coder-model","messages":[{"role":"user","content":"hi"}]})";

TEST(oauth_qwen, an_expired_token_is_refreshed_before_use_and_written_back) {
  qwen_account acc(now_ms() - 60000);
  running_server srv(test_settings("openai-qwen-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "qwen says hi");
  EXPECT_EQ(acc.issued.load(), 1);
  const auto reqs = acc.api.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer new-token-1");
  EXPECT_EQ(reqs[0].headers.at("x-dashscope-authtype"), "qwen-oauth");
  // The credentials file got the new token and the rotated refresh token, kept the rest,
  // and is private now.
  const auto saved = json::parse(read_file(acc.creds_path));
  EXPECT_EQ(saved["access_token"], "new-token-1");
  EXPECT_EQ(saved["refresh_token"], "rotated-1");
  EXPECT_EQ(saved["user_note"], "keep me");
  struct stat st {};
  ASSERT_EQ(::stat(acc.creds_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  // An Anthropic client works through the same account (converted).
  auto c = http_request(
      srv.port(), "POST", "/v1/messages", {},
      R"({"model":"coder-model","max_tokens":20,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body)["content"][0]["text"], "qwen says hi");
  EXPECT_EQ(acc.issued.load(), 1) << "the token is reused while valid";
}

TEST(oauth_qwen, concurrent_requests_wait_for_one_refresh) {
  qwen_account acc(now_ms() - 60000);
  auto s = test_settings("openai-qwen-oauth");
  s.threads = 2;
  running_server srv(s, acc.pools());
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 12; ++i)
    clients.emplace_back([&] {
      if (http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat).status == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_EQ(acc.issued.load(), 1) << "one refresh for all the waiting requests";
  for (const auto& r : acc.api.requests())
    EXPECT_EQ(r.headers.at("authorization"), "Bearer new-token-1");
}

TEST(oauth_qwen, a_401_refreshes_the_token_and_retries_once) {
  qwen_account acc(now_ms() + 3600 * 1000);  // valid for an hour, but the API refuses it
  {
    std::lock_guard lock(acc.m);
    acc.accepted = "something-else";
  }
  running_server srv(test_settings("openai-qwen-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(acc.issued.load(), 1);
  const auto reqs = acc.api.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers.at("authorization"), "Bearer old-token");
  EXPECT_EQ(reqs[1].headers.at("authorization"), "Bearer new-token-1");
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  EXPECT_EQ(h["providers"]["openai-qwen-oauth"]["instances"][0]["errorCount"], 0);
}

TEST(oauth_qwen, the_daily_quota_parks_the_instance_until_midnight_utc8) {
  qwen_account acc(now_ms() + 3600 * 1000);
  acc.api.set_handler([](const recorded_request&) {
    return json_answer(
        R"({"error":{"message":"Free allocated quota exceeded.","type":"insufficient_quota","code":"insufficient_quota"}})",
        429);
  });
  running_server srv(test_settings("openai-qwen-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat);
  EXPECT_EQ(r.status, 429) << r.body;
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto until = pool::parse_iso8601(
      h["providers"]["openai-qwen-oauth"]["instances"][0]["cooldownUntil"].get<std::string>());
  ASSERT_TRUE(until);
  using namespace std::chrono;
  const auto shifted = system_clock::now() + hours(8);
  const auto midnight_utc8 = floor<days>(shifted) + days(1) - hours(8);
  EXPECT_LT(std::abs(duration<double>(*until - midnight_utc8).count()), 2.0)
      << "not cut to RATE_LIMIT_COOLDOWN_MAX_MS";
}

TEST(oauth_qwen, a_failed_refresh_fails_over_with_a_clear_error) {
  qwen_account acc(now_ms() - 60000);
  acc.token_server.set_handler([](const recorded_request&) {
    return json_answer(R"({"error":"invalid_grant","error_description":"refresh token expired"})",
                       400);
  });
  running_server srv(test_settings("openai-qwen-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat);
  // Either the request met the dead login itself (502 naming the instance), or the refresh
  // timer, which runs at start, met it first and took the instance out (503 naming the type).
  const std::string msg = json::parse(r.body)["error"]["message"];
  if (r.status == 502) {
    EXPECT_NE(msg.find("qwen-1"), std::string::npos) << msg;
  } else {
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(msg.find("openai-qwen-oauth"), std::string::npos) << msg;
  }
  EXPECT_EQ(msg.find("refresh-1"), std::string::npos) << "no secret in the message";
  EXPECT_EQ(acc.api.requests().size(), 0u);
  // A dead login takes the instance out at once, with the reason.
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto& inst = h["providers"]["openai-qwen-oauth"]["instances"][0];
  EXPECT_FALSE(inst["isHealthy"]);
  EXPECT_NE(inst["lastErrorMessage"].get<std::string>().find("invalid_grant"), std::string::npos);
}

}  // namespace
}  // namespace aiclient::testing

namespace aiclient::testing {
namespace {

// A Gemini CLI account: Code Assist API fake (project discovery, generate, stream).
struct gemini_account {
  fake_upstream api;
  std::string creds_path;
  std::atomic<int> discoveries{0};
  std::atomic<bool> count_fails{false};
  std::mutex m;
  std::vector<std::string> count_bodies;  ///< countTokens requests received

  gemini_account() {
    api.set_handler([this](const recorded_request& req) {
      if (req.headers.count("authorization") == 0 ||
          req.headers.at("authorization") != "Bearer g-token")
        return json_answer(
            R"({"error":{"code":401,"message":"bad token","status":"UNAUTHENTICATED"}})", 401);
      if (req.target == "/v1internal:loadCodeAssist") {
        ++discoveries;
        return json_answer(
            R"({"currentTier":{"id":"standard-tier"},"cloudaicompanionProject":"found-proj"})");
      }
      if (req.target == "/v1internal:countTokens") {
        {
          std::lock_guard lock(m);
          count_bodies.push_back(req.body);
        }
        if (count_fails) return json_answer(R"({"error":{"code":503,"message":"busy"}})", 503);
        const auto body = json::parse(req.body);
        return json_answer(R"({"totalTokens":)" +
                           std::to_string(1000 + body["request"]["contents"].size()) + "}");
      }
      const auto body = json::parse(req.body);
      const std::string project = body.value("project", "");
      const std::string text = "from " + project + " as " + body.value("model", "");
      if (req.target == "/v1internal:generateContent") {
        return json_answer(
            R"({"response":{"candidates":[{"index":0,"finishReason":"STOP","content":{"role":"model","parts":[{"text":")" +
            text +
            R"("}]}}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"totalTokenCount":7},"modelVersion":"gemini-2.5-pro"},"traceId":"t1"})");
      }
      if (req.target == "/v1internal:streamGenerateContent?alt=sse") {
        scripted_response r;
        r.headers = {{"content-type", "text/event-stream"}};
        r.chunks = {
            "data: "
            "{\"response\":{\"candidates\":[{\"index\":0,\"content\":{\"role\":\"model\",\"parts\":"
            "[{\"text\":\"Hel\"}]}}]}}\r\n\r\n",
            "data: "
            "{\"response\":{\"candidates\":[{\"index\":0,\"finishReason\":\"STOP\",\"content\":{"
            "\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]}}],"
            "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,"
            "\"totalTokenCount\":6}}}\r\n\r\n"};
        return r;
      }
      return json_answer(
          R"({"error":{"code":404,"message":"no such method","status":"NOT_FOUND"}})", 404);
    });
    creds_path = write_temp_file(
        "oauth_creds.json",
        R"({"access_token":"g-token","refresh_token":"g-refresh","token_type":"Bearer","expiry_date":)" +
            std::to_string(now_ms() + 3600 * 1000) + "}");
  }

  pool::pools pools(const std::string& project) {
    std::string text = R"({"gemini-cli-oauth":[{"GEMINI_OAUTH_CREDS_FILE_PATH":")" + creds_path +
                       R"(","GEMINI_CODE_ASSIST_BASE":")" + api.base_url() +
                       R"(/v1internal","uuid":"g-1")";
    if (!project.empty()) text += R"(,"PROJECT_ID":")" + project + "\"";
    text += "}]}";
    return pool::parse_pools(text, "pools.json");
  }
};

const std::string gemini_req = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";

TEST(oauth_gemini, a_gemini_client_gets_unwrapped_answers_streamed_and_not) {
  gemini_account acc;
  running_server srv(test_settings("gemini-cli-oauth"), acc.pools("my-proj"));
  auto r = http_request(srv.port(), "POST", "/v1beta/models/gemini-2.5-pro:generateContent", {},
                        gemini_req);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto g = json::parse(r.body);
  EXPECT_EQ(g["candidates"][0]["content"]["parts"][0]["text"], "from my-proj as gemini-2.5-pro");
  EXPECT_FALSE(g.contains("response"));
  const auto sent = json::parse(acc.api.requests()[0].body);
  EXPECT_EQ(sent["request"], json::parse(gemini_req));
  EXPECT_EQ(acc.discoveries.load(), 0) << "PROJECT_ID is used as it is";

  auto sse =
      http_request(srv.port(), "POST",
                   "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", {}, gemini_req);
  ASSERT_EQ(sse.status, 200);
  EXPECT_EQ(sse.body.find("\"response\""), std::string::npos) << sse.body;
  EXPECT_NE(sse.body.find("\"Hel\""), std::string::npos);
  auto arr = http_request(srv.port(), "POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                          {}, gemini_req);
  ASSERT_EQ(arr.status, 200);
  const auto a = json::parse(arr.body);
  ASSERT_TRUE(a.is_array());
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1]["candidates"][0]["finishReason"], "STOP");
}

TEST(oauth_gemini, openai_and_anthropic_clients_are_converted_and_the_project_discovered) {
  gemini_account acc;
  running_server srv(test_settings("gemini-cli-oauth"), acc.pools(""));
  auto o =
      http_request(srv.port(), "POST", "/v1/chat/completions", {},
                   R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(json::parse(o.body)["choices"][0]["message"]["content"],
            "from found-proj as gemini-2.5-flash");
  EXPECT_EQ(acc.discoveries.load(), 1);
  auto c = http_request(
      srv.port(), "POST", "/v1/messages", {},
      R"({"model":"gemini-2.5-pro","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(c.status, 200);
  EXPECT_NE(c.body.find("event: message_start"), std::string::npos);
  EXPECT_NE(c.body.find("\"Hel\""), std::string::npos);
  EXPECT_NE(c.body.find("event: message_stop"), std::string::npos) << c.body;
  EXPECT_EQ(acc.discoveries.load(), 1) << "the project is cached";
}

TEST(oauth_gemini, count_tokens_asks_code_assist_and_answers_in_the_client_shape) {
  gemini_account acc;
  running_server srv(test_settings("gemini-cli-oauth"), acc.pools("my-proj"));
  // Anthropic client: the messages are converted to Gemini contents, as for generateContent.
  auto c = http_request(
      srv.port(), "POST", "/v1/messages/count_tokens", {},
      R"({"model":"gemini-2.5-pro","system":"be brief","messages":[{"role":"user","content":"hi"},
          {"role":"assistant","content":"hello"},{"role":"user","content":"count me"}]})");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"input_tokens":1003})"));
  std::vector<std::string> seen;
  {
    std::lock_guard lock(acc.m);
    seen = acc.count_bodies;
  }
  ASSERT_EQ(seen.size(), 1u);
  const auto sent = json::parse(seen[0]);
  EXPECT_EQ(sent["request"]["model"], "models/gemini-2.5-pro");
  ASSERT_EQ(sent["request"]["contents"].size(), 3u);
  EXPECT_EQ(sent["request"]["contents"][0]["role"], "user");
  EXPECT_EQ(sent["request"]["contents"][0]["parts"][0]["text"], "hi");
  EXPECT_EQ(sent["request"]["contents"][1]["role"], "model");
  EXPECT_FALSE(sent.contains("project"));

  // Gemini client: its own contents, also inside generateContentRequest.
  auto g = http_request(srv.port(), "POST", "/v1beta/models/gemini-2.5-flash:countTokens", {},
                        gemini_req);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(json::parse(g.body), json::parse(R"({"totalTokens":1001})"));
  auto wrapped = http_request(
      srv.port(), "POST", "/v1beta/models/gemini-2.5-flash:countTokens", {},
      R"({"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"user","parts":[{"text":"b"}]}]}})");
  ASSERT_EQ(wrapped.status, 200) << wrapped.body;
  EXPECT_EQ(json::parse(wrapped.body)["totalTokens"], 1002);
  {
    std::lock_guard lock(acc.m);
    ASSERT_EQ(acc.count_bodies.size(), 3u);
    const auto g_sent = json::parse(acc.count_bodies[1]);
    EXPECT_EQ(g_sent["request"]["model"], "models/gemini-2.5-flash");
    EXPECT_EQ(g_sent["request"]["contents"], json::parse(gemini_req)["contents"]);
  }
  // Counting is not usage: the pool state is untouched.
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  EXPECT_EQ(h["providers"]["gemini-cli-oauth"]["instances"][0]["usageCount"], 0);
}

TEST(oauth_gemini, count_tokens_falls_back_to_the_local_estimate_when_code_assist_fails) {
  gemini_account acc;
  acc.count_fails = true;
  running_server srv(test_settings("gemini-cli-oauth"), acc.pools("my-proj"));
  const std::string body =
      R"({"model":"gemini-2.5-pro","messages":[{"role":"user","content":"count me please"}]})";
  auto c = http_request(srv.port(), "POST", "/v1/messages/count_tokens", {}, body);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body)["input_tokens"], body.size() / 4);
  auto g =
      http_request(srv.port(), "POST", "/v1beta/models/gemini-2.5-pro:countTokens", {}, gemini_req);
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(json::parse(g.body)["totalTokens"], gemini_req.size() / 4);
  {
    std::lock_guard lock(acc.m);
    EXPECT_EQ(acc.count_bodies.size(), 2u) << "Code Assist was asked first";
  }
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto& inst = h["providers"]["gemini-cli-oauth"]["instances"][0];
  EXPECT_TRUE(inst["isHealthy"]);
  EXPECT_EQ(inst["errorCount"], 0);
}

}  // namespace
}  // namespace aiclient::testing

#include "aiclient/protocol/kiro.hpp"

namespace aiclient::testing {
namespace {

struct kiro_account {
  fake_upstream api;
  std::string creds_path;
  std::mutex m;
  std::string usage = R"({"usageBreakdownList":[{"currentUsage":0,"usageLimit":50}]})";
  std::atomic<bool> monthly_spent{false};

  kiro_account() {
    api.set_handler([this](const recorded_request& req) {
      const bool authorized =
          req.headers.count("authorization") && req.headers.at("authorization") == "Bearer k-token";
      if (authorized && req.target.rfind("/getUsageLimits?", 0) == 0) {
        std::lock_guard lock(m);
        return json_answer(usage);
      }
      if (authorized && req.target.rfind("/ListAvailableModels?", 0) == 0)
        return json_answer(
            R"({"models":[{"modelId":"claude-sonnet-4.5"},{"modelId":"claude-haiku-4.5"}]})");
      if (authorized && monthly_spent)
        return json_answer(
            R"({"message":"You have reached the limit for this month.","reason":"MONTHLY_REQUEST_COUNT"})",
            402);
      if (req.target != "/generateAssistantResponse" ||
          req.headers.at("authorization") != "Bearer k-token")
        return json_answer(
            R"({"message":"The bearer token included in the request is invalid.","reason":null})",
            403);
      namespace kiro = protocol::kiro;
      scripted_response r;
      r.headers = {{"content-type", "application/vnd.amazon.eventstream"}};
      const std::string frames =
          kiro::encode_event("assistantResponseEvent", R"({"content":"Hello "})") +
          kiro::encode_event("assistantResponseEvent", R"({"content":"from Kiro"})") +
          kiro::encode_event("toolUseEvent",
                             R"({"name":"ls","toolUseId":"tooluse_1","input":"{\"d\":"})") +
          kiro::encode_event("toolUseEvent", R"({"toolUseId":"tooluse_1","input":"\".\"}"})") +
          kiro::encode_event("toolUseEvent", R"({"toolUseId":"tooluse_1","stop":true})") +
          kiro::encode_event("contextUsageEvent", R"({"contextUsagePercentage":1.5})");
      // Split at odd places, as TCP may.
      r.chunks = {frames.substr(0, 7), frames.substr(7, 100), frames.substr(107)};
      return r;
    });
    creds_path = write_temp_file(
        "kiro-auth-token.json",
        R"({"accessToken":"k-token","refreshToken":"k-refresh","expiresAt":")" +
            pool::to_iso8601(std::chrono::system_clock::now() + std::chrono::hours(1)) +
            R"(","authMethod":"social","provider":"Google","region":"us-east-1","profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/X"})");
  }
  pool::pools pools(const std::string& extra = "") {
    return pool::parse_pools(R"({"claude-kiro-oauth":[{"KIRO_OAUTH_CREDS_FILE_PATH":")" +
                                 creds_path + R"(","KIRO_BASE_URL":")" + api.base_url() + "\"" +
                                 extra + R"(,"uuid":"k-1"}]})",
                             "pools.json");
  }
};

const std::string claude_req =
    R"({"model":"claude-sonnet-4-5","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":"list files"}],
        "tools":[{"name":"ls","description":"list","input_schema":{"type":"object","properties":{"d":{"type":"string"}}}}]})";

TEST(oauth_kiro, anthropic_client_non_stream_and_stream_with_a_tool_call) {
  kiro_account acc;
  running_server srv(test_settings("claude-kiro-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, claude_req);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto m = json::parse(r.body);
  EXPECT_EQ(m["content"][0]["text"], "Hello from Kiro");
  EXPECT_EQ(m["content"][1]["type"], "tool_use");
  EXPECT_EQ(m["content"][1]["input"], json::parse(R"({"d":"."})"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  const auto sent = json::parse(acc.api.requests()[0].body);
  EXPECT_EQ(sent["profileArn"], "arn:aws:codewhisperer:us-east-1:1:profile/X");
  EXPECT_EQ(sent["conversationState"]["chatTriggerType"], "MANUAL");
  EXPECT_EQ(sent["conversationState"]["currentMessage"]["userInputMessage"]["modelId"],
            "claude-sonnet-4.5");

  std::string body = claude_req;
  body.insert(1, R"("stream":true,)");
  auto s = http_request(srv.port(), "POST", "/v1/messages", {}, body);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.body.rfind("event: message_start", 0), 0u) << s.body;
  EXPECT_NE(s.body.find("input_json_delta"), std::string::npos);
  EXPECT_NE(s.body.find("event: message_stop"), std::string::npos);
}

const std::vector<std::pair<std::string, std::string>> admin_key = {
    {"authorization", "Bearer admin-key-0123456789"}};

TEST(oauth_kiro, health_check_queries_usage_and_parks_a_spent_allowance_until_its_reset) {
  kiro_account acc;
  {
    std::lock_guard lock(acc.m);
    acc.usage = R"({"subscriptionInfo":{"subscriptionTitle":"KIRO FREE"},
        "usageBreakdownList":[{"currentUsage":12,"currentUsageWithPrecision":12.5,
                               "usageLimit":50,"usageLimitWithPrecision":50.0}]})";
  }
  auto s = test_settings("claude-kiro-oauth");
  s.admin_api_key = "admin-key-0123456789";
  running_server srv(s, acc.pools());
  auto check =
      http_request(srv.port(), "POST", "/admin/pools/claude-kiro-oauth/k-1/check", admin_key, "");
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_EQ(json::parse(check.body)["healthy"], true);
  EXPECT_EQ(json::parse(check.body)["message"], "ok: usage 12.5 of 50 (KIRO FREE)");
  const auto calls = acc.api.requests();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GET");
  EXPECT_EQ(calls[0].target,
            "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST&profileArn="
            "arn%3Aaws%3Acodewhisperer%3Aus-east-1%3A1%3Aprofile%2FX");
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  EXPECT_EQ(h["providers"]["claude-kiro-oauth"]["instances"][0]["lastHealthCheckResult"],
            "ok: usage 12.5 of 50 (KIRO FREE)");

  // The allowance is spent: cooling down until Kiro's reset (epoch seconds, fractional), far
  // beyond the usual 429 cap.
  const auto reset_s =
      std::chrono::duration_cast<std::chrono::seconds>(
          (std::chrono::system_clock::now() + std::chrono::hours(24 * 10)).time_since_epoch())
          .count();
  {
    std::lock_guard lock(acc.m);
    acc.usage = R"({"nextDateReset":)" + std::to_string(reset_s) +
                R"(.0,"usageBreakdownList":[{"currentUsage":50,"usageLimit":50}]})";
  }
  check =
      http_request(srv.port(), "POST", "/admin/pools/claude-kiro-oauth/k-1/check", admin_key, "");
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_EQ(json::parse(check.body)["healthy"], true);
  const std::string reset_iso =
      pool::to_iso8601(std::chrono::system_clock::time_point(std::chrono::seconds(reset_s)));
  EXPECT_NE(json::parse(check.body)["message"].get<std::string>().find(
                "limit reached, cooling down until " + reset_iso),
            std::string::npos)
      << check.body;
  h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto& inst = h["providers"]["claude-kiro-oauth"]["instances"][0];
  EXPECT_EQ(inst["cooldownUntil"], reset_iso);
  EXPECT_TRUE(inst["isHealthy"]);
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, claude_req);
  EXPECT_EQ(r.status, 503) << r.body;
  ASSERT_TRUE(r.headers.count("retry-after"));
  EXPECT_GT(std::stoll(r.headers.at("retry-after")), 9 * 24 * 3600);
  for (const auto& call : acc.api.requests())
    EXPECT_NE(call.target, "/generateAssistantResponse") << "no request reached a spent account";
}

TEST(oauth_kiro, a_monthly_quota_402_parks_the_instance_until_next_month) {
  kiro_account acc;
  acc.monthly_spent = true;
  running_server srv(test_settings("claude-kiro-oauth"), acc.pools());
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, claude_req);
  EXPECT_EQ(r.status, 429) << r.body;
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto& inst = h["providers"]["claude-kiro-oauth"]["instances"][0];
  EXPECT_EQ(
      inst["cooldownUntil"],
      pool::to_iso8601(protocol::kiro::next_month_start_utc(std::chrono::system_clock::now())))
      << "not cut to RATE_LIMIT_COOLDOWN_MAX_MS";
  EXPECT_TRUE(inst["isHealthy"]);
}

TEST(oauth_kiro, health_check_can_use_the_model_list) {
  kiro_account acc;
  auto s = test_settings("claude-kiro-oauth");
  s.admin_api_key = "admin-key-0123456789";
  running_server srv(s, acc.pools(R"(,"KIRO_HEALTH_CHECK":"models")"));
  auto check =
      http_request(srv.port(), "POST", "/admin/pools/claude-kiro-oauth/k-1/check", admin_key, "");
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_EQ(json::parse(check.body)["healthy"], true) << check.body;
  EXPECT_EQ(json::parse(check.body)["message"], "ok: 2 models available");
  const auto calls = acc.api.requests();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].target.rfind("/ListAvailableModels?origin=AI_EDITOR", 0), 0u)
      << calls[0].target;
}

TEST(oauth_kiro, an_expired_idc_registration_takes_the_instance_out_at_once) {
  kiro_account acc;
  const std::string dir = acc.creds_path.substr(0, acc.creds_path.rfind('/'));
  {
    std::ofstream token(acc.creds_path);
    token
        << R"({"accessToken":"k-token","refreshToken":"k-refresh","expiresAt":"2020-01-01T00:00:00Z","authMethod":"IdC","provider":"BuilderId","region":"us-east-1","clientIdHash":"abc123"})";
    std::ofstream reg(dir + "/abc123.json");
    reg << R"({"clientId":"cid","clientSecret":"csecret","expiresAt":"2024-05-06T07:08:09Z"})";
  }
  fake_upstream token_server;  // must not be called
  auto s = test_settings("claude-kiro-oauth");
  running_server srv(
      s, acc.pools(R"(,"KIRO_IDC_TOKEN_URL":")" + token_server.base_url() + R"(/token")"));
  auto r = http_request(srv.port(), "POST", "/v1/messages", {}, claude_req);
  EXPECT_TRUE(r.status == 502 || r.status == 503) << r.status << " " << r.body;
  auto h = json::parse(http_request(srv.port(), "GET", "/provider_health", {}, "").body);
  const auto& inst = h["providers"]["claude-kiro-oauth"]["instances"][0];
  EXPECT_FALSE(inst["isHealthy"]);
  const std::string reason = inst["lastErrorMessage"];
  EXPECT_NE(reason.find("Kiro IdC client registration expired at 2024-05-06T07:08:09.000Z"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("log in again with Kiro"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("csecret"), std::string::npos);
  EXPECT_TRUE(token_server.requests().empty());
  EXPECT_TRUE(acc.api.requests().empty());
}

TEST(oauth_kiro, openai_client_stream_ends_with_done) {
  kiro_account acc;
  running_server srv(test_settings("claude-kiro-oauth"), acc.pools());
  auto s = http_request(
      srv.port(), "POST", "/v1/chat/completions", {},
      R"({"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"tool_calls\""), std::string::npos);
  EXPECT_EQ(s.body.substr(s.body.size() - 14), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace aiclient::testing
