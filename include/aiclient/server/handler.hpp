#pragma once
#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_file.hpp"
#include "aiclient/server/exchange.hpp"
#include "aiclient/server/prompt_log.hpp"
#include "aiclient/upstream/client.hpp"

namespace aiclient::server {

/// What a handler works with: the immutable configuration and this worker's upstream client.
struct handler_env {
  const config::settings& settings;
  const pool::pools& pools;
  upstream::client& upstream;
  prompt_log* prompts = nullptr;  ///< PROMPT_LOG_MODE sink (null: none)
};

/// Facts for the access log line of one request.
struct access_record {
  std::string route;     ///< endpoint name
  std::string provider;  ///< provider type ("" when not reached)
  std::string instance;  ///< instance uuid ("" when none)
  int status = 0;        ///< status sent to the client
  std::chrono::microseconds upstream_latency{-1};  ///< send -> upstream header, -1 when none
  std::string error;     ///< short reason of a failure (no secrets)
};

/// Serves one request: routing, authentication, provider choice, mock answers and
/// same-protocol pass-through (streamed or not). Never throws for bad input: every failure
/// becomes a response (or an in-band stream error) in the client's protocol.
boost::asio::awaitable<void> handle_request(handler_env& env, incoming_request& req,
                                            client_channel& ch, access_record& rec);

/// Sends an error in `proto`'s shape (helper also used by the session for 400/413/...).
boost::asio::awaitable<bool> send_error(client_channel& ch, protocol::wire_protocol proto,
                                        int status, std::string_view message,
                                        std::vector<header> extra = {});

}  // namespace aiclient::server
