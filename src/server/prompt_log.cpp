#include "aiclient/server/prompt_log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <spdlog/spdlog.h>

namespace aiclient::server {
namespace {

std::string timestamp(const char* fmt) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

}  // namespace

prompt_log::prompt_log(config::log_prompts_mode mode, std::string base_name)
    : mode_(mode), base_name_(std::move(base_name)) {
  if (mode_ == config::log_prompts_mode::file) writer_ = std::thread([this] { run(); });
}

prompt_log::~prompt_log() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void prompt_log::record(std::string_view request_id, std::string_view provider,
                        std::string_view path, std::string_view body) {
  if (mode_ == config::log_prompts_mode::none) return;
  if (mode_ == config::log_prompts_mode::console) {
    spdlog::info("[{}] prompt for {} {}: {}", request_id, provider, path, body);
    return;
  }
  std::string line = timestamp("%Y-%m-%dT%H:%M:%S") + " [" + std::string(request_id) + "] " +
                     std::string(provider) + " " + std::string(path) + "\n" + std::string(body) +
                     "\n\n";
  {
    std::lock_guard lock(mutex_);
    if (pending_bytes_ + line.size() > max_pending_bytes) {
      ++dropped_;
      return;
    }
    pending_bytes_ += line.size();
    queue_.push_back(std::move(line));
  }
  cv_.notify_one();
}

std::size_t prompt_log::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void prompt_log::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::deque<std::string> batch;
    batch.swap(queue_);
    pending_bytes_ = 0;
    lock.unlock();
    const std::string path = base_name_ + "-" + timestamp("%Y%m%d") + ".log";
    if (std::FILE* f = std::fopen(path.c_str(), "ae")) {
      for (const auto& rec : batch) std::fwrite(rec.data(), 1, rec.size(), f);
      std::fclose(f);
    } else {
      spdlog::warn("cannot append to prompt log {}", path);
    }
    lock.lock();
  }
}

}  // namespace aiclient::server
