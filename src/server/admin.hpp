#pragma once
// Private to src/server: /provider_health and the /admin API.
#include <string>

#include <boost/asio/awaitable.hpp>

#include "aiclient/pool/pool_manager.hpp"
#include "aiclient/server/handler.hpp"

namespace aiclient::server {

/// The pool state as JSON: per provider type its instances (uuid, customName, health,
/// counters, cooldown, last error, last health check) and totals; `with_config` adds each
/// instance's masked credentials and URL (admin view). Never a secret in clear.
std::string provider_health_json(const pool::pool_manager& pools, bool with_config);

/// Serves /admin/... (ADMIN_API_KEY):
///   GET  /admin/pools                              the pools, masked
///   POST /admin/pools/{type}/{uuid}/enable|disable|reset|check
///   POST /admin/reload                             config.json and provider_pools.json
boost::asio::awaitable<void> handle_admin(handler_env& env, incoming_request& req,
                                          client_channel& ch, access_record& rec);

}  // namespace aiclient::server
