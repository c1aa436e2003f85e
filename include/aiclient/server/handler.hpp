#pragma once
#include <chrono>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "aiclient/auth/token_manager.hpp"
#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_manager.hpp"
#include "aiclient/server/exchange.hpp"
#include "aiclient/server/prompt_log.hpp"
#include "aiclient/upstream/client.hpp"

namespace aiclient::server {

/// What the admin API asks of the server.
class admin_control {
 public:
  virtual ~admin_control() = default;
  /// Reloads config.json and provider_pools.json; "" on success, else why nothing changed.
  virtual std::string reload() = 0;
};

/// What a handler works with: the configuration snapshot of this request, the shared pool
/// manager and this worker's upstream client.
struct handler_env {
  const config::settings& settings;
  pool::pool_manager& pools;
  upstream::client& upstream;
  prompt_log* prompts = nullptr;          ///< PROMPT_LOG_MODE sink (null: none)
  admin_control* admin = nullptr;         ///< null: admin API unavailable
  auth::token_manager* tokens = nullptr;  ///< OAuth credentials (null: OAuth types unusable)
};

/// Facts for the access log line of one request.
struct access_record {
  std::string_view route;  ///< endpoint name (a static string)
  std::string provider;    ///< provider type ("" when not reached)
  std::string instance;    ///< uuid of the instance that answered last ("" when none)
  int status = 0;          ///< status sent to the client
  int attempts = 0;        ///< upstream attempts made
  std::chrono::microseconds upstream_latency{-1};  ///< send -> upstream header (last attempt)
  std::string error;                               ///< short reason of a failure (no secrets)
};

/// Serves one request: routing, authentication, provider choice, instance selection with
/// failover and retries, mock answers, same-protocol pass-through (streamed or not), the
/// health and admin endpoints. Never throws for bad input: every failure becomes a response
/// (or an in-band stream error) in the client's protocol.
boost::asio::awaitable<void> handle_request(handler_env& env, incoming_request& req,
                                            client_channel& ch, access_record& rec);

/// Sends an error in `proto`'s shape (also used by the session for 400/413/...).
boost::asio::awaitable<bool> send_error(client_channel& ch, protocol::wire_protocol proto,
                                        int status, std::string message,
                                        std::vector<header> extra = {});

/// Parses a Retry-After value (delta seconds or an HTTP date) relative to `now`.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace aiclient::server
