#include "aiclient/pool/pool_manager.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace aiclient::pool {
namespace {

using json = nlohmann::ordered_json;

struct entry {
  std::shared_ptr<const instance> config;
  instance_state state;
  // Value of the pick counter when this instance was last picked; 0 = never (or just
  // recovered): the lowest goes first, file order breaks the tie between zeros.
  std::uint64_t last_pick = 0;
};

using entry_map = std::map<std::string, std::vector<entry>, std::less<>>;

// Failure messages go to the file and to /provider_health: one line, bounded.
std::string one_line(std::string_view msg, std::string_view fallback) {
  constexpr std::size_t max_bytes = 300;
  if (msg.empty()) msg = fallback;
  std::string out;
  out.reserve(std::min(msg.size(), max_bytes));
  for (const char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

std::optional<time_point> floor_ms(std::optional<time_point> t) {
  if (!t) return t;
  return std::chrono::floor<std::chrono::milliseconds>(*t);
}

json timestamp_json(const std::optional<time_point>& t) {
  return t ? json(to_iso8601(*t)) : json(nullptr);
}

bool cooling(const instance_state& st, time_point now) {
  return st.cooldown_until && *st.cooldown_until > now;
}

// The state as written into the file: what parse_pools() gives back for it.
instance_state as_written(const instance_state& st, time_point now) {
  instance_state w;
  w.is_healthy = st.is_healthy;
  w.is_disabled = st.is_disabled;
  w.last_used = floor_ms(st.last_used);
  w.usage_count = st.usage_count;
  w.error_count = st.error_count;
  w.last_error_time = floor_ms(st.last_error_time);
  w.last_error_message = st.last_error_message;
  if (cooling(st, now)) w.cooldown_until = floor_ms(st.cooldown_until);
  w.last_health_check = floor_ms(st.last_health_check);
  return w;
}

// Writes the persisted state fields into one instance object of the document.
void write_state(json& obj, const entry& e, time_point now) {
  const instance_state& st = e.state;
  obj["isHealthy"] = st.is_healthy;
  if (st.is_disabled || obj.contains("isDisabled")) obj["isDisabled"] = st.is_disabled;
  obj["lastUsed"] = timestamp_json(st.last_used);
  obj["usageCount"] = st.usage_count;
  obj["errorCount"] = st.error_count;
  obj["lastErrorTime"] = timestamp_json(st.last_error_time);
  if (!st.last_error_message.empty()) {
    obj["lastErrorMessage"] = st.last_error_message;
  } else if (const auto it = obj.find("lastErrorMessage");
             it != obj.end() && !(it->is_null() || (it->is_string() && it->empty()))) {
    *it = nullptr;
  }
  if (cooling(st, now))
    obj["cooldownUntil"] = to_iso8601(*st.cooldown_until);
  else if (obj.contains("cooldownUntil"))
    obj["cooldownUntil"] = nullptr;
  if (st.last_health_check) obj["lastHealthCheckTime"] = to_iso8601(*st.last_health_check);
  if (e.config->uuid_generated) obj["uuid"] = e.config->uuid;
}

// A document for pools built without one (by hand): each instance's string fields.
json build_document(const pools& p) {
  json doc = json::object();
  for (const auto& [type, list] : p.by_type) {
    json arr = json::array();
    for (const auto& inst : list) {
      json obj = json::object();
      for (const auto& [key, value] : inst.fields) obj[key] = value;
      if (!obj.contains("uuid")) obj["uuid"] = inst.uuid;
      if (!inst.supported_models.empty()) obj["supportedModels"] = inst.supported_models;
      if (!inst.not_supported_models.empty()) obj["notSupportedModels"] = inst.not_supported_models;
      arr.push_back(std::move(obj));
    }
    doc[type] = std::move(arr);
  }
  return doc;
}

std::string counts_phrase(std::size_t cooling_n, std::size_t unhealthy_n, std::size_t disabled_n,
                          const std::string& cooling_until) {
  std::string out;
  const auto add = [&out](std::size_t n, const std::string& what) {
    if (n == 0) return;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + what;
  };
  add(cooling_n, "rate limited until " + cooling_until);
  add(unhealthy_n, "unhealthy");
  add(disabled_n, "disabled");
  return out;
}

}  // namespace

struct pool_manager::impl {
  manager_options opts;
  clock_fn now;
  mutable std::mutex mu;
  entry_map by_type;
  std::shared_ptr<const json> document;
  // Per uuid: the state fields as the file holds them (last serialize(), or as loaded), to
  // tell an operator's edit from our own values on reload().
  mutable std::unordered_map<std::string, instance_state> in_file;
  std::uint64_t pick_seq = 0;
  std::uint64_t version = 0;
  std::shared_ptr<const std::function<void()>> on_change;

  entry* find_locked(std::string_view type, std::string_view uuid) {
    const auto it = by_type.find(type);
    if (it == by_type.end()) return nullptr;
    for (auto& e : it->second)
      if (e.config->uuid == uuid) return &e;
    return nullptr;
  }

  // Takes the pools' instances and document (no lock: the caller holds it or constructs).
  entry_map adopt(pools& p) {
    if (p.document) {
      document = p.document;
    } else {
      document = std::make_shared<const json>(build_document(p));
      for (auto& [type, list] : p.by_type)
        for (std::size_t i = 0; i < list.size(); ++i) list[i].index = i;
    }
    entry_map out;
    for (auto& [type, list] : p.by_type) {
      auto& vec = out[type];
      vec.reserve(list.size());
      for (auto& inst : list) {
        entry e;
        e.state = inst.state;
        // Pools built by hand may set either copy of the two flags.
        e.state.is_healthy = inst.is_healthy && inst.state.is_healthy;
        e.state.is_disabled = inst.is_disabled || inst.state.is_disabled;
        e.config = std::make_shared<const instance>(std::move(inst));
        vec.push_back(std::move(e));
      }
    }
    return out;
  }

  // Bumps the version, leaves the lock and tells the listener.
  void changed(std::unique_lock<std::mutex>& lk) {
    ++version;
    const auto cb = on_change;
    lk.unlock();
    if (cb && *cb) (*cb)();
  }
};

pool_manager::pool_manager(pools p, manager_options opts, clock_fn now)
    : impl_(std::make_unique<impl>()) {
  impl_->opts = opts;
  if (impl_->opts.max_error_count < 1) impl_->opts.max_error_count = 1;
  impl_->now = now ? std::move(now) : [] { return std::chrono::system_clock::now(); };
  const bool generated = p.generated_uuids() > 0;
  impl_->by_type = impl_->adopt(p);
  for (const auto& [type, list] : impl_->by_type)
    for (const auto& e : list) impl_->in_file[e.config->uuid] = e.state;
  // A generated uuid exists only in memory so far: the file must be saved.
  if (generated) impl_->version = 1;
}

pool_manager::~pool_manager() = default;

pick_result pool_manager::pick(std::string_view type, std::string_view model,
                               const std::vector<std::string>& avoid) {
  const time_point now = impl_->now();
  pick_result r;
  std::lock_guard lk(impl_->mu);
  const auto it = impl_->by_type.find(type);
  if (it == impl_->by_type.end() || it->second.empty()) {
    r.reason = no_pick_reason::no_instances;
    r.message = "no instance of " + std::string(type) + " is configured";
    return r;
  }
  std::size_t mismatch = 0, disabled = 0, unhealthy = 0, cooling_n = 0;
  entry* best = nullptr;          // least recently picked, not avoided
  entry* best_avoided = nullptr;  // least recently picked among the avoided
  for (auto& e : it->second) {
    if (!e.config->serves_model(model)) {
      ++mismatch;
    } else if (e.state.is_disabled) {
      ++disabled;
    } else if (!e.state.is_healthy) {
      ++unhealthy;
    } else if (cooling(e.state, now)) {
      ++cooling_n;
      if (!r.next_cooldown_end || *e.state.cooldown_until < *r.next_cooldown_end)
        r.next_cooldown_end = e.state.cooldown_until;
    } else {
      const bool avoided = std::find(avoid.begin(), avoid.end(), e.config->uuid) != avoid.end();
      entry*& slot = avoided ? best_avoided : best;
      if (!slot || e.last_pick < slot->last_pick) slot = &e;
    }
  }
  if (entry* chosen = best ? best : best_avoided) {
    chosen->last_pick = ++impl_->pick_seq;
    r.inst = chosen->config;
    r.next_cooldown_end.reset();
    return r;
  }
  const std::string t(type);
  const std::size_t serving = it->second.size() - mismatch;
  // "for model X" only when the model narrowed the candidates.
  const std::string scope = mismatch > 0 ? " for model " + std::string(model) : "";
  if (serving == 0) {
    r.reason = no_pick_reason::no_model_match;
    r.message = "no instance of " + t + " serves model " + std::string(model);
  } else if (cooling_n > 0) {
    r.reason = no_pick_reason::all_cooling_down;
    const std::string until = to_iso8601(*r.next_cooldown_end);
    if (cooling_n == serving)
      r.message = "all instances of " + t + scope + " are rate limited until " + until;
    else
      r.message = "no instance of " + t + scope +
                  " is available: " + counts_phrase(cooling_n, unhealthy, disabled, until);
  } else if (unhealthy > 0) {
    r.reason = no_pick_reason::all_unhealthy;
    r.message =
        "no healthy instance of " + t + scope + ": " + counts_phrase(0, unhealthy, disabled, "");
  } else {
    r.reason = no_pick_reason::all_disabled;
    r.message = "no enabled instance of " + t + scope + ": " + counts_phrase(0, 0, disabled, "");
  }
  return r;
}

void pool_manager::report(std::string_view type, std::string_view uuid, const outcome& o) {
  const time_point now = impl_->now();
  std::unique_lock lk(impl_->mu);
  entry* e = impl_->find_locked(type, uuid);
  if (!e) return;
  instance_state& st = e->state;
  switch (o.what) {
    case outcome::kind::success:
      st.is_healthy = true;
      st.error_count = 0;
      ++st.usage_count;
      st.last_used = now;
      st.rate_limit_streak = 0;
      break;
    case outcome::kind::failure:
    case outcome::kind::fatal:
      if (st.error_count < std::numeric_limits<int>::max()) ++st.error_count;
      st.last_error_time = now;
      st.last_error_message = one_line(o.message, "request failed");
      if (st.error_count >= impl_->opts.max_error_count || o.what == outcome::kind::fatal)
        st.is_healthy = false;
      break;
    case outcome::kind::rate_limited: {
      using std::chrono::seconds;
      seconds delay;
      if (o.retry_after) {
        delay = std::max(*o.retry_after, seconds(0));
      } else {
        // base * 2^streak, without overflowing: past the cap the cap is the answer.
        delay = std::max(impl_->opts.rate_limit_base, seconds(0));
        for (int i = 0; i < st.rate_limit_streak && delay < impl_->opts.rate_limit_max; ++i)
          delay *= 2;
      }
      delay = std::min(delay, impl_->opts.rate_limit_max);
      st.cooldown_until = o.quota_reset ? *o.quota_reset : now + delay;
      if (st.rate_limit_streak < 62) ++st.rate_limit_streak;
      break;
    }
    case outcome::kind::client_error:
      ++st.usage_count;
      st.last_used = now;
      break;
  }
  impl_->changed(lk);
}

void pool_manager::quota_exhausted_until(std::string_view type, std::string_view uuid,
                                         time_point until) {
  std::unique_lock lk(impl_->mu);
  entry* e = impl_->find_locked(type, uuid);
  if (!e) return;
  e->state.cooldown_until = until;
  impl_->changed(lk);
}

void pool_manager::report_health_check(std::string_view type, std::string_view uuid, bool ok,
                                       std::string_view message) {
  const time_point now = impl_->now();
  std::unique_lock lk(impl_->mu);
  entry* e = impl_->find_locked(type, uuid);
  if (!e) return;
  instance_state& st = e->state;
  st.last_health_check = now;
  if (ok) {
    st.last_health_check_result = one_line(message, "ok");
    if (!st.is_healthy) e->last_pick = 0;  // back from unhealthy: it goes first
    st.is_healthy = true;
    st.error_count = 0;
  } else {
    st.last_health_check_result = one_line(message, "health check failed");
    if (st.is_healthy) {
      if (st.error_count < std::numeric_limits<int>::max()) ++st.error_count;
      st.last_error_time = now;
      st.last_error_message = st.last_health_check_result;
      if (st.error_count >= impl_->opts.max_error_count) st.is_healthy = false;
    }
  }
  impl_->changed(lk);
}

bool pool_manager::set_disabled(std::string_view type, std::string_view uuid, bool disabled) {
  std::unique_lock lk(impl_->mu);
  entry* e = impl_->find_locked(type, uuid);
  if (!e) return false;
  if (e->state.is_disabled == disabled) return true;
  e->state.is_disabled = disabled;
  impl_->changed(lk);
  return true;
}

bool pool_manager::reset_health(std::string_view type, std::string_view uuid) {
  std::unique_lock lk(impl_->mu);
  entry* e = impl_->find_locked(type, uuid);
  if (!e) return false;
  e->state.is_healthy = true;
  e->state.error_count = 0;
  e->state.cooldown_until.reset();
  e->state.rate_limit_streak = 0;
  e->last_pick = 0;
  impl_->changed(lk);
  return true;
}

std::map<std::string, std::vector<instance_view>, std::less<>> pool_manager::snapshot() const {
  std::map<std::string, std::vector<instance_view>, std::less<>> out;
  std::lock_guard lk(impl_->mu);
  for (const auto& [type, list] : impl_->by_type) {
    auto& vec = out[type];
    vec.reserve(list.size());
    for (const auto& e : list) vec.push_back({e.config, e.state});
  }
  return out;
}

std::optional<instance_view> pool_manager::find(std::string_view type,
                                                std::string_view uuid) const {
  std::lock_guard lk(impl_->mu);
  const entry* e = impl_->find_locked(type, uuid);
  if (!e) return std::nullopt;
  return instance_view{e->config, e->state};
}

std::vector<std::string> pool_manager::types() const {
  std::vector<std::string> out;
  std::lock_guard lk(impl_->mu);
  for (const auto& [type, list] : impl_->by_type)
    if (!list.empty()) out.push_back(type);
  return out;
}

std::string pool_manager::serialize() const {
  const time_point now = impl_->now();
  json doc;
  {
    std::lock_guard lk(impl_->mu);
    doc = *impl_->document;
    for (const auto& [type, list] : impl_->by_type) {
      const auto arr = doc.find(type);
      if (arr == doc.end() || !arr->is_array()) continue;
      for (const auto& e : list) {
        if (e.config->index >= arr->size() || !(*arr)[e.config->index].is_object()) continue;
        write_state((*arr)[e.config->index], e, now);
        impl_->in_file[e.config->uuid] = as_written(e.state, now);
      }
    }
  }
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

void pool_manager::reload(pools p) {
  std::unique_lock lk(impl_->mu);
  entry_map old = std::move(impl_->by_type);
  entry_map fresh = impl_->adopt(p);
  std::unordered_map<std::string, instance_state> in_file;
  for (auto& [type, list] : fresh) {
    const auto old_list = old.find(type);
    for (auto& e : list) {
      const std::string& uuid = e.config->uuid;
      const instance_state file = e.state;  // what the new file says
      in_file[uuid] = file;
      if (old_list == old.end()) continue;
      const auto prev = std::find_if(old_list->second.begin(), old_list->second.end(),
                                     [&](const entry& o) { return o.config->uuid == uuid; });
      if (prev == old_list->second.end()) continue;  // new instance: the file's state
      // A matched instance keeps its runtime state, but a field the operator changed in the
      // file (it differs from what the file held as far as we know) takes the file's value.
      const auto known = impl_->in_file.find(uuid);
      const instance_state& was = known != impl_->in_file.end() ? known->second : prev->state;
      instance_state st = prev->state;
      const bool healed_by_hand = file.is_healthy && !was.is_healthy && !prev->state.is_healthy;
      if (file.is_healthy != was.is_healthy) st.is_healthy = file.is_healthy;
      if (file.is_disabled != was.is_disabled) st.is_disabled = file.is_disabled;
      if (file.last_used != was.last_used) st.last_used = file.last_used;
      if (file.usage_count != was.usage_count) st.usage_count = file.usage_count;
      if (file.error_count != was.error_count) st.error_count = file.error_count;
      if (file.last_error_time != was.last_error_time) st.last_error_time = file.last_error_time;
      if (file.last_error_message != was.last_error_message)
        st.last_error_message = file.last_error_message;
      if (file.cooldown_until != was.cooldown_until) {
        st.cooldown_until = file.cooldown_until;
        st.rate_limit_streak = 0;
      }
      if (file.last_health_check != was.last_health_check)
        st.last_health_check = file.last_health_check;
      e.last_pick = prev->last_pick;
      if (healed_by_hand) {
        // Marked healthy by hand: as a reset, unless the operator also set the count.
        if (file.error_count == was.error_count) st.error_count = 0;
        e.last_pick = 0;
      }
      e.state = std::move(st);
    }
  }
  impl_->by_type = std::move(fresh);
  impl_->in_file = std::move(in_file);
  impl_->changed(lk);
}

std::uint64_t pool_manager::version() const {
  std::lock_guard lk(impl_->mu);
  return impl_->version;
}

void pool_manager::set_on_change(std::function<void()> f) {
  auto cb = std::make_shared<const std::function<void()>>(std::move(f));
  std::lock_guard lk(impl_->mu);
  impl_->on_change = std::move(cb);
}

}  // namespace aiclient::pool
