#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "aiclient/config/settings.hpp"

namespace aiclient::server {

/// Logs client request bodies (prompts) when PROMPT_LOG_MODE asks for it: to the console
/// log, or appended to "<PROMPT_LOG_BASE_NAME>-YYYYMMDD.log" by a background thread (file I/O
/// never runs on the I/O threads). Headers, and so keys, are never logged.
class prompt_log {
 public:
  /// Most bytes waiting for the file writer; beyond it records are dropped (and counted).
  static constexpr std::size_t max_pending_bytes = 64 * 1024 * 1024;

  prompt_log(config::log_prompts_mode mode, std::string base_name);
  ~prompt_log();
  prompt_log(const prompt_log&) = delete;
  prompt_log& operator=(const prompt_log&) = delete;

  /// True when records are kept (mode is not none).
  bool enabled() const noexcept { return mode_ != config::log_prompts_mode::none; }
  /// Records one request body.
  void record(std::string_view request_id, std::string_view provider, std::string_view path,
              std::string_view body);
  /// Records dropped because the writer fell behind.
  std::size_t dropped() const;

 private:
  void run();

  config::log_prompts_mode mode_;
  std::string base_name_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::size_t pending_bytes_ = 0;
  std::size_t dropped_ = 0;
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace aiclient::server
