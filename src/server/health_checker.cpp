#include "health_checker.hpp"

#include <cstdio>
#include <random>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "aiclient/protocol/errors.hpp"
#include "aiclient/protocol/kiro.hpp"
#include "aiclient/provider/provider.hpp"
#include "aiclient/util/strings.hpp"

namespace aiclient::server {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;

namespace {

// One probe of one instance: {ok, message}.
awaitable<std::pair<bool, std::string>> probe(upstream::client& client,
                                              std::shared_ptr<const pool::instance> inst,
                                              milliseconds timeout) {
  if (inst->type == "mock") co_return std::pair{true, std::string("ok")};
  if (!provider::is_supported(inst->type))
    co_return std::pair{false, "health checks of " + inst->type + " are not supported yet"};
  provider::passthrough_input in;
  if (inst->check_model.empty()) {
    in.op = provider::operation::list_models;
  } else {
    in.op = provider::operation::generate;
    std::string model;
    protocol::append_json_string(model, inst->check_model);
    in.body = R"({"model":)" + model +
              R"(,"max_tokens":1,"messages":[{"role":"user","content":"ping"}]})";
  }
  std::string err;
  upstream::request req;
  if (!provider::build_passthrough(*inst, std::move(in), req, &err))
    co_return std::pair{false, err};

  // The timeout cancels the exchange through its token.
  auto token = std::make_shared<upstream::cancel_token>();
  auto deadline = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, timeout);
  deadline->async_wait([token](const boost::system::error_code& ec) {
    if (!ec) token->cancel();
  });
  auto result = co_await client.send(std::move(req), token.get());
  std::pair<bool, std::string> out;
  if (result.error != upstream::failure::none) {
    out = {false, token->cancelled() ? std::string("health check timed out")
                                     : std::string(upstream::to_string(result.error))};
  } else {
    auto [f, body] = co_await result.resp->read_all(1024 * 1024);
    const int status = result.resp->status();
    if (status >= 200 && status < 300 && f == upstream::failure::none)
      out = {true, "ok"};
    else if (token->cancelled())
      out = {false, "health check timed out"};
    else
      out = {false, "HTTP " + std::to_string(status)};
  }
  deadline->cancel();
  token->clear_callback();
  co_return out;
}

// "12.5" / "50": usage figures without needless decimals.
std::string figure(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A Kiro instance's health: the token check, then its usage query (or model list). A used-up
// allowance is a cooldown until the reset, not a failure.
awaitable<std::pair<bool, std::string>> check_kiro(pool::pool_manager& pools,
                                                   std::shared_ptr<const pool::instance> inst,
                                                   auth::token_manager& tokens,
                                                   std::string kiro_base_url) {
  std::string base = inst->field("KIRO_BASE_URL");
  if (base.empty()) base = std::move(kiro_base_url);
  const std::string mode = util::to_lower(util::trim(inst->field("KIRO_HEALTH_CHECK")));
  if (mode == "models") {
    const auth::kiro_models m = co_await tokens.kiro_list_models(inst, base);
    if (!m.error.empty()) co_return std::pair{false, m.error};
    co_return std::pair{true, "ok: " + std::to_string(m.ids.size()) + " models available"};
  }
  if (!mode.empty() && mode != "usage")
    co_return std::pair{false, "KIRO_HEALTH_CHECK is '" + mode + "': use usage, models or token"};
  const auth::kiro_usage u = co_await tokens.kiro_usage_limits(inst, base);
  if (!u.error.empty()) co_return std::pair{false, u.error};
  std::string message = "ok";
  if (u.has_breakdown) message += ": usage " + figure(u.current) + " of " + figure(u.limit);
  if (!u.subscription.empty()) message += " (" + u.subscription + ")";
  if (!u.exhausted()) co_return std::pair{true, std::move(message)};
  // The allowance is used up: park the instance until the reset (the first day of next month,
  // UTC, when Kiro does not say).
  const auto now = std::chrono::system_clock::now();
  auto until = u.next_reset;
  if (!until || *until <= now) until = protocol::kiro::next_month_start_utc(now);
  pools.quota_exhausted_until(inst->type, inst->uuid, *until);
  message += "; limit reached, cooling down until " + pool::to_iso8601(*until);
  co_return std::pair{true, std::move(message)};
}

}  // namespace

awaitable<std::pair<bool, std::string>> check_instance(upstream::client& client,
                                                       pool::pool_manager& pools, std::string type,
                                                       std::string uuid, milliseconds timeout,
                                                       auth::token_manager* tokens,
                                                       std::string kiro_base_url) {
  auto view = pools.find(type, uuid);
  if (!view) co_return std::pair{false, std::string("unknown instance")};
  std::pair<bool, std::string> result;
  if (!auth::creds_field(type).empty()) {
    if (!tokens) co_return std::pair{false, std::string("no token manager")};
    const std::string kiro_mode =
        util::to_lower(util::trim(view->config->field("KIRO_HEALTH_CHECK")));
    if (type == "claude-kiro-oauth" && kiro_mode != "token") {
      result = co_await check_kiro(pools, view->config, *tokens, std::move(kiro_base_url));
    } else {
      auto tr = co_await tokens->get(view->config, /*force=*/true);
      result = tr.tok ? std::pair{true, std::string("ok")} : std::pair{false, tr.error};
    }
  } else {
    result = co_await probe(client, view->config, timeout);
  }
  pools.report_health_check(type, uuid, result.first, result.second);
  if (!result.first) spdlog::info("health check {} {}: {}", type, uuid, result.second);
  co_return result;
}

struct health_checker::impl : std::enable_shared_from_this<impl> {
  asio::any_io_executor ex;
  upstream::client& client;
  pool::pool_manager& pools;
  std::function<std::shared_ptr<const config::settings>()> settings;
  auth::token_manager* tokens = nullptr;
  asio::steady_timer timer;
  bool stopped = false;

  impl(asio::any_io_executor e, upstream::client& c, pool::pool_manager& p,
       std::function<std::shared_ptr<const config::settings>()> s)
      : ex(e), client(c), pools(p), settings(std::move(s)), timer(e) {}

  awaitable<void> round() {
    auto cfg = settings();
    std::vector<std::pair<std::string, std::string>> todo;
    for (const auto& [type, list] : pools.snapshot()) {
      for (const auto& v : list) {
        if (v.state.is_disabled) continue;
        if (!v.state.is_healthy || cfg->health_check_healthy)
          todo.emplace_back(type, v.config->uuid);
      }
    }
    if (todo.empty()) co_return;
    // A fixed number of probing coroutines share the list; the round ends when all are done.
    auto next = std::make_shared<std::size_t>(0);
    auto running = std::make_shared<int>(0);
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    const int workers = std::min<int>(cfg->health_check_concurrency, static_cast<int>(todo.size()));
    auto self = shared_from_this();
    for (int i = 0; i < workers; ++i) {
      ++*running;
      asio::co_spawn(
          ex,
          [self, &todo, next, running, &done]() -> awaitable<void> {
            while (*next < todo.size() && !self->stopped) {
              const auto [type, uuid] = todo[(*next)++];
              const auto cfg = self->settings();
              co_await check_instance(self->client, self->pools, type, uuid,
                                      milliseconds(cfg->health_check_timeout_ms), self->tokens,
                                      cfg->kiro_base_url);
            }
            if (--*running == 0) done.cancel();
          },
          asio::detached);
    }
    // Workers only finish on this executor, so no cancel can slip between test and wait.
    while (*running > 0) co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  awaitable<void> loop() {
    auto self = shared_from_this();
    std::mt19937 rng{std::random_device{}()};
    while (!stopped) {
      const auto interval = settings()->health_check_interval_ms;
      std::uniform_int_distribution<int> jitter(-interval / 10, interval / 10);
      timer.expires_after(milliseconds(interval + jitter(rng)));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopped) break;
      if (!settings()->health_check_enabled) continue;
      co_await round();
    }
  }
};

health_checker::health_checker(asio::any_io_executor ex, upstream::client& client,
                               pool::pool_manager& pools,
                               std::function<std::shared_ptr<const config::settings>()> settings,
                               auth::token_manager* tokens)
    : impl_(std::make_shared<impl>(ex, client, pools, std::move(settings))) {
  impl_->tokens = tokens;
}

health_checker::~health_checker() {
  impl_->stopped = true;
}

void health_checker::start() {
  if (!impl_->settings()->health_check_enabled) return;
  asio::co_spawn(impl_->ex, impl_->loop(), asio::detached);
}

void health_checker::stop() {
  impl_->stopped = true;
  impl_->timer.cancel();
}

}  // namespace aiclient::server
