// Provider pools end to end: selection, failover, health checks, persistence, reload, admin.
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string chat_body =
    R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";

scripted_response ok_answer(const std::string& who) {
  scripted_response r;
  r.headers = {{"content-type", "application/json"}};
  r.chunks = {R"({"id":"chatcmpl-1","object":"chat.completion","served_by":")" + who + R"("})"};
  r.chunked = false;
  return r;
}

scripted_response error_answer(int status, const std::string& message,
                               std::vector<std::pair<std::string, std::string>> extra = {}) {
  scripted_response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  for (auto& h : extra) r.headers.push_back(h);
  r.chunks = {R"({"error":{"message":")" + message + R"(","type":"server_error"}})"};
  r.chunked = false;
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Three fake accounts of openai-custom, each answering with its own name unless told to fail.
struct three_accounts {
  fake_upstream up[3];
  std::atomic<int> fail_status[3] = {0, 0, 0};
  std::string pools_path;

  three_accounts() {
    for (int i = 0; i < 3; ++i) {
      up[i].set_handler([this, i](const recorded_request& req) {
        const int st = fail_status[i].load();
        if (req.target == "/v1/models") {
          if (st) return error_answer(st, "down");
          scripted_response r = ok_answer("models");
          return r;
        }
        if (st == 429) return error_answer(429, "slow down", {{"retry-after", "2"}});
        if (st) return error_answer(st, "account " + std::to_string(i) + " is broken");
        return ok_answer("acct" + std::to_string(i));
      });
    }
    nlohmann::ordered_json doc;
    doc["openai-custom"] = nlohmann::ordered_json::array();
    for (int i = 0; i < 3; ++i) {
      doc["openai-custom"].push_back(
          {{"customName", "acct" + std::to_string(i)},
           {"OPENAI_API_KEY", "sk-secret-key-of-account-" + std::to_string(i)},
           {"OPENAI_BASE_URL", up[i].base_url() + "/v1"},
           {"uuid", "uuid-" + std::to_string(i)},
           {"operatorNote", "keep me " + std::to_string(i)},
           {"isHealthy", true},
           {"usageCount", 0},
           {"errorCount", 0}});
    }
    pools_path = write_temp_file("provider_pools.json", doc.dump(2));
  }

  config::settings settings() const {
    auto s = test_settings("openai-custom");
    s.provider_pools_file = pools_path;
    s.request_base_delay_ms = 1;
    s.max_error_count = 2;
    s.health_check_enabled = true;
    s.health_check_interval_ms = 200;
    s.health_check_timeout_ms = 1000;
    s.pool_save_debounce_ms = 50;
    s.pool_save_max_wait_ms = 200;
    s.admin_api_key = "admin-key-0123456789";
    return s;
  }
  pool::pools pools() const { return pool::load_pools_file(pools_path); }
  int served(int i) const { return static_cast<int>(up[i].requests().size()); }
};

json provider_health(std::uint16_t port) {
  auto r = http_request(port, "GET", "/provider_health", {}, "");
  EXPECT_EQ(r.status, 200);
  return json::parse(r.body);
}

TEST(pools, requests_share_the_load_evenly_and_health_shows_it) {
  three_accounts acc;
  running_server srv(acc.settings(), acc.pools());
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body).status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(acc.served(i), 10) << i;
  auto h = provider_health(srv.port());
  const auto& inst = h["providers"]["openai-custom"]["instances"];
  ASSERT_EQ(inst.size(), 3u);
  for (const auto& x : inst) EXPECT_EQ(x["usageCount"], 10);
  EXPECT_EQ(h["providers"]["openai-custom"]["healthy"], 3);
  EXPECT_EQ(h.dump().find("sk-secret"), std::string::npos);
}

TEST(pools, a_failing_account_is_skipped_without_client_errors_and_comes_back) {
  three_accounts acc;
  running_server srv(acc.settings(), acc.pools());
  acc.fail_status[1] = 500;
  for (int i = 0; i < 12; ++i) {
    auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
    ASSERT_EQ(r.status, 200) << r.body;  // retried on another account
  }
  auto h = provider_health(srv.port());
  const auto& bad = h["providers"]["openai-custom"]["instances"][1];
  EXPECT_FALSE(bad["isHealthy"]);
  EXPECT_EQ(bad["errorCount"], 2);
  EXPECT_NE(bad["lastErrorMessage"].get<std::string>().find("500"), std::string::npos);
  const int before = acc.served(1);
  for (int i = 0; i < 6; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(acc.served(1), before) << "an unhealthy account takes no traffic";

  // It recovers: the health checker (every 200 ms) brings it back, and it serves again.
  acc.fail_status[1] = 0;
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(50ms);
    back = provider_health(srv.port())["providers"]["openai-custom"]["instances"][1]["isHealthy"];
  }
  ASSERT_TRUE(back);
  const int after_recovery = acc.served(1);
  http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(acc.served(1), after_recovery + 1) << "a recovered account is picked first";
}

TEST(pools, rate_limited_account_cools_down_for_retry_after) {
  three_accounts acc;
  auto s = acc.settings();
  s.health_check_enabled = false;
  running_server srv(s, acc.pools());
  acc.fail_status[0] = 429;
  for (int i = 0; i < 6; ++i)
    ASSERT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body).status, 200);
  EXPECT_EQ(acc.served(0), 1) << "after its 429 the account is left alone during its cooldown";
  auto h = provider_health(srv.port());
  EXPECT_FALSE(h["providers"]["openai-custom"]["instances"][0]["cooldownUntil"].is_null());
  EXPECT_TRUE(h["providers"]["openai-custom"]["instances"][0]["isHealthy"]);
  acc.fail_status[0] = 0;
  std::this_thread::sleep_for(2100ms);
  for (int i = 0; i < 3; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_GE(acc.served(0), 2) << "after Retry-After it serves again";
}

TEST(pools, nothing_eligible_is_a_503_naming_the_provider_and_why) {
  three_accounts acc;
  auto s = acc.settings();
  s.health_check_enabled = false;
  s.request_max_retries = 5;
  running_server srv(s, acc.pools());
  for (int i = 0; i < 3; ++i) acc.fail_status[i] = 503;
  auto first = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(first.status, 502);  // every attempt failed: the last upstream error, kept
  EXPECT_NE(first.body.find("is broken"), std::string::npos) << first.body;
  http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(r.status, 503) << r.body;
  const std::string msg = json::parse(r.body)["error"]["message"];
  EXPECT_NE(msg.find("openai-custom"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unhealthy"), std::string::npos) << msg;
}

TEST(pools, state_is_written_back_keeping_credentials_and_unknown_keys) {
  three_accounts acc;
  const std::string before = read_file(acc.pools_path);
  {
    running_server srv(acc.settings(), acc.pools());
    for (int i = 0; i < 9; ++i)
      http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
    acc.fail_status[2] = 500;
    // The next round: accounts 0 and 1 answer, account 2 fails once and its request is
    // retried on another account.
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body).status,
                200);
  }  // shutdown flushes
  const auto saved = json::parse(read_file(acc.pools_path));
  const auto& list = saved["openai-custom"];
  int total = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(list[i]["OPENAI_API_KEY"], "sk-secret-key-of-account-" + std::to_string(i));
    EXPECT_EQ(list[i]["operatorNote"], "keep me " + std::to_string(i));
    EXPECT_TRUE(list[i]["lastUsed"].is_string());
    total += list[i]["usageCount"].get<int>();
  }
  EXPECT_EQ(total, 12);
  EXPECT_EQ(list[2]["errorCount"], 1);
  EXPECT_TRUE(list[2]["lastErrorTime"].is_string());
  // Key order of the operator's file is kept.
  EXPECT_LT(read_file(acc.pools_path).find("customName"),
            read_file(acc.pools_path).find("OPENAI_API_KEY"));

  // After a restart the counters are where they were.
  running_server again(acc.settings(), acc.pools());
  auto h = provider_health(again.port());
  EXPECT_EQ(h["providers"]["openai-custom"]["instances"][2]["errorCount"], 1);
  int usage = 0;
  for (const auto& x : h["providers"]["openai-custom"]["instances"])
    usage += x["usageCount"].get<int>();
  EXPECT_EQ(usage, 12);
}

TEST(pools, an_edit_made_while_running_is_not_lost) {
  three_accounts acc;
  running_server srv(acc.settings(), acc.pools());
  // The operator disables account 0 by hand, without telling the server.
  auto doc = json::parse(read_file(acc.pools_path));
  doc["openai-custom"][0]["isDisabled"] = true;
  doc["openai-custom"][0]["operatorNote"] = "edited";
  std::this_thread::sleep_for(20ms);
  std::ofstream(acc.pools_path) << doc.dump(2);
  // Traffic makes the server save; it must merge the edit, not overwrite it.
  for (int i = 0; i < 6; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  std::this_thread::sleep_for(400ms);
  const auto saved = json::parse(read_file(acc.pools_path));
  EXPECT_EQ(saved["openai-custom"][0]["operatorNote"], "edited");
  EXPECT_EQ(saved["openai-custom"][0]["isDisabled"], true);
  const int served0 = acc.served(0);
  for (int i = 0; i < 6; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(acc.served(0), served0) << "the disabled account takes no traffic";
}

TEST(pools, admin_api_disables_resets_checks_and_masks_credentials) {
  three_accounts acc;
  auto s = acc.settings();
  s.health_check_enabled = false;
  running_server srv(s, acc.pools());
  const std::vector<std::pair<std::string, std::string>> admin = {
      {"authorization", "Bearer admin-key-0123456789"}};
  EXPECT_EQ(http_request(srv.port(), "GET", "/admin/pools", {}, "").status, 401);
  auto pools = http_request(srv.port(), "GET", "/admin/pools", admin, "");
  ASSERT_EQ(pools.status, 200);
  EXPECT_EQ(pools.body.find("sk-secret-key-of-account"), std::string::npos);
  EXPECT_NE(pools.body.find("sk-s..."), std::string::npos);

  ASSERT_EQ(http_request(srv.port(), "POST", "/admin/pools/openai-custom/uuid-1/disable", admin, "")
                .status,
            200);
  for (int i = 0; i < 6; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(acc.served(1), 0);
  ASSERT_EQ(http_request(srv.port(), "POST", "/admin/pools/openai-custom/uuid-1/enable", admin, "")
                .status,
            200);

  acc.fail_status[2] = 500;
  auto check =
      http_request(srv.port(), "POST", "/admin/pools/openai-custom/uuid-2/check", admin, "");
  ASSERT_EQ(check.status, 200);
  EXPECT_EQ(json::parse(check.body)["healthy"], false);
  acc.fail_status[2] = 0;
  check = http_request(srv.port(), "POST", "/admin/pools/openai-custom/uuid-2/check", admin, "");
  EXPECT_EQ(json::parse(check.body)["healthy"], true);
  EXPECT_EQ(
      http_request(srv.port(), "POST", "/admin/pools/openai-custom/nope/reset", admin, "").status,
      404);
  auto reload = http_request(srv.port(), "POST", "/admin/reload", admin, "");
  EXPECT_EQ(reload.status, 200) << reload.body;
  EXPECT_EQ(http_request(srv.port(), "POST", "/admin/reload", {}, "").status, 401);
}

TEST(pools, the_fallback_chain_serves_when_a_type_has_nothing_eligible) {
  three_accounts acc;
  fake_upstream claude;
  claude.set_handler([](const recorded_request&) {
    return json_answer(
        R"({"id":"msg_f","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"from the fallback"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":3}})");
  });
  auto s = acc.settings();
  s.health_check_enabled = false;
  s.request_max_retries = 2;
  s.provider_fallback_chain["openai-custom"] = {"claude-custom"};
  auto pools = acc.pools();
  pool::instance c;
  c.type = "claude-custom";
  c.uuid = "claude-fallback";
  c.base_url = claude.base_url();
  c.api_key = "sk-ant-x";
  pools.by_type["claude-custom"].push_back(c);
  running_server srv(s, std::move(pools));
  for (int i = 0; i < 3; ++i) acc.fail_status[i] = 500;
  // Every openai-custom attempt fails: the client still gets an answer, from claude-custom,
  // converted into its own protocol.
  auto r = http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "from the fallback");
  EXPECT_EQ(claude.requests().size(), 1u);
}

TEST(pools, reload_picks_up_an_added_instance_and_rejects_a_broken_file) {
  three_accounts acc;
  fake_upstream extra;
  extra.set_handler([](const recorded_request&) { return ok_answer("extra"); });
  auto s = acc.settings();
  s.health_check_enabled = false;
  running_server srv(s, acc.pools());
  for (int i = 0; i < 3; ++i)
    http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  auto doc = json::parse(read_file(acc.pools_path));
  doc["openai-custom"].push_back({{"OPENAI_API_KEY", "sk-extra"},
                                  {"OPENAI_BASE_URL", extra.base_url() + "/v1"},
                                  {"uuid", "uuid-extra"}});
  std::ofstream(acc.pools_path) << doc.dump(2);
  EXPECT_EQ(srv.get().reload(), "");
  http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body);
  EXPECT_EQ(extra.requests().size(), 1u) << "the new instance is used first";
  auto h = provider_health(srv.port());
  EXPECT_EQ(h["providers"]["openai-custom"]["instances"][0]["usageCount"], 1)
      << "state carried over";

  std::ofstream(acc.pools_path) << "{ broken";
  EXPECT_NE(srv.get().reload(), "");
  EXPECT_EQ(http_request(srv.port(), "POST", "/v1/chat/completions", {}, chat_body).status, 200);
}

TEST(pools, kill_9_during_traffic_never_leaves_a_broken_file) {
  three_accounts acc;
  for (int round = 0; round < 8; ++round) {
    child_server srv({"--port", "0", "--provider-pools-file", acc.pools_path, "--model-provider",
                      "openai-custom", "--pool-save-debounce-ms", "1", "--pool-save-max-wait-ms",
                      "5"});
    const auto port = srv.wait_port();
    ASSERT_NE(port, 0) << srv.output();
    std::atomic<bool> stop{false};
    std::thread traffic([&] {
      while (!stop) http_request(port, "POST", "/v1/chat/completions", {}, chat_body, nullptr, 2s);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + 37 * round));
    srv.signal(SIGKILL);
    srv.wait_exit(5s);
    stop = true;
    traffic.join();
    const std::string text = read_file(acc.pools_path);
    json doc = json::parse(text, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << "round " << round << ": " << text.substr(0, 200);
    ASSERT_EQ(doc["openai-custom"].size(), 3u);
    EXPECT_EQ(doc["openai-custom"][0]["OPENAI_API_KEY"], "sk-secret-key-of-account-0");
  }
}

}  // namespace
}  // namespace aiclient::testing
