#include "aiclient/pool/pool_manager.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

namespace aiclient::pool {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;

// A clock the test moves by hand (thread-safe, like the real one).
struct fake_clock {
  std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          parse_iso8601("2026-01-01T00:00:00.000Z")->time_since_epoch())
          .count());
  time_point now() const { return time_point(std::chrono::milliseconds(ms->load())); }
  void advance(std::chrono::milliseconds d) { *ms += d.count(); }
  clock_fn fn() const {
    return [m = ms] { return time_point(std::chrono::milliseconds(m->load())); };
  }
};

// Three mock instances a, b, c.
const char* const three_mocks = R"({"mock":[{"uuid":"a"},{"uuid":"b"},{"uuid":"c"}]})";

pools from(std::string_view text) {
  return parse_pools(text, "pools.json");
}

std::string pick_uuid(pool_manager& m, std::string_view type = "mock", std::string_view model = "",
                      const std::vector<std::string>& avoid = {}) {
  const auto r = m.pick(type, model, avoid);
  return r.inst ? r.inst->uuid : "<none: " + r.message + ">";
}

outcome failure(std::string msg = "HTTP 502") {
  return {outcome::kind::failure, std::move(msg), {}};
}
outcome success() {
  return {outcome::kind::success, "", {}};
}
outcome rate_limited(std::optional<std::chrono::seconds> retry_after = std::nullopt) {
  return {outcome::kind::rate_limited, "", retry_after};
}

instance_state state_of(const pool_manager& m, std::string_view uuid,
                        std::string_view type = "mock") {
  const auto v = m.find(type, uuid);
  EXPECT_TRUE(v.has_value()) << uuid;
  return v ? v->state : instance_state{};
}

TEST(pool_manager, sequential_picks_are_round_robin_and_even) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {}, clock.fn());
  std::map<std::string, int> served;
  for (int i = 0; i < 300; ++i) {
    const std::string u = pick_uuid(m);
    // File order first, then strictly in turn.
    EXPECT_EQ(u, std::string(1, "abc"[i % 3])) << "pick " << i;
    ++served[u];
    // After every pick each instance has served floor or ceil of picks/3.
    const int lo = (i + 1) / 3, hi = (i + 1 + 2) / 3;
    for (const auto& [uuid, n] : served) EXPECT_TRUE(n == lo || n == hi) << uuid << " " << n;
  }
  EXPECT_EQ(served, (std::map<std::string, int>{{"a", 100}, {"b", 100}, {"c", 100}}));
}

TEST(pool_manager, concurrent_picks_spread_evenly) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {}, clock.fn());
  std::atomic<int> a{0}, b{0}, c{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 75; ++i) {
        const auto r = m.pick("mock", "");
        ASSERT_NE(r.inst, nullptr);
        (r.inst->uuid == "a" ? a : r.inst->uuid == "b" ? b : c)++;
        m.report("mock", r.inst->uuid, success());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const int n : {a.load(), b.load(), c.load()}) {
    EXPECT_GE(n, 90);
    EXPECT_LE(n, 110);
  }
  EXPECT_EQ(a + b + c, 300);
  const auto snap = m.snapshot();
  std::uint64_t used = 0;
  for (const auto& v : snap.at("mock")) used += v.state.usage_count;
  EXPECT_EQ(used, 300u);  // no report lost under concurrency
}

TEST(pool_manager, failures_reaching_max_error_count_mark_unhealthy) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 3}, clock.fn());
  const time_point t0 = clock.now();
  m.report("mock", "b", failure("connect timeout"));
  clock.advance(1s);
  m.report("mock", "b", failure("HTTP 500"));
  auto st = state_of(m, "b");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 2);
  // Still picked below the threshold.
  EXPECT_EQ(pick_uuid(m), "a");
  EXPECT_EQ(pick_uuid(m), "b");
  clock.advance(1s);
  m.report("mock", "b", failure("HTTP 503: Service Unavailable\nretry later"));
  st = state_of(m, "b");
  EXPECT_FALSE(st.is_healthy);
  EXPECT_EQ(st.error_count, 3);
  EXPECT_EQ(st.last_error_time, t0 + 2s);
  EXPECT_EQ(st.last_error_message, "HTTP 503: Service Unavailable retry later");  // one line
  EXPECT_EQ(st.usage_count, 0u);  // failures are not usage
  // An unhealthy instance is never picked.
  for (int i = 0; i < 10; ++i) EXPECT_NE(pick_uuid(m), "b");
  // It stays out however much time passes: only a health check or a reset brings it back.
  clock.advance(24h);
  for (int i = 0; i < 4; ++i) EXPECT_NE(pick_uuid(m), "b");
}

TEST(pool_manager, success_resets_the_error_count) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 3}, clock.fn());
  m.report("mock", "a", failure());
  m.report("mock", "a", failure());
  clock.advance(5s);
  m.report("mock", "a", success());
  auto st = state_of(m, "a");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 0);
  EXPECT_EQ(st.usage_count, 1u);
  EXPECT_EQ(st.last_used, clock.now());
  EXPECT_EQ(st.last_error_message, "HTTP 502");  // history stays visible
  // Two more failures do not reach the threshold: the count started again.
  m.report("mock", "a", failure());
  m.report("mock", "a", failure());
  EXPECT_TRUE(state_of(m, "a").is_healthy);
}

TEST(pool_manager, client_errors_do_not_count_against_the_instance) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 1}, clock.fn());
  for (int i = 0; i < 5; ++i) m.report("mock", "a", {outcome::kind::client_error, "HTTP 400", {}});
  const auto st = state_of(m, "a");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 0);
  EXPECT_EQ(st.usage_count, 5u);
  EXPECT_EQ(st.last_used, clock.now());
  EXPECT_FALSE(st.last_error_time.has_value());
  EXPECT_EQ(pick_uuid(m), "a");
}

TEST(pool_manager, recovered_instance_is_picked_next) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 1}, clock.fn());
  for (int i = 0; i < 3; ++i) pick_uuid(m);  // a b c
  m.report("mock", "b", failure());
  EXPECT_EQ(pick_uuid(m), "a");
  EXPECT_EQ(pick_uuid(m), "c");
  EXPECT_EQ(pick_uuid(m), "a");
  // A failed check keeps it out and does not touch usage.
  m.report_health_check("mock", "b", false, "HTTP 500");
  EXPECT_EQ(state_of(m, "b").last_health_check_result, "HTTP 500");
  EXPECT_EQ(pick_uuid(m), "c");
  clock.advance(30s);
  m.report_health_check("mock", "b", true, "");
  auto st = state_of(m, "b");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 0);
  EXPECT_EQ(st.last_health_check, clock.now());
  EXPECT_EQ(st.last_health_check_result, "ok");
  EXPECT_EQ(st.usage_count, 0u);
  // Picked first, before a (the least recently picked of the others), then in turn.
  EXPECT_EQ(pick_uuid(m), "b");
  EXPECT_EQ(pick_uuid(m), "a");
  EXPECT_EQ(pick_uuid(m), "c");
  EXPECT_EQ(pick_uuid(m), "b");

  // The same after an admin reset.
  m.report("mock", "c", failure());
  EXPECT_EQ(pick_uuid(m), "a");
  EXPECT_EQ(pick_uuid(m), "b");
  EXPECT_TRUE(m.reset_health("mock", "c"));
  EXPECT_EQ(pick_uuid(m), "c");
}

TEST(pool_manager, health_check_failure_on_a_healthy_instance_counts_an_error) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 2}, clock.fn());
  m.report_health_check("mock", "a", false, "timeout");
  auto st = state_of(m, "a");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 1);
  EXPECT_EQ(st.last_error_message, "timeout");
  m.report_health_check("mock", "a", false, "");
  st = state_of(m, "a");
  EXPECT_FALSE(st.is_healthy);
  EXPECT_EQ(st.last_health_check_result, "health check failed");
}

TEST(pool_manager, rate_limit_with_retry_after_cools_down_until_then) {
  fake_clock clock;
  pool_manager m(from(R"({"mock":[{"uuid":"a"},{"uuid":"b"}]})"), {}, clock.fn());
  const time_point t0 = clock.now();
  m.report("mock", "a", rate_limited(30s));
  auto st = state_of(m, "a");
  EXPECT_EQ(st.cooldown_until, t0 + 30s);
  EXPECT_TRUE(st.is_healthy);  // not counted as unhealthy
  EXPECT_EQ(st.error_count, 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pick_uuid(m), "b");
  clock.advance(29999ms);
  EXPECT_EQ(pick_uuid(m), "b");
  clock.advance(1ms);
  // Eligible again with no other change: it was picked least recently, so it goes now.
  EXPECT_EQ(pick_uuid(m), "a");
  EXPECT_EQ(pick_uuid(m), "b");

  // Retry-After beyond the cap is capped.
  pool_manager capped(from(three_mocks), {.rate_limit_max = 120s}, clock.fn());
  capped.report("mock", "c", rate_limited(3600s));
  EXPECT_EQ(state_of(capped, "c").cooldown_until, clock.now() + 120s);
}

TEST(pool_manager, a_quota_reset_time_is_not_capped) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.rate_limit_max = 120s}, clock.fn());
  // A monthly allowance used up: parked until the upstream's own reset time, days away.
  m.quota_exhausted_until("mock", "a", clock.now() + 20 * 24h);
  m.quota_exhausted_until("mock", "nobody", clock.now() + 20 * 24h);  // ignored
  auto st = state_of(m, "a");
  EXPECT_EQ(st.cooldown_until, clock.now() + 20 * 24h);
  EXPECT_TRUE(st.is_healthy);
  // A health check that passes keeps the cooldown, and its message.
  m.report_health_check("mock", "a", true, "ok: usage 50 of 50; limit reached");
  st = state_of(m, "a");
  EXPECT_EQ(st.cooldown_until, clock.now() + 20 * 24h);
  EXPECT_EQ(st.last_health_check_result, "ok: usage 50 of 50; limit reached");
  EXPECT_EQ(pick_uuid(m), "b");
  // A Retry-After of the same length is capped.
  m.report("mock", "b", rate_limited(20 * 24h));
  EXPECT_EQ(state_of(m, "b").cooldown_until, clock.now() + 120s);
  // A 429 that names the quota's reset (Kiro's monthly, Qwen's daily allowance) is not.
  outcome quota = rate_limited(120s);
  quota.quota_reset = clock.now() + 20 * 24h;
  m.report("mock", "c", quota);
  EXPECT_EQ(state_of(m, "c").cooldown_until, clock.now() + 20 * 24h);
  EXPECT_TRUE(state_of(m, "c").is_healthy);
}

TEST(pool_manager, rate_limit_without_retry_after_backs_off_exponentially_up_to_the_cap) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.rate_limit_base = 5s, .rate_limit_max = 60s}, clock.fn());
  std::vector<std::chrono::seconds> seen;
  for (int i = 0; i < 6; ++i) {
    m.report("mock", "a", rate_limited());
    const auto until = *state_of(m, "a").cooldown_until;
    seen.push_back(std::chrono::duration_cast<std::chrono::seconds>(until - clock.now()));
    clock.advance(std::chrono::duration_cast<std::chrono::milliseconds>(until - clock.now()));
  }
  EXPECT_EQ(seen, (std::vector<std::chrono::seconds>{5s, 10s, 20s, 40s, 60s, 60s}));
  // A success ends the streak: the next 429 starts from the base again.
  m.report("mock", "a", success());
  m.report("mock", "a", rate_limited());
  EXPECT_EQ(state_of(m, "a").cooldown_until, clock.now() + 5s);
}

TEST(pool_manager, model_filters_decide_who_serves_a_model) {
  fake_clock clock;
  pool_manager m(from(R"({"openai-custom":[
      {"uuid":"only-mini","OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://a/v1",
       "supportedModels":["gpt-4o-mini"]},
      {"uuid":"no-mini","OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://b/v1",
       "notSupportedModels":["gpt-4o-mini"]},
      {"uuid":"any","OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://c/v1"}]})"),
                 {}, clock.fn());
  std::map<std::string, int> mini, big, total, all;
  for (int i = 0; i < 6; ++i) {
    const std::string u1 = pick_uuid(m, "openai-custom", "gpt-4o-mini");
    const std::string u2 = pick_uuid(m, "openai-custom", "gpt-4o");
    ++mini[u1];
    ++big[u2];
    ++total[u1];
    ++total[u2];
  }
  EXPECT_EQ(mini.count("no-mini"), 0u);
  EXPECT_EQ(big.count("only-mini"), 0u);
  EXPECT_EQ(mini.size() + big.size(), 4u);  // "any" serves both
  // The instance serving both models is shared fairly: the load stays even overall.
  EXPECT_EQ(total, (std::map<std::string, int>{{"any", 4}, {"no-mini", 4}, {"only-mini", 4}}));
  // No model: every instance.
  for (int i = 0; i < 9; ++i) ++all[pick_uuid(m, "openai-custom", "")];
  EXPECT_EQ(all, (std::map<std::string, int>{{"any", 3}, {"no-mini", 3}, {"only-mini", 3}}));
}

TEST(pool_manager, avoided_instances_are_taken_only_when_nothing_else_is_eligible) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {}, clock.fn());
  // a would be next but is avoided (it just failed this request): the next in turn instead.
  EXPECT_EQ(pick_uuid(m, "mock", "", {"a"}), "b");
  EXPECT_EQ(pick_uuid(m), "a");
  // c is least recently picked but avoided: b (picked before a) goes.
  EXPECT_EQ(pick_uuid(m, "mock", "", {"c"}), "b");
  // Every eligible one avoided: the least recently picked of them.
  EXPECT_EQ(pick_uuid(m, "mock", "", {"a", "b", "c"}), "c");
  // Avoiding unknown or ineligible uuids changes nothing.
  m.set_disabled("mock", "a", true);
  EXPECT_EQ(pick_uuid(m, "mock", "", {"a", "zzz"}), "b");
  // Only one eligible, and avoided: still served rather than failing the request.
  m.set_disabled("mock", "c", true);
  EXPECT_EQ(pick_uuid(m, "mock", "", {"b"}), "b");
}

TEST(pool_manager, every_no_pick_reason_has_a_precise_message) {
  fake_clock clock;
  pool_manager m(from(R"({"mock":[{"uuid":"a"},{"uuid":"b"},{"uuid":"c","supportedModels":["m1"]}],
                          "claude-custom":[]})"),
                 {.max_error_count = 1}, clock.fn());
  auto r = m.pick("openai-custom", "");
  EXPECT_EQ(r.inst, nullptr);
  EXPECT_EQ(r.reason, no_pick_reason::no_instances);
  EXPECT_EQ(r.message, "no instance of openai-custom is configured");
  r = m.pick("claude-custom", "");
  EXPECT_EQ(r.reason, no_pick_reason::no_instances);
  EXPECT_EQ(r.message, "no instance of claude-custom is configured");

  m.set_disabled("mock", "c", true);
  r = m.pick("mock", "m2");  // c is the only one serving m1; nobody limits m2 except c
  ASSERT_NE(r.inst, nullptr);

  pool_manager only_m1(from(R"({"mock":[{"uuid":"x","supportedModels":["m1"]},
                                        {"uuid":"y","notSupportedModels":["m2"]}]})"),
                       {}, clock.fn());
  r = only_m1.pick("mock", "m2");
  EXPECT_EQ(r.reason, no_pick_reason::no_model_match);
  EXPECT_EQ(r.message, "no instance of mock serves model m2");

  m.set_disabled("mock", "a", true);
  m.set_disabled("mock", "b", true);
  r = m.pick("mock", "");
  EXPECT_EQ(r.reason, no_pick_reason::all_disabled);
  EXPECT_EQ(r.message, "no enabled instance of mock: 3 disabled");

  m.set_disabled("mock", "a", false);
  m.set_disabled("mock", "b", false);
  m.report("mock", "a", failure());
  m.report("mock", "b", failure());
  r = m.pick("mock", "");
  EXPECT_EQ(r.reason, no_pick_reason::all_unhealthy);
  EXPECT_EQ(r.message, "no healthy instance of mock: 2 unhealthy, 1 disabled");
  // Scoped to a model when the model narrowed the candidates.
  r = m.pick("mock", "m2");
  EXPECT_EQ(r.message, "no healthy instance of mock for model m2: 2 unhealthy");

  m.reset_health("mock", "a");
  m.reset_health("mock", "b");
  m.set_disabled("mock", "c", false);
  m.report("mock", "a", rate_limited(10s));
  m.report("mock", "b", rate_limited(20s));
  m.report("mock", "c", rate_limited(30s));
  r = m.pick("mock", "");
  EXPECT_EQ(r.reason, no_pick_reason::all_cooling_down);
  EXPECT_EQ(r.next_cooldown_end, clock.now() + 10s);
  EXPECT_EQ(r.message, "all instances of mock are rate limited until 2026-01-01T00:00:10.000Z");
  m.report("mock", "a", failure());
  r = m.pick("mock", "");
  EXPECT_EQ(r.reason, no_pick_reason::all_cooling_down);
  EXPECT_EQ(r.next_cooldown_end, clock.now() + 20s);
  EXPECT_EQ(r.message,
            "no instance of mock is available: 2 rate limited until 2026-01-01T00:00:20.000Z, "
            "1 unhealthy");
  clock.advance(20s);
  r = m.pick("mock", "");
  ASSERT_NE(r.inst, nullptr);
  EXPECT_EQ(r.inst->uuid, "b");
  EXPECT_EQ(r.reason, no_pick_reason::none);
  EXPECT_TRUE(r.message.empty());
}

TEST(pool_manager, admin_calls_change_state_and_notify) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 1}, clock.fn());
  EXPECT_EQ(m.version(), 0u);
  int calls = 0;
  std::uint64_t seen_version = 0;
  m.set_on_change([&] {
    ++calls;
    // Called outside the lock: the manager can be used from the callback.
    seen_version = m.version();
    (void)m.snapshot();
  });
  EXPECT_TRUE(m.set_disabled("mock", "a", true));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen_version, 1u);
  EXPECT_TRUE(state_of(m, "a").is_disabled);
  for (int i = 0; i < 4; ++i) EXPECT_NE(pick_uuid(m), "a");
  EXPECT_TRUE(m.set_disabled("mock", "a", true));  // no change, no notification
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(m.set_disabled("mock", "zzz", true));
  EXPECT_FALSE(m.set_disabled("openai-custom", "a", true));
  EXPECT_FALSE(m.reset_health("mock", "zzz"));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(m.set_disabled("mock", "a", false));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(pick_uuid(m), "a");  // enabled again, and it waited longest

  m.report("mock", "b", failure());
  m.report("mock", "b", rate_limited(60s));
  EXPECT_EQ(calls, 4);
  EXPECT_TRUE(m.reset_health("mock", "b"));
  EXPECT_EQ(calls, 5);
  const auto st = state_of(m, "b");
  EXPECT_TRUE(st.is_healthy);
  EXPECT_EQ(st.error_count, 0);
  EXPECT_FALSE(st.cooldown_until.has_value());
  EXPECT_EQ(pick_uuid(m), "b");
  // Unknown instances are ignored without a notification.
  m.report("mock", "zzz", failure());
  m.report_health_check("mock", "zzz", true, "");
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(m.version(), 5u);

  EXPECT_EQ(m.types(), (std::vector<std::string>{"mock"}));
  EXPECT_EQ(m.snapshot().at("mock").size(), 3u);
  EXPECT_FALSE(m.find("mock", "nope").has_value());
}

// A file as an operator writes it: credentials, unknown keys (also nested), odd key order.
const char* const operator_file = R"({
  "openai-custom": [
    {
      "customName": "primary",
      "OPENAI_API_KEY": "sk-openai-key1\u00e9\"quoted\"",
      "OPENAI_BASE_URL": "https://api.openai.com/v1",
      "zeta": {"z": 1, "a": [3, 2, 1], "m": null},
      "checkModelName": null,
      "uuid": "2f579c65-d3c5-41b1-9985-9f6e3d7bf39c",
      "isHealthy": true,
      "lastUsed": null,
      "usageCount": 0,
      "errorCount": 0,
      "lastErrorTime": null,
      "alpha": 1.5
    },
    {
      "OPENAI_API_KEY": "sk-openai-key2",
      "OPENAI_BASE_URL": "https://api.openai.com/v1",
      "uuid": "e284628d-302f-456d-91f3-6095386fb3b8"
    }
  ],
  "gemini-cli-oauth": [
    {
      "GEMINI_OAUTH_CREDS_FILE_PATH": "./credentials1.json",
      "PROJECT_ID": "your-project-id-1",
      "uuid": "ac200154-26b8-4f5f-8650-e8cc738b06e3",
      "cooldownUntil": null,
      "lastErrorMessage": null
    }
  ],
  "x-unknown-top": "kept"
})";

std::vector<std::string> keys_of(const json& obj) {
  std::vector<std::string> out;
  for (auto it = obj.begin(); it != obj.end(); ++it) out.push_back(it.key());
  return out;
}

TEST(pool_manager, serialize_keeps_credentials_unknown_keys_and_key_order) {
  // "x-unknown-top" is not a provider type: the loader rejects it, so use a file without it
  // for the manager and check top-level order with the provider types.
  std::string text = operator_file;
  text.replace(text.find(",\n  \"x-unknown-top\": \"kept\""),
               std::string(",\n  \"x-unknown-top\": \"kept\"").size(), "");
  fake_clock clock;
  pool_manager m(from(text), {}, clock.fn());
  m.report("openai-custom", "2f579c65-d3c5-41b1-9985-9f6e3d7bf39c", success());
  m.report("openai-custom", "e284628d-302f-456d-91f3-6095386fb3b8", failure("HTTP 500"));
  const std::string out = m.serialize();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  const json in_doc = json::parse(text);
  const json out_doc = json::parse(out);

  // Credentials: the same bytes as nlohmann writes them, and the same values.
  EXPECT_NE(out.find("\"OPENAI_API_KEY\": \"sk-openai-key1é\\\"quoted\\\"\""), std::string::npos);
  EXPECT_NE(out.find("\"OPENAI_API_KEY\": \"sk-openai-key2\""), std::string::npos);
  EXPECT_NE(out.find("\"GEMINI_OAUTH_CREDS_FILE_PATH\": \"./credentials1.json\""),
            std::string::npos);
  EXPECT_EQ(out_doc["openai-custom"][0]["OPENAI_API_KEY"],
            in_doc["openai-custom"][0]["OPENAI_API_KEY"]);
  // Unknown keys, nested ones in their order.
  EXPECT_EQ(out_doc["openai-custom"][0]["zeta"].dump(), in_doc["openai-custom"][0]["zeta"].dump());
  EXPECT_EQ(out_doc["openai-custom"][0]["zeta"].dump(), R"({"z":1,"a":[3,2,1],"m":null})");
  EXPECT_EQ(out_doc["openai-custom"][0]["alpha"], 1.5);
  // Key order: the file's keys in the file's order; new state keys appended after them.
  EXPECT_EQ(keys_of(out_doc), keys_of(in_doc));
  EXPECT_EQ(keys_of(out_doc["openai-custom"][0]), keys_of(in_doc["openai-custom"][0]));
  EXPECT_EQ(keys_of(out_doc["openai-custom"][1]),
            (std::vector<std::string>{"OPENAI_API_KEY", "OPENAI_BASE_URL", "uuid", "isHealthy",
                                      "lastUsed", "usageCount", "errorCount", "lastErrorTime",
                                      "lastErrorMessage"}));
  // State written in.
  EXPECT_EQ(out_doc["openai-custom"][0]["usageCount"], 1);
  EXPECT_EQ(out_doc["openai-custom"][0]["lastUsed"], "2026-01-01T00:00:00.000Z");
  EXPECT_FALSE(out_doc["openai-custom"][0].contains("isDisabled"));  // false and not present
  EXPECT_FALSE(out_doc["openai-custom"][0].contains("cooldownUntil"));
  EXPECT_EQ(out_doc["openai-custom"][1]["errorCount"], 1);
  EXPECT_EQ(out_doc["openai-custom"][1]["lastErrorMessage"], "HTTP 500");
  EXPECT_EQ(out_doc["openai-custom"][1]["lastErrorTime"], "2026-01-01T00:00:00.000Z");
  // Present keys stay, null when there is nothing to say.
  EXPECT_TRUE(out_doc["gemini-cli-oauth"][0]["cooldownUntil"].is_null());
  EXPECT_TRUE(out_doc["gemini-cli-oauth"][0]["lastErrorMessage"].is_null());
  // Two-space indentation.
  EXPECT_EQ(out.substr(0, 22), "{\n  \"openai-custom\": [");
  // Unchanged state serializes the same way twice.
  EXPECT_EQ(m.serialize(), out);
}

void expect_same_persisted_state(const instance_state& a, const instance_state& b,
                                 const std::string& who) {
  EXPECT_EQ(a.is_healthy, b.is_healthy) << who;
  EXPECT_EQ(a.is_disabled, b.is_disabled) << who;
  EXPECT_EQ(a.last_used, b.last_used) << who;
  EXPECT_EQ(a.usage_count, b.usage_count) << who;
  EXPECT_EQ(a.error_count, b.error_count) << who;
  EXPECT_EQ(a.last_error_time, b.last_error_time) << who;
  EXPECT_EQ(a.last_error_message, b.last_error_message) << who;
  EXPECT_EQ(a.cooldown_until, b.cooldown_until) << who;
  EXPECT_EQ(a.last_health_check, b.last_health_check) << who;
}

TEST(pool_manager, state_survives_a_serialize_and_reload_from_the_text) {
  fake_clock clock;
  const char* const four = R"({"mock":[{"uuid":"a"},{"uuid":"b"},{"uuid":"c"},{"uuid":"d"}]})";
  pool_manager m(from(four), {.max_error_count = 2}, clock.fn());
  m.report("mock", "a", success());
  clock.advance(1500ms);
  m.report("mock", "a", success());
  m.report("mock", "b", failure("HTTP 500"));
  clock.advance(250ms);
  m.report("mock", "b", failure("connect: refused"));  // unhealthy now
  m.report("mock", "c", rate_limited(90s));
  m.report_health_check("mock", "c", true, "");
  m.set_disabled("mock", "d", true);
  clock.advance(10s);

  const std::string text = m.serialize();
  pool_manager restarted(parse_pools(text, "pools.json"), {.max_error_count = 2}, clock.fn());
  EXPECT_EQ(restarted.version(), 0u);  // nothing new to save
  for (const char* u : {"a", "b", "c", "d"})
    expect_same_persisted_state(state_of(restarted, u), state_of(m, u), u);
  EXPECT_EQ(state_of(restarted, "c").cooldown_until, clock.now() + 80s);
  // And it behaves the same: b unhealthy, c cooling down, d disabled -> a only.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(pick_uuid(restarted), "a");
  clock.advance(80s);
  EXPECT_EQ(pick_uuid(restarted), "c");
  // An expired cooldown is written as null.
  const json doc = json::parse(restarted.serialize());
  EXPECT_TRUE(doc["mock"][2]["cooldownUntil"].is_null());
  EXPECT_EQ(doc["mock"][2]["lastHealthCheckTime"], "2026-01-01T00:00:01.750Z");
  EXPECT_EQ(doc["mock"][3]["isDisabled"], true);
  EXPECT_EQ(doc["mock"][1]["isHealthy"], false);
  EXPECT_EQ(doc["mock"][1]["lastErrorMessage"], "connect: refused");
}

TEST(pool_manager, reload_carries_runtime_state_by_uuid) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {}, clock.fn());
  for (int i = 0; i < 3; ++i) pick_uuid(m);  // a b c
  m.report("mock", "a", success());
  m.report("mock", "a", success());
  json edited = json::parse(m.serialize());
  // After the save, more traffic: the runtime is ahead of the file.
  m.report("mock", "a", success());
  m.report("mock", "c", rate_limited(60s));
  // The operator removes b and adds d (without uuid) and e (with state of its own).
  edited["mock"].erase(1);
  edited["mock"].push_back(json::object());
  edited["mock"].push_back(json{{"uuid", "e"}, {"usageCount", 7}});
  const std::uint64_t before = m.version();
  int calls = 0;
  m.set_on_change([&] { ++calls; });
  m.reload(from(edited.dump()));
  EXPECT_GT(m.version(), before);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(state_of(m, "a").usage_count, 3u);  // runtime kept: the file did not change it
  EXPECT_EQ(state_of(m, "c").cooldown_until, clock.now() + 60s);
  EXPECT_FALSE(m.find("mock", "b").has_value());
  m.report("mock", "b", failure());  // a request still in flight on b: ignored
  EXPECT_EQ(state_of(m, "e").usage_count, 7u);
  const auto snap = m.snapshot().at("mock");
  ASSERT_EQ(snap.size(), 4u);
  const std::string d = snap[2].config->uuid;
  EXPECT_TRUE(snap[2].config->uuid_generated);
  // New instances are picked first (file order), then the least recently picked.
  EXPECT_EQ(pick_uuid(m), d);
  EXPECT_EQ(pick_uuid(m), "e");
  EXPECT_EQ(pick_uuid(m), "a");  // c is cooling down
  // The new document is the one written back, with d's generated uuid.
  const json out = json::parse(m.serialize());
  ASSERT_EQ(out["mock"].size(), 4u);
  EXPECT_EQ(out["mock"][2]["uuid"], d);
  EXPECT_EQ(out["mock"][0]["usageCount"], 3);
}

TEST(pool_manager, reload_lets_an_operator_edit_win) {
  fake_clock clock;
  pool_manager m(from(three_mocks), {.max_error_count = 1}, clock.fn());
  m.report("mock", "a", success());
  m.report("mock", "b", failure("HTTP 500"));  // unhealthy
  m.report("mock", "c", rate_limited(300s));
  json edited = json::parse(m.serialize());
  m.report("mock", "a", success());
  m.report("mock", "a", success());  // runtime usage 3, file says 1
  // Edits: a disabled and its counter reset; b declared healthy; c's cooldown lifted.
  edited["mock"][0]["isDisabled"] = true;
  edited["mock"][0]["usageCount"] = 0;
  edited["mock"][1]["isHealthy"] = true;
  edited["mock"][2]["cooldownUntil"] = nullptr;
  m.reload(from(edited.dump()));
  auto a = state_of(m, "a");
  EXPECT_TRUE(a.is_disabled);
  EXPECT_EQ(a.usage_count, 0u);
  EXPECT_EQ(a.last_used, clock.now());  // not edited: runtime value
  auto b = state_of(m, "b");
  EXPECT_TRUE(b.is_healthy);
  EXPECT_EQ(b.error_count, 0);  // healed by hand counts as a reset
  EXPECT_EQ(b.last_error_message, "HTTP 500");
  EXPECT_FALSE(state_of(m, "c").cooldown_until.has_value());
  EXPECT_EQ(pick_uuid(m), "b");  // back from unhealthy: first
  EXPECT_EQ(pick_uuid(m), "c");
}

TEST(pool_manager, reload_before_any_save_compares_with_the_loaded_file) {
  fake_clock clock;
  const char* const text = R"({"mock":[{"uuid":"a","usageCount":5,"isHealthy":true}]})";
  pool_manager m(from(text), {}, clock.fn());
  m.report("mock", "a", success());  // 6 at runtime
  // The same file again (e.g. SIGHUP without edits): runtime state kept.
  m.reload(from(text));
  EXPECT_EQ(state_of(m, "a").usage_count, 6u);
  // The operator sets the count: the file wins.
  m.reload(from(R"({"mock":[{"uuid":"a","usageCount":100,"isHealthy":true}]})"));
  EXPECT_EQ(state_of(m, "a").usage_count, 100u);
}

TEST(pool_manager, generated_uuids_are_a_change_to_save) {
  fake_clock clock;
  const auto p = from(R"({"mock":[{"customName":"no id"},{"uuid":"b"}]})");
  const std::string generated = p.by_type.at("mock")[0].uuid;
  int calls = 0;
  pool_manager m(p, {}, clock.fn());
  m.set_on_change([&] { ++calls; });
  EXPECT_GT(m.version(), 0u);
  const std::string text = m.serialize();
  const json doc = json::parse(text);
  EXPECT_EQ(doc["mock"][0]["uuid"], generated);
  EXPECT_EQ(doc["mock"][0]["customName"], "no id");
  // Saved and loaded again: the same uuid, nothing more to save.
  const auto again = parse_pools(text, "pools.json");
  EXPECT_EQ(again.by_type.at("mock")[0].uuid, generated);
  EXPECT_FALSE(again.by_type.at("mock")[0].uuid_generated);
  EXPECT_EQ(pool_manager(again, {}, clock.fn()).version(), 0u);
  EXPECT_EQ(calls, 0);
}

TEST(pool_manager, hand_built_pools_without_a_document_serialize) {
  pools p;
  instance inst;
  inst.type = "mock";
  inst.uuid = "h1";
  inst.fields = {{"uuid", "h1"}, {"customName", "by hand"}};
  inst.is_healthy = false;
  p.by_type["mock"].push_back(inst);
  fake_clock clock;
  pool_manager m(std::move(p), {}, clock.fn());
  EXPECT_FALSE(state_of(m, "h1").is_healthy);
  const json doc = json::parse(m.serialize());
  EXPECT_EQ(doc["mock"][0]["uuid"], "h1");
  EXPECT_EQ(doc["mock"][0]["customName"], "by hand");
  EXPECT_EQ(doc["mock"][0]["isHealthy"], false);
}

}  // namespace
}  // namespace aiclient::pool

namespace aiclient::pool {
namespace {
TEST(pool_manager_fatal, a_fatal_outcome_marks_unhealthy_at_once) {
  auto p = parse_pools(
      R"({"openai-custom":[{"OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://a/v1","uuid":"a"},
      {"OPENAI_API_KEY":"k","OPENAI_BASE_URL":"https://b/v1","uuid":"b"}]})",
      "pools.json");
  pool_manager m(std::move(p));
  m.report("openai-custom", "a", {outcome::kind::fatal, "login expired", {}});
  const auto a = m.find("openai-custom", "a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->state.is_healthy);
  EXPECT_EQ(a->state.last_error_message, "login expired");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(m.pick("openai-custom", "").inst->uuid, "b");
}
}  // namespace
}  // namespace aiclient::pool
