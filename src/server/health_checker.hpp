#pragma once
// Private to src/server: the timer-driven health checker of the provider pools.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "aiclient/auth/token_manager.hpp"
#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_manager.hpp"
#include "aiclient/upstream/client.hpp"

namespace aiclient::server {

/// Probes one instance with `client` (which must belong to the calling executor) and reports
/// the result to `pools`; {ok, message}.
/// OAuth types (with `tokens`) are checked with a forced token refresh, their cheapest real
/// call; claude-kiro-oauth instead with its usage query (getUsageLimits; the instance field
/// KIRO_HEALTH_CHECK picks "usage", the default, "models" for ListAvailableModels, or "token"
/// for the forced refresh) at KIRO_BASE_URL (the instance's, else `kiro_base_url`, else the
/// default). A used-up Kiro allowance cools the instance down until its nextDateReset.
boost::asio::awaitable<std::pair<bool, std::string>> check_instance(
    upstream::client& client, pool::pool_manager& pools, std::string type, std::string uuid,
    std::chrono::milliseconds timeout, auth::token_manager* tokens = nullptr,
    std::string kiro_base_url = {});

/// Probes instances cheaply and reports the results to the pool manager: `checkModelName`
/// with a one-token completion when set, else the provider's model list. Every
/// HEALTH_CHECK_INTERVAL_MS (+-10% jitter) it probes the unhealthy instances (and the healthy
/// ones with HEALTH_CHECK_HEALTHY_INSTANCES), at most HEALTH_CHECK_CONCURRENCY at once, each
/// within HEALTH_CHECK_TIMEOUT_MS. Runs on one worker's executor with that worker's client.
class health_checker {
 public:
  /// `settings` is read at each round (it may be swapped by a reload).
  health_checker(boost::asio::any_io_executor ex, upstream::client& client,
                 pool::pool_manager& pools,
                 std::function<std::shared_ptr<const config::settings>()> settings,
                 auth::token_manager* tokens = nullptr);
  ~health_checker();

  /// Starts the periodic rounds (no-op when HEALTH_CHECK_ENABLED is false at start).
  void start();
  /// Stops the rounds; call on the executor. Probes in flight finish or are aborted.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace aiclient::server
