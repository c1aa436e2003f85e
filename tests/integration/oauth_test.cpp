// OAuth provider types end to end: openai-qwen-oauth with fake token and API servers.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
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

}  // namespace
}  // namespace aiclient::testing

#include "aiclient/protocol/kiro.hpp"

namespace aiclient::testing {
namespace {

struct kiro_account {
  fake_upstream api;
  std::string creds_path;

  kiro_account() {
    api.set_handler([](const recorded_request& req) {
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
  pool::pools pools() {
    return pool::parse_pools(R"({"claude-kiro-oauth":[{"KIRO_OAUTH_CREDS_FILE_PATH":")" +
                                 creds_path + R"(","KIRO_BASE_URL":")" + api.base_url() +
                                 R"(","uuid":"k-1"}]})",
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
