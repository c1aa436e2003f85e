// Sharing a credentials file with the provider's own CLI: a token the CLI wrote is adopted
// instead of refreshing (refresh tokens rotate: ours may be stale), and Qwen Code's lock file
// (<creds dir>/oauth_creds.lock) is honoured around our refresh and write-back.
#include <gtest/gtest.h>
#include <sys/time.h>

#include <atomic>
#include <future>

#include "aiclient/util/strings.hpp"
#include "auth_test_support.hpp"

namespace aiclient::auth::test {
namespace {

using steady = std::chrono::steady_clock;

class cli_coordination : public ::testing::Test {
 protected:
  temp_dir dir_;
  fake_upstream token_server_;
  std::string creds_ = dir_.file("oauth_creds.json");
  std::string lock_ = dir_.file("oauth_creds.lock");

  /// A Qwen Code credentials file.
  void write_qwen(const std::string& access, const std::string& refresh,
                  std::chrono::system_clock::duration expires_in) {
    write_file(creds_, json{{"access_token", access},
                            {"refresh_token", refresh},
                            {"token_type", "Bearer"},
                            {"resource_url", "portal.qwen.ai"},
                            {"expiry_date", ms_from_now(expires_in)}}
                           .dump(2));
  }
  std::shared_ptr<const pool::instance> qwen() const {
    return make_instance("openai-qwen-oauth",
                         {{"QWEN_OAUTH_CREDS_FILE_PATH", creds_},
                          {"QWEN_TOKEN_URL", token_server_.base_url() + "/api/v1/oauth2/token"}});
  }
  /// The lock file as Qwen Code makes it (a random id inside), `age` old.
  void hold_lock(std::chrono::seconds age = 0s) const {
    {
      std::ofstream out(lock_);
      out << "b6f1c2d0-qwen-code-lock-id";
    }
    if (age.count() > 0) {
      timeval times[2];
      ::gettimeofday(&times[0], nullptr);
      times[0].tv_sec -= age.count();
      times[1] = times[0];
      ::utimes(lock_.c_str(), times);
    }
  }
  bool lock_exists() const { return fs::exists(lock_); }
  static scripted_response qwen_answer(const std::string& access, const std::string& refresh) {
    return json_answer(200, json{{"access_token", access},
                                 {"token_type", "Bearer"},
                                 {"expires_in", 3600},
                                 {"refresh_token", refresh}}
                                .dump());
  }
};

/// get() started on its own thread (the manager itself never blocks a caller's thread).
std::future<token_result> get_async(token_manager& m, std::shared_ptr<const pool::instance> inst,
                                    bool force = false) {
  return std::async(std::launch::async, [&m, inst, force] { return get_token(m, inst, force); });
}

TEST_F(cli_coordination, qwen_adopts_the_token_qwen_code_wrote_while_holding_the_lock) {
  token_manager m(dead_endpoints(), test_options());
  write_qwen("q-expired", "q-refresh-1", -1min);
  token_server_.push(qwen_answer("must-not-be-asked", "nope"));
  hold_lock();  // Qwen Code is refreshing right now

  auto pending = get_async(m, qwen());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout) << "it waits for the lock";
  // Qwen Code finishes: the new token (and its rotated refresh token) in the file, lock gone.
  write_qwen("q-from-qwen-code", "q-refresh-2", 1h);
  fs::remove(lock_);

  const token_result r = pending.get();
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-from-qwen-code");
  EXPECT_TRUE(token_server_.requests().empty()) << "no refresh with the stale refresh token";
  EXPECT_FALSE(lock_exists()) << "our own lock is released";
  EXPECT_EQ(json::parse(read_file(creds_))["refresh_token"], "q-refresh-2");
}

TEST_F(cli_coordination, a_held_lock_delays_the_refresh_which_then_uses_the_newest_file) {
  token_manager m(dead_endpoints(), test_options());
  write_qwen("q-expired", "q-refresh-1", -1min);
  token_server_.push(qwen_answer("q-ours", "q-refresh-3"));
  hold_lock();

  const auto started = steady::now();
  auto pending = get_async(m, qwen());
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(token_server_.requests().empty()) << "no refresh while another process holds it";
  // The holder rotated the refresh token but left a token about to expire: we refresh, with the
  // refresh token the file holds now.
  write_qwen("q-nearly-expired", "q-refresh-2", 1min);
  fs::remove(lock_);

  const token_result r = pending.get();
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-ours");
  EXPECT_GE(steady::now() - started, 400ms);
  const auto seen = token_server_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(util::query_param(seen[0].body, "refresh_token"), "q-refresh-2");
  EXPECT_FALSE(lock_exists());
  const auto saved = json::parse(read_file(creds_));
  EXPECT_EQ(saved["access_token"], "q-ours");
  EXPECT_EQ(saved["refresh_token"], "q-refresh-3");
}

TEST_F(cli_coordination, a_stale_lock_is_broken) {
  token_manager m(dead_endpoints(), test_options());  // lock timeout 10 s
  write_qwen("q-expired", "q-refresh-1", -1min);
  token_server_.push(qwen_answer("q-new", "q-refresh-2"));
  hold_lock(30s);  // left behind by a crashed process

  const auto started = steady::now();
  const token_result r = get_token(m, qwen());
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-new");
  EXPECT_LT(steady::now() - started, 5s) << "no wait for a stale lock";
  EXPECT_EQ(token_server_.requests().size(), 1u);
  EXPECT_FALSE(lock_exists());
  for (const auto& entry : fs::directory_iterator(fs::path(creds_).parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(".stale."), std::string::npos)
        << "the stale lock was renamed aside and deleted";
}

TEST_F(cli_coordination, a_lock_held_past_the_timeout_fails_the_refresh_without_calling) {
  manager_options o = test_options();
  o.lock_timeout = 300ms;
  o.lock_poll_interval = 20ms;
  token_manager m(dead_endpoints(), o);
  write_qwen("q-expired", "q-refresh-1", -1min);
  hold_lock();
  // The holder keeps its lock fresh (it is not stale): we give up after the timeout.
  std::atomic<bool> done{false};
  std::thread toucher([&] {
    while (!done) {
      ::utimes(lock_.c_str(), nullptr);
      std::this_thread::sleep_for(20ms);
    }
  });
  const auto started = steady::now();
  const token_result r = get_token(m, qwen());
  done = true;
  toucher.join();
  EXPECT_FALSE(r.tok);
  EXPECT_FALSE(r.permanent);
  EXPECT_NE(r.error.find(lock_), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("held by another process"), std::string::npos) << r.error;
  EXPECT_GE(steady::now() - started, 300ms);
  EXPECT_TRUE(token_server_.requests().empty());
  EXPECT_TRUE(lock_exists()) << "someone else's lock is left alone";
}

TEST_F(cli_coordination, callers_with_a_working_token_do_not_wait_for_a_locked_refresh) {
  token_manager m(dead_endpoints(), test_options());
  write_qwen("q-still-valid", "q-refresh-1", 5min);  // within the 15 min margin: refresh due
  token_server_.push(qwen_answer("q-new", "q-refresh-2"));
  hold_lock();

  auto refreshing = get_async(m, qwen());  // starts the refresh; waits for the lock
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(refreshing.wait_for(0s), std::future_status::timeout);
  const auto started = steady::now();
  const token_result meanwhile = get_token(m, qwen());
  ASSERT_TRUE(meanwhile.tok) << meanwhile.error;
  EXPECT_EQ(meanwhile.tok->access_token, "q-still-valid");
  EXPECT_LT(steady::now() - started, 1s) << "a request is not held up by the lock";

  fs::remove(lock_);
  const token_result r = refreshing.get();
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-new");
  EXPECT_EQ(token_server_.requests().size(), 1u);
}

TEST_F(cli_coordination, callers_wait_for_a_refresh_that_follows_a_401) {
  token_manager m(dead_endpoints(), test_options());
  write_qwen("q-refused", "q-refresh-1", 1h);  // valid by its date, but the API refused it
  token_server_.push(
      json_answer(200, json{{"access_token", "q-after-401"}, {"expires_in", 3600}}.dump(), 300ms));
  auto forced = get_async(m, qwen(), /*force=*/true);
  std::this_thread::sleep_for(100ms);
  const token_result other = get_token(m, qwen());  // another request, meanwhile
  ASSERT_TRUE(other.tok) << other.error;
  EXPECT_EQ(other.tok->access_token, "q-after-401") << "not the token just refused";
  EXPECT_EQ(forced.get().tok->access_token, "q-after-401");
  EXPECT_EQ(token_server_.requests().size(), 1u);
}

TEST_F(cli_coordination, other_providers_take_no_lock) {
  token_manager m(dead_endpoints(), test_options());
  write_file(creds_, json{{"access_token", "g-old"},
                          {"refresh_token", "1//g"},
                          {"expiry_date", ms_from_now(-1min)}}
                         .dump());
  hold_lock();  // a Qwen lock name in the same folder means nothing to Gemini
  token_server_.push(
      json_answer(200, json{{"access_token", "g-new"}, {"expires_in", 3599}}.dump()));
  const auto started = steady::now();
  const token_result r =
      get_token(m, make_instance("gemini-cli-oauth",
                                 {{"GEMINI_OAUTH_CREDS_FILE_PATH", creds_},
                                  {"GEMINI_TOKEN_URL", token_server_.base_url() + "/token"}}));
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "g-new");
  EXPECT_LT(steady::now() - started, 2s);
  EXPECT_TRUE(lock_exists());
}

TEST_F(cli_coordination, a_401_after_the_cli_refreshed_adopts_the_cli_token) {
  // Kiro rotates refresh tokens: after the IDE refreshed, ours is stale. A 401 on the token we
  // had must not refresh: the file already holds a working one.
  token_manager m(dead_endpoints(), test_options());
  const std::string path = dir_.file("kiro-auth-token.json");
  const auto kiro_file = [&](const std::string& access, const std::string& refresh) {
    write_file(path, json{{"accessToken", access},
                          {"refreshToken", refresh},
                          {"expiresAt", pool::to_iso8601(std::chrono::system_clock::now() + 1h)},
                          {"authMethod", "social"},
                          {"region", "us-east-1"},
                          {"profileArn", "arn:p"}}
                         .dump());
  };
  kiro_file("aoa-1", "aor-1");
  const auto inst =
      make_instance("claude-kiro-oauth", {{"KIRO_OAUTH_CREDS_FILE_PATH", path},
                                          {"KIRO_REFRESH_URL", token_server_.base_url() + "/r"}});
  const token_result first = get_token(m, inst);
  ASSERT_TRUE(first.tok) << first.error;
  EXPECT_EQ(first.tok->access_token, "aoa-1");

  kiro_file("aoa-2-from-the-ide", "aor-2");  // the Kiro IDE refreshed
  const token_result after_401 = get_token(m, inst, /*force=*/true);
  ASSERT_TRUE(after_401.tok) << after_401.error;
  EXPECT_EQ(after_401.tok->access_token, "aoa-2-from-the-ide");
  EXPECT_EQ(after_401.tok->facts.at("machine_id").size(), 64u);
  EXPECT_TRUE(token_server_.requests().empty());
}

TEST_F(cli_coordination, a_cli_token_inside_the_margin_is_refreshed_with_the_cli_refresh_token) {
  token_manager m(dead_endpoints(), test_options());
  write_qwen("q-1", "q-refresh-1", 1h);
  ASSERT_TRUE(get_token(m, qwen()).tok);
  // Qwen Code wrote a token that expires soon, with a rotated refresh token.
  write_qwen("q-2", "q-refresh-2", 2min);
  token_server_.push(qwen_answer("q-3", "q-refresh-3"));
  const token_result r = get_token(m, qwen());
  ASSERT_TRUE(r.tok) << r.error;
  EXPECT_EQ(r.tok->access_token, "q-3");
  ASSERT_EQ(token_server_.requests().size(), 1u);
  EXPECT_EQ(util::query_param(token_server_.requests()[0].body, "refresh_token"), "q-refresh-2");
}

}  // namespace
}  // namespace aiclient::auth::test
