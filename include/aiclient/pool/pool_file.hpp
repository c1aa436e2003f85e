#pragma once
// provider_pools.json: { "<provider type>": [ instance, ... ] }. Loading, validation, and the
// parsed document kept for write-back (unknown keys and key order survive).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace aiclient::pool {

/// Wall-clock time (states are persisted as ISO-8601 UTC timestamps).
using time_point = std::chrono::system_clock::time_point;

/// Runtime state of one instance (persisted in provider_pools.json next to its credentials).
struct instance_state {
  bool is_healthy = true;                       ///< isHealthy
  bool is_disabled = false;                     ///< isDisabled
  std::optional<time_point> last_used;          ///< lastUsed
  std::uint64_t usage_count = 0;                ///< usageCount
  int error_count = 0;                          ///< errorCount
  std::optional<time_point> last_error_time;    ///< lastErrorTime
  std::string last_error_message;               ///< lastErrorMessage
  std::optional<time_point> cooldown_until;     ///< cooldownUntil (after a 429)
  int rate_limit_streak = 0;                    ///< consecutive 429s (exponential cooldown)
  std::optional<time_point> last_health_check;  ///< lastHealthCheckTime
  std::string last_health_check_result;         ///< "ok" or the failure message
};

/// One upstream account of a provider pool, as read from provider_pools.json.
struct instance {
  std::string type;          ///< provider type (the pool's key)
  std::string uuid;          ///< instance id (generated when the file has none)
  std::string custom_name;   ///< optional "customName"
  std::string base_url;      ///< OPENAI_BASE_URL / CLAUDE_BASE_URL (empty for other types)
  std::string api_key;       ///< OPENAI_API_KEY / CLAUDE_API_KEY (empty for other types)
  std::string check_model;   ///< checkModelName (may be empty)
  bool is_healthy = true;    ///< isHealthy (as in the file; the same as state.is_healthy)
  bool is_disabled = false;  ///< isDisabled (as in the file; the same as state.is_disabled)
  /// supportedModels: when non-empty, the only models this instance serves.
  std::vector<std::string> supported_models;
  /// notSupportedModels: models this instance never serves.
  std::vector<std::string> not_supported_models;
  /// modelMapping: the client's model name -> the name sent to this instance's upstream.
  std::map<std::string, std::string, std::less<>> model_mapping;
  /// The model to send upstream for the client's `model` (mapped, or unchanged).
  std::string upstream_model(std::string_view model) const {
    const auto it = model_mapping.find(model);
    return it == model_mapping.end() ? std::string(model) : it->second;
  }
  /// Every string-valued top-level field of the instance (credentials included: never log).
  std::map<std::string, std::string, std::less<>> fields;
  /// The persisted state as read from the file (the pool manager's starting point).
  instance_state state;
  /// Position in the file's array of `type` (to write the state back in place).
  std::size_t index = 0;
  /// True when the file had no uuid and one was generated (it must be saved).
  bool uuid_generated = false;

  /// The string field `key`, or "" when absent or null.
  std::string field(std::string_view key) const;
  /// True when this instance serves `model` ("" matches every instance).
  bool serves_model(std::string_view model) const;
};

/// All pools: provider type -> instances, in file order.
struct pools {
  std::map<std::string, std::vector<instance>, std::less<>> by_type;
  /// The parsed file (nlohmann::ordered_json), kept for write-back; null when built by hand.
  std::shared_ptr<const nlohmann::ordered_json> document;
  /// The first usable (healthy, enabled) instance of `type`, else nullptr.
  const instance* first(std::string_view type) const;
  /// Number of instances of `type`.
  std::size_t count(std::string_view type) const;
  /// Number of instances whose uuid was generated at load (the file needs saving).
  std::size_t generated_uuids() const;
};

/// Loads and validates provider_pools.json. Throws config::config_error with one line naming
/// the path, provider type, instance index and field at fault (never a credential value).
pools load_pools_file(const std::string& path);

/// Same, from JSON text (`origin` names it in error messages).
pools parse_pools(std::string_view json_text, const std::string& origin);

/// ISO-8601 UTC with milliseconds ("2026-11-26T10:00:05.123Z"), as JavaScript's toISOString.
std::string to_iso8601(time_point t);
/// Parses what to_iso8601 writes (also without milliseconds, and with a numeric offset);
/// std::nullopt when not a timestamp.
std::optional<time_point> parse_iso8601(std::string_view s);

}  // namespace aiclient::pool
