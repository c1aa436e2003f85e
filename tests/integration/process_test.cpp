// The aiclient-server binary as a process: start-up errors, default run, SIGTERM drain.
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "harness.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

TEST(process, version_and_help_exit_zero) {
  child_server v({"--version"});
  EXPECT_EQ(v.wait_exit(10s), 0);
  EXPECT_NE(v.output().find("aiclient-server"), std::string::npos);
  child_server h({"--help"});
  EXPECT_EQ(h.wait_exit(10s), 0);
  EXPECT_NE(h.output().find("--provider-pools-file"), std::string::npos);
}

TEST(process, invalid_configuration_stops_start_up_with_one_clear_line) {
  child_server bad_port({"--port", "70000"});
  EXPECT_NE(bad_port.wait_exit(10s), 0);
  EXPECT_NE(bad_port.output().find("port"), std::string::npos) << bad_port.output();

  child_server bad_provider({"--model-provider", "no-such-provider", "--port", "0"});
  EXPECT_NE(bad_provider.wait_exit(10s), 0);
  EXPECT_NE(bad_provider.output().find("no-such-provider"), std::string::npos);

  child_server missing_pools({"--provider-pools-file", "/nonexistent/pools.json", "--port", "0"});
  EXPECT_NE(missing_pools.wait_exit(10s), 0);
  EXPECT_NE(missing_pools.output().find("/nonexistent/pools.json"), std::string::npos);

  const auto pools =
      write_temp_file("pools.json", R"({"openai-custom":[{"OPENAI_BASE_URL":"https://x/v1"}]})");
  child_server no_key({"--provider-pools-file", pools, "--port", "0"});
  EXPECT_NE(no_key.wait_exit(10s), 0);
  EXPECT_NE(no_key.output().find("OPENAI_API_KEY"), std::string::npos) << no_key.output();

  child_server open_bind({"--host", "0.0.0.0", "--port", "0"});
  EXPECT_NE(open_bind.wait_exit(10s), 0);
  EXPECT_NE(open_bind.output().find("REQUIRED_API_KEY"), std::string::npos) << open_bind.output();
}

TEST(process, default_configuration_serves_the_mock_provider) {
  child_server srv({"--port", "0"});
  const auto port = srv.wait_port();
  ASSERT_NE(port, 0) << srv.output();
  auto r =
      http_request(port, "POST", "/v1/chat/completions", {{"content-type", "application/json"}},
                   R"({"model":"mock-model","messages":[{"role":"user","content":"Hello"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["role"], "assistant");
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(10s), 0) << srv.output();
}

TEST(process, the_daemon_allocates_with_mimalloc_when_built_with_it) {
  child_server srv({"--port", "0"});
  ASSERT_NE(srv.wait_port(), 0) << srv.output();
  std::ifstream maps("/proc/" + std::to_string(srv.pid()) + "/maps");
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find("libmimalloc") != std::string::npos, AICLIENT_WITH_MIMALLOC != 0) << text;
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(10s), 0) << srv.output();
}

TEST(process, the_access_line_at_info_names_the_request_without_secrets) {
  const std::string body = R"({"model":"mock-model","messages":[{"role":"user","content":"Hi"}]})";
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"content-type", "application/json"}, {"authorization", "Bearer sk-client-secret-42"}};
  {  // the line is written only when info is logged (the default level)
    child_server srv({"--port", "0", "--log-level", "info", "--api-key", "sk-client-secret-42"});
    const auto port = srv.wait_port();
    ASSERT_NE(port, 0) << srv.output();
    auto r = http_request(port, "POST", "/v1/chat/completions", headers, body);
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string id = r.headers["x-request-id"];
    ASSERT_FALSE(id.empty());
    srv.signal(SIGTERM);
    EXPECT_EQ(srv.wait_exit(10s), 0);
    const std::string out = srv.output();
    const auto at = out.find("[" + id + "] POST /v1/chat/completions route=");
    ASSERT_NE(at, std::string::npos) << out;
    const std::string line = out.substr(at, out.find('\n', at) - at);
    EXPECT_NE(line.find("provider=mock"), std::string::npos) << line;
    EXPECT_NE(line.find("status=200"), std::string::npos) << line;
    EXPECT_NE(line.find("in=" + std::to_string(body.size())), std::string::npos) << line;
    EXPECT_EQ(out.find("sk-client-secret-42"), std::string::npos) << out;
  }
}

TEST(process, sigterm_drains_in_flight_requests_then_exits_zero) {
  fake_upstream up;
  scripted_response slow;
  slow.headers = {{"content-type", "application/json"}};
  slow.chunks = {R"({"slow":true})"};
  slow.chunked = false;
  slow.delay_before_header = 800ms;
  up.push(slow);
  const auto pools = write_temp_file(
      "pools.json", R"({"openai-custom":[{"OPENAI_API_KEY":"sk-x","OPENAI_BASE_URL":")" +
                        up.base_url() + R"(/v1","uuid":"a"}]})");
  child_server srv(
      {"--port", "0", "--provider-pools-file", pools, "--model-provider", "openai-custom"});
  const auto port = srv.wait_port();
  ASSERT_NE(port, 0) << srv.output();
  auto in_flight = std::async(std::launch::async, [port] {
    return http_request(port, "POST", "/v1/chat/completions", {}, R"({"model":"m","messages":[]})");
  });
  // Wait until the upstream holds the request, then ask the server to stop.
  for (int i = 0; i < 200 && up.connections_accepted() == 0; ++i) std::this_thread::sleep_for(10ms);
  srv.signal(SIGTERM);
  const auto r = in_flight.get();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, R"({"slow":true})");
  EXPECT_EQ(srv.wait_exit(10s), 0) << srv.output();
  // After the drain, nothing listens any more.
  EXPECT_NE(http_request(port, "GET", "/health", {}, "", nullptr, 1s).error, "");
}

}  // namespace
}  // namespace aiclient::testing

namespace aiclient::testing {
namespace {
TEST(process, sighup_reloads_provider_pools_and_uses_an_added_instance) {
  fake_upstream first, added;
  const auto answer = [](const char* who) {
    return [who](const recorded_request&) {
      scripted_response r;
      r.headers = {{"content-type", "application/json"}};
      r.chunks = {std::string(R"({"who":")") + who + "\"}"};
      r.chunked = false;
      return r;
    };
  };
  first.set_handler(answer("first"));
  added.set_handler(answer("added"));
  const std::string one = R"({"openai-custom":[{"OPENAI_API_KEY":"sk-1","OPENAI_BASE_URL":")" +
                          first.base_url() + R"(/v1","uuid":"first"}]})";
  const auto pools = write_temp_file("pools.json", one);
  child_server srv(
      {"--port", "0", "--provider-pools-file", pools, "--model-provider", "openai-custom"});
  const auto port = srv.wait_port();
  ASSERT_NE(port, 0) << srv.output();
  EXPECT_EQ(
      http_request(port, "POST", "/v1/chat/completions", {}, R"({"model":"m","messages":[]})").body,
      R"({"who":"first"})");
  auto doc = json::parse(one);
  doc["openai-custom"].push_back({{"OPENAI_API_KEY", "sk-2"},
                                  {"OPENAI_BASE_URL", added.base_url() + "/v1"},
                                  {"uuid", "added"}});
  std::ofstream(pools) << doc.dump(2);
  srv.signal(SIGHUP);
  bool used = false;
  for (int i = 0; i < 50 && !used; ++i) {
    std::this_thread::sleep_for(50ms);
    used = http_request(port, "POST", "/v1/chat/completions", {}, R"({"model":"m","messages":[]})")
               .body == R"({"who":"added"})";
  }
  EXPECT_TRUE(used) << srv.output();
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(10s), 0);
}
}  // namespace
}  // namespace aiclient::testing
