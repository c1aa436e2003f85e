#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "aiclient/server/prompt_log.hpp"

namespace aiclient::server {
namespace {

TEST(prompt_log, file_mode_appends_bodies_from_a_background_thread) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("aiclient-prompt-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string base = (dir / "prompts").string();
  {
    prompt_log log(config::log_prompts_mode::file, base);
    EXPECT_TRUE(log.enabled());
    log.record("req1", "openai-custom", "/v1/chat/completions", R"({"messages":["first"]})");
    log.record("req2", "mock", "/v1/messages", R"({"messages":["second"]})");
  }  // the destructor flushes
  std::string content;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ASSERT_EQ(e.path().filename().string().rfind("prompts-", 0), 0u);
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    content += ss.str();
  }
  EXPECT_NE(content.find("[req1] openai-custom /v1/chat/completions\n{\"messages\":[\"first\"]}"),
            std::string::npos)
      << content;
  EXPECT_LT(content.find("req1"), content.find("req2"));
  std::filesystem::remove_all(dir);
}

TEST(prompt_log, console_mode_logs_the_body_with_its_request_at_info) {
  std::ostringstream out;
  const auto previous = spdlog::default_logger();
  const auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%l %v");
  auto logger = std::make_shared<spdlog::logger>("prompt_log_test", sink);
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
  {
    prompt_log log(config::log_prompts_mode::console, "/nonexistent/dir/prompts");
    EXPECT_TRUE(log.enabled());
    log.record("req7", "claude-custom", "/v1/messages", R"({"messages":["hello"]})");
  }
  spdlog::set_default_logger(previous);
  EXPECT_EQ(out.str(),
            "info [req7] prompt for claude-custom /v1/messages: {\"messages\":[\"hello\"]}\n");
  EXPECT_FALSE(std::filesystem::exists("/nonexistent/dir"));
}

TEST(prompt_log, none_mode_writes_nothing) {
  prompt_log log(config::log_prompts_mode::none, "/nonexistent/dir/prompts");
  EXPECT_FALSE(log.enabled());
  log.record("r", "p", "/x", "body");
  EXPECT_EQ(log.dropped(), 0u);
}

}  // namespace
}  // namespace aiclient::server
