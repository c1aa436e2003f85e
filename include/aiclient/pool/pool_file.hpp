#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aiclient::pool {

/// One upstream account of a provider pool, as read from provider_pools.json.
struct instance {
  std::string type;         ///< provider type (the pool's key)
  std::string uuid;         ///< instance id ("" when the file has none)
  std::string custom_name;  ///< optional "customName"
  std::string base_url;     ///< OPENAI_BASE_URL / CLAUDE_BASE_URL (empty for other types)
  std::string api_key;      ///< OPENAI_API_KEY / CLAUDE_API_KEY (empty for other types)
  std::string check_model;  ///< checkModelName (may be empty)
  bool is_healthy = true;   ///< isHealthy
  bool is_disabled = false; ///< isDisabled
};

/// All pools: provider type -> instances, in file order.
struct pools {
  std::map<std::string, std::vector<instance>, std::less<>> by_type;
  /// The first usable (healthy, enabled) instance of `type`, else nullptr.
  const instance* first(std::string_view type) const;
  /// Number of instances of `type`.
  std::size_t count(std::string_view type) const;
};

/// Loads and validates provider_pools.json. Throws config::config_error with one line naming
/// the path, provider type, instance index and field at fault (never a credential value).
pools load_pools_file(const std::string& path);

/// Same, from JSON text (`origin` names it in error messages).
pools parse_pools(std::string_view json_text, const std::string& origin);

}  // namespace aiclient::pool
