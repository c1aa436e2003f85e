#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/protocol/request_body.hpp"

namespace aiclient::config {

/// Where prompts are logged (AIClient-2-API's PROMPT_LOG_MODE / --log-prompts).
enum class log_prompts_mode { none, console, file };

/// "none", "console" or "file" (the PROMPT_LOG_MODE spelling).
std::string_view to_string(log_prompts_mode m) noexcept;

/// The whole runtime configuration. Precedence: CLI > config.json > these defaults.
/// Every field has the config.json key named in its comment.
struct settings {
  // --- server ---
  std::string host = "127.0.0.1";  ///< HOST / --host
  std::uint16_t port = 3000;       ///< SERVER_PORT / --port (0 = pick a free port)
  std::string required_api_key;    ///< REQUIRED_API_KEY / --api-key (empty = no key)
  int threads = 0;                 ///< THREADS / --threads (0 = one per core)
  std::string log_level = "info";  ///< LOG_LEVEL / --log-level (trace|debug|info|warn|error|off)

  // --- providers ---
  std::string model_provider = "mock";  ///< MODEL_PROVIDER / --model-provider
  std::string provider_pools_file;      ///< PROVIDER_POOLS_FILE_PATH / --provider-pools-file
  int request_max_retries = 3;          ///< REQUEST_MAX_RETRIES / --request-max-retries
  int request_base_delay_ms = 1000;     ///< REQUEST_BASE_DELAY / --request-base-delay (ms)
  int max_error_count = 3;              ///< MAX_ERROR_COUNT / --max-error-count
  int cron_near_minutes = 15;           ///< CRON_NEAR_MINUTES / --cron-near-minutes
  bool cron_refresh_token = true;       ///< CRON_REFRESH_TOKEN / --cron-refresh-token

  // --- prompts ---
  std::string system_prompt_file;  ///< SYSTEM_PROMPT_FILE_PATH / --system-prompt-file
  /// Content of system_prompt_file, read at load time (empty when no file or empty file).
  std::string system_prompt;
  protocol::system_prompt_mode system_prompt_mode =
      protocol::system_prompt_mode::overwrite;  ///< SYSTEM_PROMPT_MODE / --system-prompt-mode
  log_prompts_mode log_prompts = log_prompts_mode::none;  ///< PROMPT_LOG_MODE / --log-prompts
  std::string prompt_log_base_name =
      "prompt_log";  ///< PROMPT_LOG_BASE_NAME / --prompt-log-base-name

  // --- limits and timeouts of the client side ---
  std::size_t max_header_bytes = 64 * 1024;       ///< MAX_HEADER_BYTES
  std::size_t max_body_bytes = 32 * 1024 * 1024;  ///< MAX_BODY_BYTES
  int max_connections = 4096;                     ///< MAX_CONNECTIONS
  int header_timeout_ms = 15000;                  ///< HEADER_TIMEOUT_MS
  int body_timeout_ms = 60000;                    ///< BODY_TIMEOUT_MS
  int keep_alive_timeout_ms = 60000;              ///< KEEP_ALIVE_TIMEOUT_MS (idle between requests)
  int write_timeout_ms = 60000;   ///< WRITE_TIMEOUT_MS (a client that stops reading)
  int shutdown_grace_ms = 30000;  ///< SHUTDOWN_GRACE_MS (drain deadline)

  // --- upstream side ---
  int upstream_connect_timeout_ms = 10000;      ///< UPSTREAM_CONNECT_TIMEOUT_MS
  int upstream_first_byte_timeout_ms = 300000;  ///< UPSTREAM_FIRST_BYTE_TIMEOUT_MS
  int upstream_idle_timeout_ms = 120000;        ///< UPSTREAM_IDLE_TIMEOUT_MS (between chunks)
  std::size_t upstream_max_response_bytes = 64 * 1024 * 1024;  ///< UPSTREAM_MAX_RESPONSE_BYTES
  std::size_t max_sse_event_bytes = 16 * 1024 * 1024;          ///< MAX_SSE_EVENT_BYTES
  int upstream_max_idle_connections = 64;  ///< UPSTREAM_MAX_IDLE_CONNECTIONS (per host, per thread)
  std::string proxy_url;                   ///< PROXY_URL / --proxy-url (http://host:port)
  std::string upstream_ca_file;            ///< UPSTREAM_CA_FILE (extra trusted CAs, PEM)

  // --- pools: health checks, persistence, admin ---
  std::string admin_api_key;         ///< ADMIN_API_KEY / --admin-api-key (empty = admin API off)
  bool health_check_enabled = true;  ///< HEALTH_CHECK_ENABLED
  int health_check_interval_ms = 60000;  ///< HEALTH_CHECK_INTERVAL_MS
  int health_check_timeout_ms = 15000;   ///< HEALTH_CHECK_TIMEOUT_MS
  int health_check_concurrency = 4;      ///< HEALTH_CHECK_CONCURRENCY
  bool health_check_healthy = false;  ///< HEALTH_CHECK_HEALTHY_INSTANCES (probe healthy ones too)
  int pool_save_debounce_ms = 1000;   ///< POOL_SAVE_DEBOUNCE_MS
  int pool_save_max_wait_ms = 5000;   ///< POOL_SAVE_MAX_WAIT_MS
  int rate_limit_cooldown_ms =
      5000;  ///< RATE_LIMIT_COOLDOWN_MS (429 without Retry-After, doubled each time)
  int rate_limit_cooldown_max_ms = 300000;  ///< RATE_LIMIT_COOLDOWN_MAX_MS
  /// providerFallbackChain: provider type -> types tried, in order, when it has no eligible
  /// instance or every attempt on it failed.
  std::map<std::string, std::vector<std::string>> provider_fallback_chain;

  // --- OAuth endpoints (empty: the real services; instances may override each one) ---
  std::string gemini_oauth_client_id;      ///< GEMINI_OAUTH_CLIENT_ID
  std::string gemini_oauth_client_secret;  ///< GEMINI_OAUTH_CLIENT_SECRET (secret)
  std::string gemini_token_url;            ///< GEMINI_TOKEN_URL
  std::string gemini_code_assist_base;     ///< GEMINI_CODE_ASSIST_BASE
  std::string qwen_token_url;              ///< QWEN_TOKEN_URL
  std::string kiro_refresh_url;            ///< KIRO_REFRESH_URL ({region} is replaced)
  std::string kiro_idc_token_url;          ///< KIRO_IDC_TOKEN_URL ({region} is replaced)
  std::string kiro_base_url;               ///< KIRO_BASE_URL ({region} is replaced)

  /// Which config file was read (empty when none).
  std::string config_file;
};

/// A configuration problem: one line naming the key, flag or path at fault.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Outcome of parsing the command line: either settings to run with, or an exit
/// (after --help / --version, with the text to print and exit code 0).
struct cli_outcome {
  std::optional<settings> run;  ///< set when the server should start
  std::string print;            ///< text for stdout (help / version)
  int exit_code = 0;
};

/// Parses argv with CLI11, reads the config file (--config FILE, else ./config.json when it
/// exists), applies CLI > file > defaults, reads the system prompt file and validates
/// everything. Throws config_error with one clear line on any invalid value, unknown key type,
/// unknown provider type or unreadable file.
cli_outcome parse_command_line(int argc, const char* const* argv);

/// Validates a complete settings object (ranges, provider type, host/key rule:
/// without REQUIRED_API_KEY only loopback hosts may be bound). Throws config_error.
void validate(const settings& s);

/// The provider types this build knows (provider_pools.json keys and MODEL_PROVIDER values).
const std::vector<std::string>& known_provider_types();

}  // namespace aiclient::config
