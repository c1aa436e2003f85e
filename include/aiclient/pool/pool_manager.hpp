#pragma once
// The pool manager: per provider type, which instance serves the next request, and what every
// outcome does to an instance's health. Thread-safe; shared by all worker threads.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiclient/pool/pool_file.hpp"

namespace aiclient::pool {

/// A time source; tests inject a fake one (it must be callable from any thread).
using clock_fn = std::function<time_point()>;

// time_point and instance_state live in pool_file.hpp (the file's parser fills the state in).

/// An instance and its state, as copied out of the manager.
struct instance_view {
  std::shared_ptr<const instance> config;
  instance_state state;
};

/// What happened to a request (or a health check) served by an instance.
struct outcome {
  enum class kind {
    success,       ///< answered (2xx)
    failure,       ///< connect error, timeout, 5xx, 401/403 not cured by a token refresh
    rate_limited,  ///< 429
    client_error,  ///< 400/404/413/422...: the client's own fault, not the instance's
    fatal          ///< unusable until an operator acts (e.g. a dead OAuth login): unhealthy now
  };
  kind what = kind::success;
  std::string message;                              ///< for failures: short, no secrets
  std::optional<std::chrono::seconds> retry_after;  ///< for 429: the upstream's Retry-After
  /// For 429: when the provider's quota resets (a daily or monthly allowance): the instance is
  /// parked until then, not capped by rate_limit_max (retry_after is then ignored).
  std::optional<std::chrono::system_clock::time_point> quota_reset;
};

/// Why no instance could be picked.
enum class no_pick_reason {
  none,
  no_instances,
  all_disabled,
  all_unhealthy,
  all_cooling_down,
  no_model_match
};

/// The result of pick().
struct pick_result {
  std::shared_ptr<const instance> inst;  ///< null when nothing is eligible
  no_pick_reason reason = no_pick_reason::none;
  std::optional<time_point> next_cooldown_end;  ///< with all_cooling_down: when the first ends
  /// One line for the client when inst is null, naming the provider type and why, e.g.
  /// "no healthy instance of openai-custom: 3 unhealthy" or
  /// "all instances of claude-custom are rate limited until 2026-11-26T10:00:05Z" or
  /// "no instance of openai-custom serves model gpt-x"; also "no instance of mock is
  /// configured", "no enabled instance of mock: 2 disabled", "no healthy instance of mock for
  /// model m: 2 unhealthy, 1 disabled", "no instance of mock is available: 2 rate limited
  /// until T, 1 unhealthy" ("for model m" when the model narrowed the candidates).
  std::string message;
};

/// Tunables (from config.json).
struct manager_options {
  int max_error_count = 3;  ///< MAX_ERROR_COUNT: consecutive failures that mark unhealthy
  std::chrono::seconds rate_limit_base{5};   ///< 429 without Retry-After: base * 2^streak
  std::chrono::seconds rate_limit_max{300};  ///< cap of that cooldown (and of Retry-After)
};

/// Thread-safe pool manager.
class pool_manager {
 public:
  /// Takes the loaded pools (their document is kept for write-back; pools built by hand,
  /// without a document, get one made of their string fields).
  explicit pool_manager(pools p, manager_options opts = {}, clock_fn now = nullptr);
  ~pool_manager();

  /// Picks an instance of `type` for `model` ("" = any): eligible = enabled, healthy, not
  /// cooling down, serving the model. Among the eligible, the least recently picked goes
  /// first (round-robin in steady state; a never-used or just-recovered instance first).
  /// Instances whose uuid is in `avoid` are taken only when no other is eligible.
  /// Marks the pick at once, so concurrent callers spread over the instances.
  pick_result pick(std::string_view type, std::string_view model,
                   const std::vector<std::string>& avoid = {});

  /// Records the outcome of a request served by (type, uuid). Unknown uuids are ignored.
  ///   success: healthy, errorCount 0, usageCount+1, lastUsed now, rate_limit_streak 0.
  ///   failure: errorCount+1, lastErrorTime/Message; errorCount >= max -> unhealthy.
  ///   rate_limited: cooldown_until = quota_reset, else now + min(retry_after or
  ///                 base*2^streak, max); streak+1; health and errorCount unchanged.
  ///   client_error: usageCount+1, lastUsed now; health unchanged.
  void report(std::string_view type, std::string_view uuid, const outcome& o);

  /// Parks (type, uuid) until `until`, when the upstream says its quota resets (a monthly or
  /// daily allowance): a cooldown not capped by rate_limit_max. Health, errorCount and the
  /// rate-limit streak are unchanged. Unknown uuids are ignored.
  void quota_exhausted_until(std::string_view type, std::string_view uuid, time_point until);

  /// Records a health check: ok brings the instance back (healthy, errorCount 0, picked first
  /// next; its result is `message`, or "ok" when empty); a failure keeps it unhealthy (or
  /// counts an error for a healthy one). Does not touch usageCount/lastUsed or a cooldown.
  void report_health_check(std::string_view type, std::string_view uuid, bool ok,
                           std::string_view message);

  /// Admin: enables or disables an instance. False when unknown.
  bool set_disabled(std::string_view type, std::string_view uuid, bool disabled);
  /// Admin: healthy again, errors and cooldown cleared. False when unknown.
  bool reset_health(std::string_view type, std::string_view uuid);

  /// Copies of every instance and state, by type (file order).
  std::map<std::string, std::vector<instance_view>, std::less<>> snapshot() const;
  /// One instance, if known.
  std::optional<instance_view> find(std::string_view type, std::string_view uuid) const;
  /// Provider types that have at least one instance.
  std::vector<std::string> types() const;

  /// The whole provider_pools.json text: the loaded document (unknown keys, key order and
  /// credential values kept) with every instance's state fields written in, pretty-printed
  /// with 2-space indentation and a final newline.
  std::string serialize() const;

  /// Replaces the instances with a newly loaded file, matching by uuid: a matched instance
  /// keeps its runtime state, except state fields whose value in the new file differs from
  /// what serialize() last produced for it (an operator's edit wins). New instances start
  /// from the file's state; removed ones are dropped. An unhealthy instance set to
  /// "isHealthy": true by hand counts as a reset (errorCount 0 unless also edited, picked
  /// first). Always counts as a change (the new document is the one written back).
  void reload(pools p);

  /// Incremented on every change that serialize() would show.
  std::uint64_t version() const;
  /// Called (outside the lock, on the thread that made the change) after every such change,
  /// e.g. to schedule a save. A uuid generated at load is a change before any callback is set:
  /// version() > 0 right after construction then.
  void set_on_change(std::function<void()> f);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// to_iso8601() and parse_iso8601() are declared in pool_file.hpp.

}  // namespace aiclient::pool
