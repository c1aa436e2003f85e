#include "admin.hpp"

#include "health_checker.hpp"

#include <nlohmann/json.hpp>

#include "aiclient/protocol/errors.hpp"
#include "aiclient/server/router.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using json = nlohmann::ordered_json;

json opt_time(const std::optional<pool::time_point>& t) {
  return t ? json(pool::to_iso8601(*t)) : json(nullptr);
}

std::vector<header> json_headers() {
  std::vector<header> h;
  h.emplace_back("content-type", "application/json");
  return h;
}

// Splits "/admin/pools/openai-custom/uuid/disable" into its segments after "/admin".
std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  path.remove_prefix(std::min<std::size_t>(path.size(), 6));  // "/admin"
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    out.push_back(util::percent_decode(path.substr(0, slash)));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

}  // namespace

std::string provider_health_json(const pool::pool_manager& pools, bool with_config) {
  const auto now = std::chrono::system_clock::now();
  json providers = json::object();
  std::size_t all_total = 0, all_healthy = 0;
  for (const auto& [type, list] : pools.snapshot()) {
    json instances = json::array();
    std::size_t healthy = 0, unhealthy = 0, disabled = 0, cooling = 0;
    for (const auto& v : list) {
      const auto& s = v.state;
      const bool cooling_now = s.cooldown_until && *s.cooldown_until > now;
      if (s.is_disabled)
        ++disabled;
      else if (!s.is_healthy)
        ++unhealthy;
      else if (cooling_now)
        ++cooling;
      else
        ++healthy;
      json i = json::object();
      i["uuid"] = v.config->uuid;
      i["customName"] = v.config->custom_name.empty() ? json(nullptr) : json(v.config->custom_name);
      i["isHealthy"] = s.is_healthy;
      i["isDisabled"] = s.is_disabled;
      i["usageCount"] = s.usage_count;
      i["errorCount"] = s.error_count;
      i["lastUsed"] = opt_time(s.last_used);
      i["lastErrorTime"] = opt_time(s.last_error_time);
      i["lastErrorMessage"] =
          s.last_error_message.empty() ? json(nullptr) : json(s.last_error_message);
      i["cooldownUntil"] = cooling_now ? opt_time(s.cooldown_until) : json(nullptr);
      i["lastHealthCheckTime"] = opt_time(s.last_health_check);
      i["lastHealthCheckResult"] =
          s.last_health_check_result.empty() ? json(nullptr) : json(s.last_health_check_result);
      if (with_config) {
        json c = json::object();
        if (!v.config->base_url.empty()) c["baseUrl"] = v.config->base_url;
        if (!v.config->api_key.empty()) c["apiKey"] = util::mask_secret(v.config->api_key);
        if (!v.config->check_model.empty()) c["checkModelName"] = v.config->check_model;
        i["config"] = std::move(c);
      }
      instances.push_back(std::move(i));
    }
    all_total += list.size();
    all_healthy += healthy;
    json p = json::object();
    p["total"] = list.size();
    p["healthy"] = healthy;
    p["unhealthy"] = unhealthy;
    p["disabled"] = disabled;
    p["coolingDown"] = cooling;
    p["instances"] = std::move(instances);
    providers[type] = std::move(p);
  }
  json out = json::object();
  out["timestamp"] = pool::to_iso8601(now);
  out["summary"] = json{{"total", all_total}, {"available", all_healthy}};
  out["providers"] = std::move(providers);
  return out.dump();
}

awaitable<void> handle_admin(handler_env& env, incoming_request& req, client_channel& ch,
                             access_record& rec) {
  const auto proto = protocol::wire_protocol::openai;
  if (env.settings.admin_api_key.empty()) {
    rec.status = 404;
    co_await send_error(ch, proto, 404, "the admin API is disabled (set ADMIN_API_KEY)");
    co_return;
  }
  if (!client_authorized(req.headers, {}, env.settings.admin_api_key)) {
    rec.status = 401;
    co_await send_error(ch, proto, 401, "invalid or missing admin key");
    co_return;
  }
  const auto seg = segments(req.path);
  const bool get = req.method == "GET", post = req.method == "POST";

  if (seg.size() == 1 && seg[0] == "pools") {
    if (!get) {
      rec.status = 405;
      co_await send_error(ch, proto, 405, "use GET");
      co_return;
    }
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), provider_health_json(env.pools, true));
    co_return;
  }
  if (seg.size() == 1 && seg[0] == "reload") {
    if (!post || !env.admin) {
      rec.status = post ? 503 : 405;
      std::string msg = post ? "reload is not available" : "use POST";
      co_await send_error(ch, proto, rec.status, std::move(msg));
      co_return;
    }
    const std::string err = env.admin->reload();
    if (!err.empty()) {
      rec.status = 400;
      co_await send_error(ch, proto, 400, "reload rejected, the old configuration stays: " + err);
      co_return;
    }
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), R"({"reloaded":true})");
    co_return;
  }
  if (seg.size() == 4 && seg[0] == "pools") {
    const std::string& type = seg[1];
    const std::string& uuid = seg[2];
    const std::string& action = seg[3];
    if (!post) {
      rec.status = 405;
      co_await send_error(ch, proto, 405, "use POST");
      co_return;
    }
    if (!env.pools.find(type, uuid)) {
      rec.status = 404;
      co_await send_error(ch, proto, 404, "no instance " + uuid + " in " + type);
      co_return;
    }
    json result = json::object();
    result["type"] = type;
    result["uuid"] = uuid;
    if (action == "enable" || action == "disable") {
      env.pools.set_disabled(type, uuid, action == "disable");
      result["isDisabled"] = action == "disable";
    } else if (action == "reset") {
      env.pools.reset_health(type, uuid);
      result["isHealthy"] = true;
    } else if (action == "check") {
      auto [ok, message] =
          co_await check_instance(env.upstream, env.pools, type, uuid,
                                  std::chrono::milliseconds(env.settings.health_check_timeout_ms),
                                  env.tokens, env.settings.kiro_base_url);
      result["healthy"] = ok;
      result["message"] = message;
    } else {
      rec.status = 404;
      co_await send_error(ch, proto, 404, "unknown admin action " + action);
      co_return;
    }
    rec.status = 200;
    co_await ch.send_response(200, json_headers(), result.dump());
    co_return;
  }
  rec.status = 404;
  co_await send_error(ch, proto, 404,
                      "no admin route for " + req.method + " " + std::string(req.path));
}

}  // namespace aiclient::server
