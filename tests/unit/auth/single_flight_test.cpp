// One refresh at a time per credentials file: concurrent callers on several threads wait for
// the refresh in flight; the refresh timer; results come back on the caller's executor.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/detached.hpp>
#include <mutex>
#include <vector>

#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

class single_flight : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream token_server_;

  std::string gemini_file(const std::string& name, std::chrono::system_clock::duration in,
                          const std::string& refresh = "1//refresh") {
    const std::string path = dir_.file(name);
    write_file(path, json{{"access_token", "old-access"},
                          {"refresh_token", refresh},
                          {"expiry_date", ms_from_now(in)}}
                         .dump());
    return path;
  }
  std::shared_ptr<const pool::instance> gemini(const std::string& path,
                                               const std::string& uuid = "inst-1") {
    return make_instance("gemini-cli-oauth",
                         {{"GEMINI_OAUTH_CREDS_FILE_PATH", path},
                          {"GEMINI_TOKEN_URL", token_server_.base_url() + "/token"}},
                         uuid);
  }
  static std::string answer(const std::string& access) {
    return json{{"access_token", access}, {"expires_in", 3599}, {"token_type", "Bearer"}}.dump();
  }
};

/// Runs `per_thread` coroutines calling get() on each of `threads` threads (each with its own
/// io_context); returns the results, checking that each completed on its caller's thread.
std::vector<token_result> concurrent_gets(token_manager& m,
                                          std::shared_ptr<const pool::instance> inst, bool force,
                                          int threads, int per_thread) {
  std::mutex mu;
  std::vector<token_result> results;
  std::atomic<int> wrong_thread{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      asio::io_context ioc;
      const auto me = std::this_thread::get_id();
      for (int i = 0; i < per_thread; ++i) {
        asio::co_spawn(
            ioc,
            [&, me]() -> asio::awaitable<void> {
              token_result r = co_await m.get(inst, force);
              if (std::this_thread::get_id() != me) ++wrong_thread;
              std::lock_guard lock(mu);
              results.push_back(std::move(r));
            },
            asio::detached);
      }
      ioc.run();
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(wrong_thread.load(), 0) << "get() completed off the caller's executor";
  return results;
}

TEST_F(single_flight, twenty_callers_on_two_threads_share_one_refresh) {
  token_manager m(dead_endpoints(), test_options());
  const auto inst = gemini(gemini_file("creds.json", -5min));
  // A slow token endpoint, so that every caller arrives while the refresh is in flight.
  token_server_.push(json_answer(200, answer("shared-new-access"), 300ms));
  token_server_.push(json_answer(200, answer("second-refresh-must-not-happen")));

  const auto results = concurrent_gets(m, inst, false, 2, 10);
  ASSERT_EQ(results.size(), 20u);
  for (const auto& r : results) {
    ASSERT_TRUE(r.tok) << r.error;
    EXPECT_EQ(r.tok->access_token, "shared-new-access");
  }
  EXPECT_EQ(requests_to(token_server_, "/token").size(), 1u);
}

TEST_F(single_flight, concurrent_forced_refreshes_after_401_share_one_refresh) {
  token_manager m(dead_endpoints(), test_options());
  const auto inst = gemini(gemini_file("creds.json", 1h));
  token_server_.push(json_answer(200, answer("after-401"), 200ms));
  token_server_.push(json_answer(200, answer("second-refresh-must-not-happen")));

  const auto results = concurrent_gets(m, inst, true, 2, 5);
  ASSERT_EQ(results.size(), 10u);
  for (const auto& r : results) {
    ASSERT_TRUE(r.tok) << r.error;
    EXPECT_EQ(r.tok->access_token, "after-401");
  }
  // Another 401 right after: the fresh token is not refreshed again.
  const auto late = get_token(m, inst, true);
  ASSERT_TRUE(late.tok) << late.error;
  EXPECT_EQ(late.tok->access_token, "after-401");
  EXPECT_EQ(requests_to(token_server_, "/token").size(), 1u);
}

TEST_F(single_flight, waiters_share_a_failure_too) {
  token_manager m(dead_endpoints(), test_options());
  const auto inst = gemini(gemini_file("creds.json", -5min));
  token_server_.push(json_answer(500, R"({"error":"backend_error"})", 200ms));
  const auto results = concurrent_gets(m, inst, false, 2, 4);
  ASSERT_EQ(results.size(), 8u);
  for (const auto& r : results) {
    EXPECT_FALSE(r.tok);
    EXPECT_NE(r.error.find("HTTP 500"), std::string::npos) << r.error;
  }
  EXPECT_EQ(requests_to(token_server_, "/token").size(), 1u);
}

TEST_F(single_flight, timer_refreshes_near_expiry_tokens_and_reports_failures) {
  manager_options o = test_options();
  o.timer_period = std::chrono::seconds(60);
  token_manager m(dead_endpoints(), o);

  const std::string near_path = gemini_file("near.json", 5min, "1//near-refresh");
  const std::string far_path = gemini_file("far.json", 2h, "1//far-refresh");
  const std::string dead_path = gemini_file("dead.json", 5min, "1//dead-refresh");
  const auto near_inst = gemini(near_path, "near");
  const auto far_inst = gemini(far_path, "far");
  const auto dead_inst = gemini(dead_path, "dead");
  const auto missing_inst = gemini(dir_.file("missing.json"), "missing");
  const auto api_key_inst = make_instance("openai-custom", {{"OPENAI_API_KEY", "sk-x"}}, "api");

  token_server_.set_handler([&](const recorded_request& req) {
    if (req.body.find("dead-refresh") != std::string::npos)
      return json_answer(400, R"({"error":"invalid_grant"})");
    return json_answer(200, answer("timer-new-access"));
  });

  struct failure {
    std::string uuid, error;
    bool permanent;
  };
  std::mutex mu;
  std::vector<failure> failures;
  m.start_timer(
      [&] {
        return std::vector<std::shared_ptr<const pool::instance>>{near_inst, far_inst, dead_inst,
                                                                  missing_inst, api_key_inst};
      },
      [&](const pool::instance& inst, const std::string& error, bool permanent) {
        std::lock_guard lock(mu);
        failures.push_back({inst.uuid, error, permanent});
      });

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return failures.size() >= 2;
  }));
  // The near-expiry token was refreshed and written back; the far one was left alone.
  EXPECT_EQ(json::parse(read_file(near_path))["access_token"], "timer-new-access");
  EXPECT_EQ(json::parse(read_file(far_path))["access_token"], "old-access");
  const auto seen = requests_to(token_server_, "/token");
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& r : seen) EXPECT_EQ(r.body.find("far-refresh"), std::string::npos);

  std::lock_guard lock(mu);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].uuid, "dead");
  EXPECT_TRUE(failures[0].permanent);
  EXPECT_NE(failures[0].error.find("invalid_grant"), std::string::npos) << failures[0].error;
  EXPECT_EQ(failures[0].error.find("dead-refresh"), std::string::npos) << failures[0].error;
  EXPECT_EQ(failures[1].uuid, "missing");
  EXPECT_FALSE(failures[1].permanent);
  EXPECT_NE(failures[1].error.find("missing.json"), std::string::npos) << failures[1].error;
}

TEST_F(single_flight, timer_off_does_nothing) {
  manager_options o = test_options();
  o.refresh_timer = false;
  token_manager m(dead_endpoints(), o);
  const auto inst = gemini(gemini_file("near.json", 5min));
  std::atomic<int> listed{0};
  m.start_timer(
      [&] {
        ++listed;
        return std::vector<std::shared_ptr<const pool::instance>>{inst};
      },
      nullptr);
  // Give a started timer every chance to have run its first pass (it runs at once).
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(listed.load(), 0);
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(single_flight, destroying_the_manager_ends_a_hanging_refresh) {
  const auto inst = gemini(gemini_file("creds.json", -5min));
  scripted_response hang;
  hang.hang = true;
  token_server_.push(hang);

  manager_options o = test_options();
  o.http_timeout = 30000ms;
  std::optional<token_manager> m;
  m.emplace(dead_endpoints(), o);
  asio::io_context ioc;
  std::optional<token_result> result;
  asio::co_spawn(ioc, m->get(inst),
                 [&](std::exception_ptr, token_result r) { result = std::move(r); });
  std::thread caller([&ioc] { ioc.run(); });
  ASSERT_TRUE(eventually([&] { return token_server_.requests().size() == 1; }));

  // Shutting down while the token endpoint hangs: the refresh is cancelled, the waiting
  // caller gets an error, and nothing waits for the 30 s timeout.
  const auto started = std::chrono::steady_clock::now();
  m.reset();
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->tok);
  EXPECT_FALSE(result->error.empty());
}

}  // namespace
}  // namespace aiclient::auth::test
