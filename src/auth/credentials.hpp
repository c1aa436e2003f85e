#pragma once
// Internal to the auth area: the three providers' credential files (reading, validation,
// refresh requests and answers, write-back). No Asio here: the token manager does the I/O.
#include <chrono>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiclient/auth/token_manager.hpp"

namespace aiclient::auth::detail {

/// Wall-clock time of token expiries.
using time_point = std::chrono::system_clock::time_point;

/// The OAuth provider types.
enum class provider { gemini, qwen, kiro };

/// The provider of a pool type ("gemini-cli-oauth", ...), or nullopt.
std::optional<provider> provider_of(std::string_view type);

/// Kiro login kinds.
enum class kiro_method { social, idc, api_key };

/// One credentials file, parsed.
struct credentials {
  provider kind = provider::gemini;
  std::string path;                          ///< the file (after ~ expansion)
  nlohmann::ordered_json doc;                ///< the file's object as read (for write-back)
  nlohmann::ordered_json updates;            ///< fields a refresh changed (merged on write-back)
  std::string access_token;                  ///< may be empty (then a refresh is due)
  std::string refresh_token;                 ///< empty only for kiro api_key
  std::optional<time_point> expires_at;      ///< nullopt: unknown (a refresh is due)
  bool refreshable = true;                   ///< false for kiro api_key credentials
  std::string resource_url;                  ///< qwen
  kiro_method method = kiro_method::social;  ///< kiro
  std::string region = "us-east-1";          ///< kiro
  std::string profile_arn;                   ///< kiro
  std::string client_id;                     ///< kiro IdC (from the file, if there)
  std::string client_secret;                 ///< kiro IdC (from the file, if there)
  std::string client_id_hash;                ///< kiro IdC registration file name
};

/// Parsed credentials or a one-line error naming the path (never a value).
struct load_result {
  std::optional<credentials> creds;
  std::string error;
};

/// Parses `text` as the credentials file `path` of `kind`.
load_result parse_credentials(provider kind, const std::string& path, std::string_view text);
/// Reads and parses the file (at most 1 MiB).
load_result load_credentials(provider kind, const std::string& path);

/// Reads a whole small file; returns false with a reason (strerror, "too large") on failure.
bool read_small_file(const std::string& path, std::string& out, std::string& reason);

/// Expands a leading "~/" with $HOME.
std::string expand_home(const std::string& path);

/// qwen: the API base URL for a resource_url (https:// added when schemeless, /v1 appended).
std::string qwen_base_url(std::string_view resource_url);

/// Lower-case hex SHA-256.
std::string sha256_hex(std::string_view data);

/// Provider facts derived from the credentials (qwen base_url; kiro profile_arn, region,
/// auth_method, machine_id).
std::map<std::string, std::string> facts_of(const credentials& c);

/// The endpoints for one instance: the manager's, overridden by the instance's fields of the
/// same names ("QWEN_TOKEN_URL", ...).
endpoints endpoints_for(const endpoints& base, const pool::instance& inst);

/// A refresh request to send.
struct refresh_request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::string> secrets;  ///< values that must never appear in error messages
};

/// Outcome of a refresh.
struct refresh_outcome {
  std::string error;       ///< "" on success
  bool permanent = false;  ///< the refresh token is dead (re-login needed)
  /// Found without asking the token endpoint (e.g. an expired Kiro IdC client registration):
  /// not remembered as dead, checked again next time (the fix may land in another file).
  bool local = false;
};

/// Builds the refresh request of `c` at time `now`. Returns an empty error or why no request
/// can be made (no secrets; permanent when only a new login helps, e.g. a Kiro IdC client
/// registration whose expiresAt has passed).
refresh_outcome build_refresh(const credentials& c, const endpoints& ep, refresh_request& out,
                              time_point now);

/// Applies the token endpoint's answer to `c` (tokens, expiry, rotated fields, also into
/// c.updates). `secrets` are removed from any upstream text quoted in the error.
refresh_outcome apply_refresh_answer(credentials& c, int status, std::string_view body,
                                     time_point now, const std::vector<std::string>& secrets);

/// Merges c.updates into the file as it is now on disk (else into c.doc), keeping every other
/// field and the key order, and writes it atomically with mode 0600. Returns "" or an error.
std::string write_back(credentials& c);

/// `text` with every occurrence of each non-empty secret replaced by "***", control
/// characters replaced by spaces, cut to `max_len` characters.
std::string scrub(std::string_view text, const std::vector<std::string>& secrets,
                  std::size_t max_len = 300);

/// A random UUID v4 (amz-sdk-invocation-id).
std::string random_uuid();

/// `s` percent-encoded for a URL query or a form (unreserved characters kept).
std::string url_escape(std::string_view s);

/// `url` with every "{region}" replaced by `region`.
std::string replace_region(std::string url, const std::string& region);

/// A finite number from field `key` of `j`, given as a JSON number or a numeric string;
/// nullopt otherwise (also when `j` is not an object).
std::optional<double> number_field(const nlohmann::json& j, const char* key);

}  // namespace aiclient::auth::detail
