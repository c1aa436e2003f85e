#pragma once
// OAuth credentials of the gemini-cli-oauth, openai-qwen-oauth and claude-kiro-oauth providers:
// the credential files their own tools write, token refresh, and write-back.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "aiclient/pool/pool_file.hpp"

namespace aiclient::auth {

/// Upstream URLs and client ids of the three providers. Defaults are the real services;
/// every one can be overridden (config.json, or per instance with the same key as an
/// instance field, e.g. "QWEN_TOKEN_URL") so tests can point them at loopback fakes.
struct endpoints {
  std::string gemini_token_url = "https://oauth2.googleapis.com/token";  ///< GEMINI_TOKEN_URL
  std::string gemini_client_id =
      "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";  ///< GEMINI_OAUTH_CLIENT_ID
  std::string gemini_client_secret;  ///< GEMINI_OAUTH_CLIENT_SECRET (gemini-cli's public
                                     ///< installed-app secret)
  std::string gemini_code_assist_base =
      "https://cloudcode-pa.googleapis.com/v1internal";  ///< GEMINI_CODE_ASSIST_BASE
  std::string qwen_token_url = "https://chat.qwen.ai/api/v1/oauth2/token";  ///< QWEN_TOKEN_URL
  std::string qwen_client_id = "f0304373b74a44d2b584a3fb70ca9e56";  ///< QWEN_OAUTH_CLIENT_ID
  /// {region} is replaced by the credential's region.
  std::string kiro_social_refresh_url =
      "https://prod.{region}.auth.desktop.kiro.dev/refreshToken";  ///< KIRO_REFRESH_URL
  std::string kiro_idc_token_url =
      "https://oidc.{region}.amazonaws.com/token";  ///< KIRO_IDC_TOKEN_URL
};

/// Tunables.
struct manager_options {
  std::chrono::minutes near{15};  ///< CRON_NEAR_MINUTES: refresh when expiring within this
  bool refresh_timer = true;      ///< CRON_REFRESH_TOKEN: refresh ahead of time on a timer
  std::chrono::seconds timer_period{60};
  std::chrono::milliseconds http_timeout{15000};  ///< token endpoint and discovery calls
  std::string ca_file;                            ///< UPSTREAM_CA_FILE
  std::string proxy_url;                          ///< PROXY_URL
  /// gemini onboardUser: interval between polls of its long-running operation.
  std::chrono::milliseconds onboard_poll_interval{2000};
  /// gemini onboardUser: polls before giving up.
  int onboard_poll_attempts = 30;
  /// openai-qwen-oauth: the longest wait for the lock file <creds dir>/oauth_creds.lock that
  /// Qwen Code holds around its own refresh; a lock file older than this is stale (removed).
  std::chrono::milliseconds lock_timeout{10000};
  /// openai-qwen-oauth: interval between attempts to take that lock.
  std::chrono::milliseconds lock_poll_interval{100};
};

/// A usable access token and what the provider's calls need besides it.
struct token {
  std::string access_token;
  std::chrono::system_clock::time_point expires_at;
  /// Provider facts: qwen "base_url" (from resource_url, normalised, with /v1); kiro
  /// "profile_arn", "region", "auth_method", "machine_id"; gemini "project" (discovered or
  /// PROJECT_ID) once resolve_gemini_project() ran.
  std::map<std::string, std::string> facts;
};

/// Outcome of get().
struct token_result {
  std::optional<token> tok;
  std::string error;       ///< one line, no secrets (file path and reason, or refresh failure)
  bool permanent = false;  ///< the refresh token is dead (invalid_grant): re-login needed
};

/// Outcome of count_code_assist_tokens().
struct token_count {
  std::optional<std::int64_t> total;  ///< Code Assist's totalTokens
  std::string error;                  ///< why there is none (one line, no secrets)
};

/// claude-kiro-oauth usage figures (getUsageLimits), summed over the first usage breakdown:
/// the base allowance plus an active free trial and active bonuses.
struct kiro_usage {
  std::string error;           ///< "" when the figures below are valid
  bool permanent = false;      ///< the error is a dead login (re-login needed)
  bool has_breakdown = false;  ///< the answer had a usage breakdown (else the figures are 0)
  double current = 0;          ///< used this period
  double limit = 0;            ///< allowed this period
  /// When the period resets (nextDateReset: epoch seconds, maybe fractional, or ISO-8601).
  std::optional<std::chrono::system_clock::time_point> next_reset;
  std::string subscription;  ///< subscriptionInfo.subscriptionTitle ("KIRO FREE", ...)
  /// True when the allowance is used up (current >= limit).
  bool exhausted() const noexcept { return has_breakdown && current >= limit; }
};

/// claude-kiro-oauth model list (ListAvailableModels).
struct kiro_models {
  std::vector<std::string> ids;  ///< models[].modelId
  std::string error;             ///< "" on success
  bool permanent = false;        ///< the error is a dead login
};

/// Owns a background thread with its own io_context and upstream client; all refreshes and
/// discovery calls run there, one at a time per credentials file (single-flight: concurrent
/// callers wait for the refresh in flight). Callers on any executor co_await the results.
/// The manager must outlive every get() / resolve_gemini_project() call made on it.
class token_manager {
 public:
  token_manager(endpoints ep, manager_options opts);
  ~token_manager();  ///< stops the timer and the thread
  token_manager(const token_manager&) = delete;
  token_manager& operator=(const token_manager&) = delete;

  /// A valid token for `inst` (type gemini-cli-oauth, openai-qwen-oauth or claude-kiro-oauth;
  /// the file named by its *_OAUTH_CREDS_FILE_PATH field, read in the provider tool's own
  /// format, cached and re-read when the file changes on disk). Refreshes first when the token
  /// expires within `near`, or when `force` (after a 401 from the API). A refreshed token is
  /// written back atomically (temp file, fsync, rename) with mode 0600, keeping every other
  /// field of the file. Completes on the caller's executor.
  boost::asio::awaitable<token_result> get(std::shared_ptr<const pool::instance> inst,
                                           bool force = false);

  /// gemini-cli-oauth: the Code Assist project of `inst`: its PROJECT_ID, else discovered with
  /// loadCodeAssist (then onboardUser and its long-running operation when not onboarded),
  /// cached per credentials file. Returns {project, error}; the error quotes the upstream's
  /// ineligible-tier reasons verbatim.
  boost::asio::awaitable<std::pair<std::string, std::string>> resolve_gemini_project(
      std::shared_ptr<const pool::instance> inst);

  /// gemini-cli-oauth: Code Assist countTokens, POST {base}:countTokens with
  /// {"request":{"model":"models/<model>","contents":<contents_json>}} (`contents_json`: a
  /// Gemini contents array). A 401 refreshes the token (forced) and the call is made again
  /// once. Completes on the caller's executor.
  boost::asio::awaitable<token_count> count_code_assist_tokens(
      std::shared_ptr<const pool::instance> inst, std::string model, std::string contents_json);

  /// claude-kiro-oauth: GET {base}/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST
  /// (&profileArn= for social logins). `base_url`: the instance's API base ({region} is
  /// replaced; "" for https://q.{region}.amazonaws.com). A 401, or the 403 "bearer token is
  /// invalid", refreshes the token (forced) and the call is made again once.
  boost::asio::awaitable<kiro_usage> kiro_usage_limits(std::shared_ptr<const pool::instance> inst,
                                                       std::string base_url);

  /// claude-kiro-oauth: GET {base}/ListAvailableModels?origin=AI_EDITOR (&profileArn= for
  /// social logins), as kiro_usage_limits().
  boost::asio::awaitable<kiro_models> kiro_list_models(std::shared_ptr<const pool::instance> inst,
                                                       std::string base_url);

  /// Starts refreshing ahead of time every `timer_period` for the instances `list` returns
  /// (when refresh_timer is on). Failures are reported through `on_failure(inst, error,
  /// permanent)` (the pool marks the instance unhealthy).
  void start_timer(std::function<std::vector<std::shared_ptr<const pool::instance>>()> list,
                   std::function<void(const pool::instance&, const std::string&, bool)> on_failure);

  /// The endpoints in use (after config overrides).
  const endpoints& urls() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// The credentials file field of a provider type ("GEMINI_OAUTH_CREDS_FILE_PATH", ...), or ""
/// for types without one.
std::string creds_field(std::string_view provider_type);

}  // namespace aiclient::auth
