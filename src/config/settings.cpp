#include "aiclient/config/settings.hpp"
#include <algorithm>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <type_traits>

#include "aiclient/util/strings.hpp"
#include "fields.hpp"

namespace aiclient::config {
namespace detail {
namespace {

constexpr std::int64_t kib = 1024;
constexpr std::int64_t mib = 1024 * kib;
constexpr std::int64_t gib = 1024 * mib;
constexpr std::int64_t hour_ms = 3600 * 1000;

constexpr std::array<std::string_view, 6> log_levels = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};
constexpr std::array<std::string_view, 2> prompt_modes = {"overwrite", "append"};
constexpr std::array<std::string_view, 3> log_prompt_modes = {"none", "console", "file"};

// Accessors generated from member pointers, so the table below stays one entry per field.
template <auto M>
raw_value get_integer(const settings& s) {
  return static_cast<std::int64_t>(s.*M);
}
template <auto M>
void set_integer(settings& s, const raw_value& v) {
  using T = std::remove_cvref_t<decltype(s.*M)>;
  s.*M = static_cast<T>(std::get<std::int64_t>(v));
}
template <auto M>
raw_value get_text(const settings& s) {
  return s.*M;
}
template <auto M>
void set_text(settings& s, const raw_value& v) {
  s.*M = std::get<std::string>(v);
}
template <auto M>
raw_value get_bool(const settings& s) {
  return s.*M;
}
template <auto M>
void set_bool(settings& s, const raw_value& v) {
  s.*M = std::get<bool>(v);
}
raw_value get_cron_refresh(const settings& s) {
  return s.cron_refresh_token;
}
void set_cron_refresh(settings& s, const raw_value& v) {
  s.cron_refresh_token = std::get<bool>(v);
}

std::size_t choice_index(std::span<const std::string_view> choices, const std::string& v) {
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == v) return i;
  return choices.size();
}
raw_value get_prompt_mode(const settings& s) {
  const auto i = static_cast<std::size_t>(s.system_prompt_mode);
  return i < prompt_modes.size() ? std::string(prompt_modes[i]) : std::string("?");
}
void set_prompt_mode(settings& s, const raw_value& v) {
  s.system_prompt_mode = static_cast<protocol::system_prompt_mode>(
      choice_index(prompt_modes, std::get<std::string>(v)));
}
raw_value get_log_prompts(const settings& s) {
  return std::string(to_string(s.log_prompts));
}
void set_log_prompts(settings& s, const raw_value& v) {
  s.log_prompts =
      static_cast<log_prompts_mode>(choice_index(log_prompt_modes, std::get<std::string>(v)));
}

std::string quoted(const std::string& v) {
  return "\"" + v + "\"";
}

std::string join(std::span<const std::string_view> items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// --- text checks (return "" when fine) ---

std::string check_host(const std::string& v) {
  if (v.empty()) return "must not be empty";
  for (const char c : v)
    if (static_cast<unsigned char>(c) <= ' ') return quoted(v) + " contains whitespace";
  return {};
}

std::string check_api_key(const std::string& v) {
  // Never echo the key. Clients send it in a header, where surrounding blanks are dropped: a
  // key with them could never match.
  if (v.empty()) return {};
  if (util::trim(v).size() != v.size()) return "must not start or end with whitespace";
  for (const char c : v)
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f)
      return "must not contain control characters";
  return {};
}

std::string check_log_level(const std::string& v) {
  for (const auto l : log_levels)
    if (l == v) return {};
  return quoted(v) + " is not one of " + join(log_levels, "|");
}

std::string check_provider(const std::string& v) {
  for (const auto& p : known_provider_types())
    if (p == v) return {};
  std::string known;
  for (const auto& p : known_provider_types()) known += (known.empty() ? "" : ", ") + p;
  return quoted(v) + " is not a known provider type (known: " + known + ")";
}

std::string check_readable(const std::string& v) {
  if (v.empty()) return {};
  const auto why = unreadable_reason(v);
  return why.empty() ? std::string() : "cannot read '" + v + "': " + why;
}

std::string check_not_empty(const std::string& v) {
  return v.empty() ? "must not be empty" : std::string();
}

std::string check_proxy_url(const std::string& v) {
  if (v.empty()) return {};
  const std::string expected = "is not of the form http://host:port";
  // Credentials in a proxy URL are secrets: do not repeat the value then.
  if (v.find('@') != std::string::npos)
    return "credentials in the proxy URL are not supported (expected http://host:port)";
  std::string_view rest = v;
  if (!util::istarts_with(rest, "http://")) return quoted(v) + " " + expected;
  rest.remove_prefix(7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) return quoted(v) + " " + expected;
  std::string_view host, port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return quoted(v) + " " + expected;
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return quoted(v) + " " + expected + " (no port)";
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return quoted(v) + " " + expected;
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      number == 0 || number > 65535)
    return quoted(v) + " " + expected;
  return {};
}

// The table. Bounds are wide: they catch typos (a timeout in seconds where ms are expected is
// still accepted, a negative one or one of a year is not), not taste.
const std::array<field, 50> table = {{
    // --- server ---
    {"HOST",
     "--host",
     "Server",
     "address to listen on",
     field_kind::text,
     0,
     0,
     {},
     false,
     false,
     get_text<&settings::host>,
     set_text<&settings::host>,
     check_host},
    {"SERVER_PORT",
     "--port",
     "Server",
     "TCP port (0 = pick a free port)",
     field_kind::integer,
     0,
     65535,
     {},
     false,
     false,
     get_integer<&settings::port>,
     set_integer<&settings::port>},
    {"REQUIRED_API_KEY",
     "--api-key",
     "Server",
     "API key clients must present (empty = none: loopback hosts only)",
     field_kind::text,
     0,
     0,
     {},
     true,
     true,
     get_text<&settings::required_api_key>,
     set_text<&settings::required_api_key>,
     check_api_key},
    {"THREADS",
     "--threads",
     "Server",
     "I/O threads (0 = one per core)",
     field_kind::integer,
     0,
     256,
     {},
     false,
     false,
     get_integer<&settings::threads>,
     set_integer<&settings::threads>},
    {"LOG_LEVEL",
     "--log-level",
     "Server",
     "trace|debug|info|warn|error|off",
     field_kind::text,
     0,
     0,
     {},
     false,
     false,
     get_text<&settings::log_level>,
     set_text<&settings::log_level>,
     check_log_level},
    // --- providers ---
    {"MODEL_PROVIDER",
     "--model-provider",
     "Providers",
     "default provider type when a request names none",
     field_kind::text,
     0,
     0,
     {},
     false,
     false,
     get_text<&settings::model_provider>,
     set_text<&settings::model_provider>,
     check_provider},
    {"PROVIDER_POOLS_FILE_PATH",
     "--provider-pools-file",
     "Providers",
     "provider_pools.json (accounts per provider type)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::provider_pools_file>,
     set_text<&settings::provider_pools_file>,
     check_readable},
    {"REQUEST_MAX_RETRIES",
     "--request-max-retries",
     "Providers",
     "retries on another account before the first byte",
     field_kind::integer,
     0,
     20,
     {},
     false,
     false,
     get_integer<&settings::request_max_retries>,
     set_integer<&settings::request_max_retries>},
    {"REQUEST_BASE_DELAY",
     "--request-base-delay",
     "Providers",
     "base delay of the retry backoff, ms",
     field_kind::integer,
     1,
     60000,
     {},
     false,
     false,
     get_integer<&settings::request_base_delay_ms>,
     set_integer<&settings::request_base_delay_ms>},
    {"MAX_ERROR_COUNT",
     "--max-error-count",
     "Providers",
     "errors in a row before an account is marked unhealthy",
     field_kind::integer,
     1,
     1000,
     {},
     false,
     false,
     get_integer<&settings::max_error_count>,
     set_integer<&settings::max_error_count>},
    {"CRON_NEAR_MINUTES",
     "--cron-near-minutes",
     "Providers",
     "refresh OAuth tokens that expire within this many minutes",
     field_kind::integer,
     1,
     1440,
     {},
     false,
     false,
     get_integer<&settings::cron_near_minutes>,
     set_integer<&settings::cron_near_minutes>},
    {"CRON_REFRESH_TOKEN",
     "--cron-refresh-token",
     "Providers",
     "refresh OAuth tokens on a timer (true/false)",
     field_kind::boolean,
     0,
     0,
     {},
     false,
     false,
     get_cron_refresh,
     set_cron_refresh},
    // --- prompts ---
    {"SYSTEM_PROMPT_FILE_PATH",
     "--system-prompt-file",
     "Prompts",
     "file whose content is injected as the system prompt",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::system_prompt_file>,
     set_text<&settings::system_prompt_file>,
     check_readable},
    {"SYSTEM_PROMPT_MODE", "--system-prompt-mode", "Prompts", "overwrite|append",
     field_kind::choice, 0, 0, prompt_modes, false, false, get_prompt_mode, set_prompt_mode},
    {"PROMPT_LOG_MODE", "--log-prompts", "Prompts", "none|console|file", field_kind::choice, 0, 0,
     log_prompt_modes, false, false, get_log_prompts, set_log_prompts},
    {"PROMPT_LOG_BASE_NAME",
     "--prompt-log-base-name",
     "Prompts",
     "file name prefix of prompt logs (mode file)",
     field_kind::text,
     0,
     0,
     {},
     false,
     false,
     get_text<&settings::prompt_log_base_name>,
     set_text<&settings::prompt_log_base_name>,
     check_not_empty},
    // --- client side limits and timeouts ---
    {"MAX_HEADER_BYTES",
     "--max-header-bytes",
     "Limits",
     "largest request header block",
     field_kind::integer,
     1,
     16 * mib,
     {},
     false,
     false,
     get_integer<&settings::max_header_bytes>,
     set_integer<&settings::max_header_bytes>},
    {"MAX_BODY_BYTES",
     "--max-body-bytes",
     "Limits",
     "largest request body",
     field_kind::integer,
     1,
     gib,
     {},
     false,
     false,
     get_integer<&settings::max_body_bytes>,
     set_integer<&settings::max_body_bytes>},
    {"MAX_CONNECTIONS",
     "--max-connections",
     "Limits",
     "open client connections at most",
     field_kind::integer,
     1,
     1000000,
     {},
     false,
     false,
     get_integer<&settings::max_connections>,
     set_integer<&settings::max_connections>},
    {"HEADER_TIMEOUT_MS",
     "--header-timeout-ms",
     "Limits",
     "time to receive request headers, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::header_timeout_ms>,
     set_integer<&settings::header_timeout_ms>},
    {"BODY_TIMEOUT_MS",
     "--body-timeout-ms",
     "Limits",
     "time to receive a request body, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::body_timeout_ms>,
     set_integer<&settings::body_timeout_ms>},
    {"KEEP_ALIVE_TIMEOUT_MS",
     "--keep-alive-timeout-ms",
     "Limits",
     "idle time between requests on a connection, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::keep_alive_timeout_ms>,
     set_integer<&settings::keep_alive_timeout_ms>},
    {"WRITE_TIMEOUT_MS",
     "--write-timeout-ms",
     "Limits",
     "time a client may stall reading a response, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::write_timeout_ms>,
     set_integer<&settings::write_timeout_ms>},
    {"SHUTDOWN_GRACE_MS",
     "--shutdown-grace-ms",
     "Limits",
     "time in-flight requests get to finish on shutdown, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::shutdown_grace_ms>,
     set_integer<&settings::shutdown_grace_ms>},
    // --- upstream side ---
    {"UPSTREAM_CONNECT_TIMEOUT_MS",
     "--upstream-connect-timeout-ms",
     "Upstream",
     "TCP + TLS connect to an upstream, ms",
     field_kind::integer,
     1,
     600000,
     {},
     false,
     false,
     get_integer<&settings::upstream_connect_timeout_ms>,
     set_integer<&settings::upstream_connect_timeout_ms>},
    {"UPSTREAM_FIRST_BYTE_TIMEOUT_MS",
     "--upstream-first-byte-timeout-ms",
     "Upstream",
     "wait for the upstream's response headers, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::upstream_first_byte_timeout_ms>,
     set_integer<&settings::upstream_first_byte_timeout_ms>},
    {"UPSTREAM_IDLE_TIMEOUT_MS",
     "--upstream-idle-timeout-ms",
     "Upstream",
     "silence allowed between streamed chunks, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::upstream_idle_timeout_ms>,
     set_integer<&settings::upstream_idle_timeout_ms>},
    {"UPSTREAM_MAX_RESPONSE_BYTES",
     "--upstream-max-response-bytes",
     "Upstream",
     "largest non-streamed upstream response",
     field_kind::integer,
     1,
     4 * gib,
     {},
     false,
     false,
     get_integer<&settings::upstream_max_response_bytes>,
     set_integer<&settings::upstream_max_response_bytes>},
    {"MAX_SSE_EVENT_BYTES",
     "--max-sse-event-bytes",
     "Upstream",
     "largest single streamed event",
     field_kind::integer,
     1,
     gib,
     {},
     false,
     false,
     get_integer<&settings::max_sse_event_bytes>,
     set_integer<&settings::max_sse_event_bytes>},
    {"UPSTREAM_MAX_IDLE_CONNECTIONS",
     "--upstream-max-idle-connections",
     "Upstream",
     "idle keep-alive connections kept per host and thread (0 = none)",
     field_kind::integer,
     0,
     10000,
     {},
     false,
     false,
     get_integer<&settings::upstream_max_idle_connections>,
     set_integer<&settings::upstream_max_idle_connections>},
    {"PROXY_URL",
     "--proxy-url",
     "Upstream",
     "outbound HTTP proxy, http://host:port",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::proxy_url>,
     set_text<&settings::proxy_url>,
     check_proxy_url},
    {"UPSTREAM_CA_FILE",
     "--upstream-ca-file",
     "Upstream",
     "extra trusted CA certificates for upstreams (PEM)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::upstream_ca_file>,
     set_text<&settings::upstream_ca_file>,
     check_readable},
    // --- pools: health checks, persistence, admin ---
    {"ADMIN_API_KEY",
     "--admin-api-key",
     "Pools",
     "key of the /admin API (Authorization: Bearer or x-api-key); empty = admin API off",
     field_kind::text,
     0,
     0,
     {},
     true,
     true,
     get_text<&settings::admin_api_key>,
     set_text<&settings::admin_api_key>,
     check_api_key},
    {"HEALTH_CHECK_ENABLED",
     "--health-check-enabled",
     "Pools",
     "probe unhealthy instances on a timer (true/false)",
     field_kind::boolean,
     0,
     0,
     {},
     false,
     false,
     get_bool<&settings::health_check_enabled>,
     set_bool<&settings::health_check_enabled>},
    {"HEALTH_CHECK_INTERVAL_MS",
     "--health-check-interval-ms",
     "Pools",
     "time between two health-check rounds, ms (with 10% jitter)",
     field_kind::integer,
     100,
     24 * hour_ms,
     {},
     false,
     false,
     get_integer<&settings::health_check_interval_ms>,
     set_integer<&settings::health_check_interval_ms>},
    {"HEALTH_CHECK_TIMEOUT_MS",
     "--health-check-timeout-ms",
     "Pools",
     "time one probe may take, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::health_check_timeout_ms>,
     set_integer<&settings::health_check_timeout_ms>},
    {"HEALTH_CHECK_CONCURRENCY",
     "--health-check-concurrency",
     "Pools",
     "probes running at once",
     field_kind::integer,
     1,
     256,
     {},
     false,
     false,
     get_integer<&settings::health_check_concurrency>,
     set_integer<&settings::health_check_concurrency>},
    {"HEALTH_CHECK_HEALTHY_INSTANCES",
     "--health-check-healthy-instances",
     "Pools",
     "also probe healthy instances (true/false)",
     field_kind::boolean,
     0,
     0,
     {},
     false,
     false,
     get_bool<&settings::health_check_healthy>,
     set_bool<&settings::health_check_healthy>},
    {"POOL_SAVE_DEBOUNCE_MS",
     "--pool-save-debounce-ms",
     "Pools",
     "provider_pools.json is saved this long after the last change, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::pool_save_debounce_ms>,
     set_integer<&settings::pool_save_debounce_ms>},
    {"POOL_SAVE_MAX_WAIT_MS",
     "--pool-save-max-wait-ms",
     "Pools",
     "...but never later than this after the first unsaved change, ms",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::pool_save_max_wait_ms>,
     set_integer<&settings::pool_save_max_wait_ms>},
    {"RATE_LIMIT_COOLDOWN_MS",
     "--rate-limit-cooldown-ms",
     "Pools",
     "cooldown after a 429 without Retry-After, ms (doubled for each further 429)",
     field_kind::integer,
     1,
     hour_ms,
     {},
     false,
     false,
     get_integer<&settings::rate_limit_cooldown_ms>,
     set_integer<&settings::rate_limit_cooldown_ms>},
    {"RATE_LIMIT_COOLDOWN_MAX_MS",
     "--rate-limit-cooldown-max-ms",
     "Pools",
     "longest 429 cooldown (also caps Retry-After), ms",
     field_kind::integer,
     1,
     24 * hour_ms,
     {},
     false,
     false,
     get_integer<&settings::rate_limit_cooldown_max_ms>,
     set_integer<&settings::rate_limit_cooldown_max_ms>},
    {"GEMINI_OAUTH_CLIENT_ID",
     "--gemini-oauth-client-id",
     "OAuth",
     "Gemini CLI OAuth client id (default: Gemini CLI's public one)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::gemini_oauth_client_id>,
     set_text<&settings::gemini_oauth_client_id>},
    {"GEMINI_OAUTH_CLIENT_SECRET",
     "--gemini-oauth-client-secret",
     "OAuth",
     "Gemini CLI's public installed-app client secret (needed to refresh tokens)",
     field_kind::text,
     0,
     0,
     {},
     true,
     true,
     get_text<&settings::gemini_oauth_client_secret>,
     set_text<&settings::gemini_oauth_client_secret>},
    {"GEMINI_TOKEN_URL",
     "--gemini-token-url",
     "OAuth",
     "Google token endpoint (default https://oauth2.googleapis.com/token)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::gemini_token_url>,
     set_text<&settings::gemini_token_url>},
    {"GEMINI_CODE_ASSIST_BASE",
     "--gemini-code-assist-base",
     "OAuth",
     "Code Assist API base (default https://cloudcode-pa.googleapis.com/v1internal)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::gemini_code_assist_base>,
     set_text<&settings::gemini_code_assist_base>},
    {"QWEN_TOKEN_URL",
     "--qwen-token-url",
     "OAuth",
     "Qwen token endpoint (default https://chat.qwen.ai/api/v1/oauth2/token)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::qwen_token_url>,
     set_text<&settings::qwen_token_url>},
    {"KIRO_REFRESH_URL",
     "--kiro-refresh-url",
     "OAuth",
     "Kiro social refresh endpoint ({region} replaced)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::kiro_refresh_url>,
     set_text<&settings::kiro_refresh_url>},
    {"KIRO_IDC_TOKEN_URL",
     "--kiro-idc-token-url",
     "OAuth",
     "Kiro IdC token endpoint ({region} replaced)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::kiro_idc_token_url>,
     set_text<&settings::kiro_idc_token_url>},
    {"KIRO_BASE_URL",
     "--kiro-base-url",
     "OAuth",
     "Kiro API base (default https://q.{region}.amazonaws.com)",
     field_kind::text,
     0,
     0,
     {},
     true,
     false,
     get_text<&settings::kiro_base_url>,
     set_text<&settings::kiro_base_url>},
}};

}  // namespace

std::span<const field> fields() {
  return table;
}

std::string unreadable_reason(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "is a directory";
  if (!fs::is_regular_file(st)) return "not a regular file";
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno ? std::strerror(errno) : "cannot open";
  return {};
}

std::string read_whole_file(const std::string& path, std::string& out) {
  if (auto why = unreadable_reason(path); !why.empty()) return why;
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno ? std::strerror(errno) : "cannot open";
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return "read error";
  out = std::move(buffer).str();
  return {};
}

std::string problem_with(const field& f, const raw_value& value) {
  switch (f.kind) {
    case field_kind::integer: {
      const auto v = std::get<std::int64_t>(value);
      if (v < f.min || v > f.max)
        return std::to_string(v) + " is out of range " + std::to_string(f.min) + ".." +
               std::to_string(f.max);
      return {};
    }
    case field_kind::choice: {
      const auto& v = std::get<std::string>(value);
      if (choice_index(f.choices, v) < f.choices.size()) return {};
      return quoted(v) + " is not one of " + join(f.choices, "|");
    }
    case field_kind::text:
      return f.check ? f.check(std::get<std::string>(value)) : std::string();
    case field_kind::boolean:
      return {};
  }
  return {};
}

std::string display(const raw_value& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  return std::get<std::string>(value);
}

}  // namespace detail

namespace {

/// 127.0.0.0/8, ::1 (also as [::1] and ::ffff:127.x.y.z) and "localhost".
bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (util::iequals(host, "localhost")) return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

}  // namespace

const std::vector<std::string>& known_provider_types() {
  static const std::vector<std::string> types = {"openai-custom",     "claude-custom",
                                                 "gemini-cli-oauth",  "claude-kiro-oauth",
                                                 "openai-qwen-oauth", "mock"};
  return types;
}

std::string_view to_string(log_prompts_mode m) noexcept {
  switch (m) {
    case log_prompts_mode::none:
      return "none";
    case log_prompts_mode::console:
      return "console";
    case log_prompts_mode::file:
      return "file";
  }
  return "none";
}

void validate(const settings& s) {
  for (const auto& f : detail::fields()) {
    if (auto problem = detail::problem_with(f, f.get(s)); !problem.empty())
      throw config_error(std::string(f.key) + " (" + std::string(f.flag) + "): " + problem);
  }
  const auto& known = known_provider_types();
  const auto is_known = [&](const std::string& t) {
    return std::find(known.begin(), known.end(), t) != known.end();
  };
  for (const auto& [from, chain] : s.provider_fallback_chain) {
    if (!is_known(from))
      throw config_error("providerFallbackChain: unknown provider type \"" + from + "\"");
    for (const auto& to : chain) {
      if (!is_known(to))
        throw config_error("providerFallbackChain." + from + ": unknown provider type \"" + to +
                           "\"");
      if (to == from) throw config_error("providerFallbackChain." + from + " names itself");
    }
  }
  if (s.pool_save_max_wait_ms < s.pool_save_debounce_ms)
    throw config_error("POOL_SAVE_MAX_WAIT_MS must not be smaller than POOL_SAVE_DEBOUNCE_MS");
  if (s.required_api_key.empty() && !is_loopback_host(s.host))
    throw config_error("refusing to listen on " + s.host +
                       " without REQUIRED_API_KEY (set --api-key or REQUIRED_API_KEY, or bind "
                       "127.0.0.1)");
}

}  // namespace aiclient::config
