// The token manager: one thread with its own io_context and upstream client, where every
// credentials file has a state (parsed credentials, the refresh in flight, the Gemini project).
// All state is touched on that thread only, so single-flight needs no locks: the first caller
// that needs a refresh starts it, later callers wait on the same flight.
#include "aiclient/auth/token_manager.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>
#include <thread>
#include <unordered_map>

#include "aiclient/upstream/client.hpp"
#include "aiclient/util/atomic_file.hpp"
#include "aiclient/util/strings.hpp"
#include "credentials.hpp"

namespace aiclient::auth {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_answer_bytes = 1024 * 1024;
// A refresh within this window makes another one (force after a 401 included) unnecessary.
constexpr auto recent_refresh = std::chrono::seconds(5);
// A token with less life than this left is not handed out when its refresh failed.
constexpr auto min_validity = std::chrono::seconds(30);
constexpr const char* gemini_user_agent = "GeminiCLI/0.56.0 (linux; x64; terminal)";

/// A refresh or discovery in progress; the callers that need its result wait on `done`,
/// which is cancelled (waking them all) when `finished` is set.
template <class Result>
struct flight {
  explicit flight(const asio::any_io_executor& ex) : done(ex, steady::time_point::max()) {}
  asio::steady_timer done;
  bool finished = false;
  Result result;
};

struct project_result {
  std::string project;
  std::string error;
};

/// One credentials file (per provider type).
struct file_state {
  detail::provider kind = detail::provider::gemini;
  std::string path;
  std::optional<util::file_identity> identity;  ///< of the version `creds` came from
  std::optional<detail::credentials> creds;
  std::optional<util::file_identity> bad_identity;  ///< unparseable version already reported
  std::shared_ptr<flight<detail::refresh_outcome>> refresh;
  std::optional<steady::time_point> refreshed_at;
  std::string dead_error;  ///< permanent refresh failure of the version `dead_identity`
  std::optional<util::file_identity> dead_identity;
  std::string project;  ///< gemini: discovered Code Assist project
  std::shared_ptr<flight<project_result>> discovery;
};

struct http_answer {
  int status = 0;
  std::string body;
  std::string error;  ///< transport failure ("" when an HTTP answer arrived)
};

using header_list = std::vector<std::pair<std::string, std::string>>;

template <class F>
asio::awaitable<bool> wait_for(std::shared_ptr<F> f) {
  if (!f->finished) co_await f->done.async_wait(use_tuple);
  co_return f->finished;
}

template <class F, class R>
void complete(const std::shared_ptr<F>& f, R result) {
  f->result = std::move(result);
  f->finished = true;
  f->done.cancel();
}

std::string json_string(const json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A Code Assist project: a string, or an object with "id".
std::string project_id(const json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  return json_string(*it, "id");
}

/// The Google RPC error message of an answer (array-wrapped too), scrubbed.
std::string google_error(std::string_view body, const std::vector<std::string>& secrets) {
  json j = json::parse(body, nullptr, false);
  if (j.is_array() && !j.empty()) j = j[0];
  if (!j.is_object()) return {};
  const auto e = j.find("error");
  if (e == j.end()) return {};
  std::string text = e->is_object()   ? json_string(*e, "message")
                     : e->is_string() ? e->get<std::string>()
                                      : std::string();
  return detail::scrub(text, secrets, 300);
}

std::string ineligible_reasons(const json& load) {
  std::string out;
  const auto it = load.find("ineligibleTiers");
  if (it == load.end() || !it->is_array()) return out;
  for (const auto& t : *it) {
    const std::string message = json_string(t, "reasonMessage");
    const std::string code = json_string(t, "reasonCode");
    const std::string url = json_string(t, "validationUrl");
    std::string part = message.empty() ? code : message;
    if (!message.empty() && !code.empty()) part += " [" + code + "]";
    if (!url.empty()) part += " (" + url + ")";
    if (part.empty()) continue;
    if (!out.empty()) out += "; ";
    out += part;
  }
  return out.empty() ? out : detail::scrub(out, {}, 2000);
}

bool valid_operation_name(std::string_view name) {
  if (name.empty() || name.size() > 512 || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

struct token_manager::impl {
  impl(endpoints e, manager_options o)
      : ep_(std::move(e)), opts_(std::move(o)), work_(asio::make_work_guard(ioc_)) {
    tls_ = upstream::make_client_tls_context(opts_.ca_file);
    upstream::options co;
    co.connect_timeout = opts_.http_timeout;
    co.first_byte_timeout = opts_.http_timeout;
    co.idle_timeout = opts_.http_timeout;
    co.max_idle_per_host = 4;
    co.proxy_url = opts_.proxy_url;
    client_ = std::make_unique<upstream::client>(ioc_.get_executor(), *tls_, co);
    thread_ = std::thread([this] {
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("token manager: unexpected exception: {}", e.what());
        } catch (...) {
          spdlog::error("token manager: unexpected exception");
        }
      }
    });
  }

  /// Ends every exchange, poll and timer, lets the coroutines finish, joins the thread.
  void shutdown() {
    asio::post(ioc_, [this] {
      stopping_ = true;
      const auto exchanges = exchanges_;
      for (auto* c : exchanges) c->cancel();
      const auto sleeps = sleeps_;
      for (auto* t : sleeps) t->cancel();
    });
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  // ---- helpers (manager thread) ----

  /// Finds (or makes) the state of the instance's credentials file.
  std::string locate(const pool::instance& inst, std::shared_ptr<file_state>& st) {
    const auto kind = detail::provider_of(inst.type);
    if (!kind) return "instance type '" + inst.type + "' has no OAuth credentials file";
    const std::string field = creds_field(inst.type);
    const std::string raw(util::trim(inst.field(field)));
    if (raw.empty()) return "instance " + inst.uuid + ": " + field + " is not set";
    const std::string path = detail::expand_home(raw);
    auto& slot = files_[inst.type + '\n' + path];
    if (!slot) {
      slot = std::make_shared<file_state>();
      slot->kind = *kind;
      slot->path = path;
    }
    st = slot;
    return {};
  }

  /// (Re-)reads the file when it is new or changed on disk. Returns "" or an error.
  std::string load(file_state& st) {
    const auto id = util::identify_file(st.path);
    if (id && st.creds && st.identity == id) return {};
    auto r = detail::load_credentials(st.kind, st.path);
    if (!r.creds) {
      if (id && st.creds) {
        // A broken version of a file read fine before (maybe being rewritten by a tool that
        // does not write atomically): keep the last good credentials, read it again next time.
        if (st.bad_identity != id)
          spdlog::warn("{}; using the credentials read from it before", r.error);
        st.bad_identity = id;
        return {};
      }
      st.creds.reset();
      st.identity.reset();
      return r.error;
    }
    if (st.creds && st.creds->refresh_token != r.creds->refresh_token) st.project.clear();
    st.creds = std::move(r.creds);
    st.identity = id;
    st.bad_identity.reset();
    return {};
  }

  static bool usable(const detail::credentials& c) {
    if (c.access_token.empty()) return false;
    if (!c.refreshable) return true;
    return c.expires_at && *c.expires_at - system_clock::now() > min_validity;
  }

  bool needs_refresh(const file_state& st, bool force) const {
    const auto& c = *st.creds;
    if (!c.refreshable) return false;
    if (st.refreshed_at && steady::now() - *st.refreshed_at < recent_refresh && usable(c))
      return false;
    if (force) return true;
    return c.access_token.empty() || !c.expires_at ||
           *c.expires_at - system_clock::now() <= opts_.near;
  }

  token_result make_token(const file_state& st, const pool::instance& inst) const {
    token_result r;
    if (!st.creds) {
      r.error = "credentials file '" + st.path + "' is not loaded";
      return r;
    }
    const auto& c = *st.creds;
    token t;
    t.access_token = c.access_token;
    t.expires_at = c.expires_at.value_or(system_clock::now() + std::chrono::hours(24 * 365));
    t.facts = detail::facts_of(c);
    if (st.kind == detail::provider::gemini) {
      std::string project(util::trim(inst.field("PROJECT_ID")));
      if (project.empty()) project = st.project;
      if (!project.empty()) t.facts["project"] = project;
    }
    r.tok = std::move(t);
    return r;
  }

  token_result finish(const file_state& st, const pool::instance& inst,
                      const detail::refresh_outcome& outcome, bool force, bool strict) const {
    if (outcome.error.empty()) return make_token(st, inst);
    // A refresh ahead of time failed, but the token still works for a while: use it.
    if (!force && !strict && st.creds && usable(*st.creds)) return make_token(st, inst);
    token_result r;
    r.error = outcome.error;
    r.permanent = outcome.permanent;
    return r;
  }

  /// A valid token: reads the file, refreshes when due (single-flight). `strict`: a failed
  /// refresh is an error even when the old token still has life left (the timer's view).
  asio::awaitable<token_result> obtain(std::shared_ptr<const pool::instance> inst, bool force,
                                       bool strict) {
    token_result out;
    try {
      if (stopping_) {
        out.error = "token manager is stopping";
        co_return out;
      }
      std::shared_ptr<file_state> st;
      if (std::string e = locate(*inst, st); !e.empty()) {
        out.error = std::move(e);
        co_return out;
      }
      // The refresh may run to completion inside start_refresh() (co_spawn starts it at once
      // when it fails before any I/O), so keep the flight it returns.
      auto f = st->refresh;
      if (!f) {
        if (std::string e = load(*st); !e.empty()) {
          out.error = std::move(e);
          co_return out;
        }
        if (!needs_refresh(*st, force)) co_return make_token(*st, *inst);
        // A refresh token that was refused stays dead until someone logs in again.
        if (!st->dead_error.empty() && st->dead_identity == st->identity)
          co_return finish(*st, *inst, {st->dead_error, true}, force, strict);
        f = start_refresh(st, *inst);
      }
      if (!co_await wait_for(f)) {
        out.error = "token request cancelled";
        co_return out;
      }
      co_return finish(*st, *inst, f->result, force, strict);
    } catch (const std::exception&) {
      out.error = "token manager: internal error";
    }
    co_return out;
  }

  std::shared_ptr<flight<detail::refresh_outcome>> start_refresh(
      const std::shared_ptr<file_state>& st, const pool::instance& inst) {
    auto f = std::make_shared<flight<detail::refresh_outcome>>(ioc_.get_executor());
    st->refresh = f;
    asio::co_spawn(ioc_, run_refresh(st, f, detail::endpoints_for(ep_, inst)), asio::detached);
    return f;
  }

  asio::awaitable<void> run_refresh(std::shared_ptr<file_state> st,
                                    std::shared_ptr<flight<detail::refresh_outcome>> f,
                                    endpoints ep) {
    detail::refresh_outcome out;
    try {
      out = co_await refresh_once(*st, ep);
    } catch (const std::exception&) {
      out.error = "token refresh for '" + st->path + "' failed: internal error";
    }
    if (!out.error.empty()) spdlog::warn("{}", out.error);
    if (out.permanent) {
      st->dead_error = out.error;
      st->dead_identity = st->identity;
    }
    st->refresh.reset();
    complete(f, std::move(out));
  }

  asio::awaitable<detail::refresh_outcome> refresh_once(file_state& st, const endpoints& ep) {
    const std::string what = "token refresh for '" + st.path + "' failed: ";
    detail::credentials c = *st.creds;
    detail::refresh_request req;
    if (std::string e = detail::build_refresh(c, ep, req); !e.empty())
      co_return detail::refresh_outcome{std::move(e), false};
    const http_answer a = co_await exchange("POST", req.url, req.headers, req.body);
    if (!a.error.empty()) co_return detail::refresh_outcome{what + a.error, false};
    auto outcome =
        detail::apply_refresh_answer(c, a.status, a.body, system_clock::now(), req.secrets);
    if (!outcome.error.empty()) {
      outcome.error = what + outcome.error;
      co_return outcome;
    }
    const std::string write_error = detail::write_back(c);
    if (!write_error.empty())
      spdlog::error("token refreshed, but its credentials file was not updated: {}", write_error);
    st.creds = std::move(c);
    if (write_error.empty()) st.identity = util::identify_file(st.path);
    st.refreshed_at = steady::now();
    spdlog::info("refreshed the OAuth token of '{}'", st.path);
    co_return outcome;
  }

  /// One HTTP exchange on the manager's client; cancelled at shutdown.
  asio::awaitable<http_answer> exchange(std::string method, const std::string& url,
                                        const header_list& headers, std::string body) {
    http_answer a;
    const auto target = upstream::url::parse(url);
    if (!target) {
      a.error = "the endpoint URL is not a valid http(s) URL";
      co_return a;
    }
    if (stopping_) {
      a.error = "token manager is stopping";
      co_return a;
    }
    upstream::request req;
    req.method = std::move(method);
    req.target = *target;
    req.headers = headers;
    req.body = std::move(body);
    upstream::cancel_token cancel;
    exchanges_.insert(&cancel);
    struct unregister {
      std::set<upstream::cancel_token*>& set;
      upstream::cancel_token* token;
      ~unregister() { set.erase(token); }
    } guard{exchanges_, &cancel};
    upstream::send_result r = co_await client_->send(std::move(req), &cancel);
    if (r.error != upstream::failure::none) {
      a.error = r.detail.empty() ? std::string(upstream::to_string(r.error)) : r.detail;
      co_return a;
    }
    auto [f, text] = co_await r.resp->read_all(max_answer_bytes);
    if (f != upstream::failure::none) {
      a.error = "reading the answer from " + target->authority() + ": " +
                std::string(upstream::to_string(f));
      co_return a;
    }
    a.status = r.resp->status();
    a.body = std::move(text);
    co_return a;
  }

  /// Sleeps; false when the manager is stopping.
  asio::awaitable<bool> sleep(steady::duration d) {
    if (stopping_) co_return false;
    asio::steady_timer t(ioc_, d);
    sleeps_.insert(&t);
    co_await t.async_wait(use_tuple);
    sleeps_.erase(&t);
    co_return !stopping_;
  }

  // ---- gemini project discovery ----

  asio::awaitable<std::pair<std::string, std::string>> resolve_project(
      std::shared_ptr<const pool::instance> inst) {
    std::pair<std::string, std::string> out;
    try {
      if (inst->type != "gemini-cli-oauth") {
        out.second = "instance type '" + inst->type + "' has no Code Assist project";
        co_return out;
      }
      if (std::string p(util::trim(inst->field("PROJECT_ID"))); !p.empty()) {
        out.first = std::move(p);
        co_return out;
      }
      if (stopping_) {
        out.second = "token manager is stopping";
        co_return out;
      }
      std::shared_ptr<file_state> st;
      if (std::string e = locate(*inst, st); !e.empty()) {
        out.second = std::move(e);
        co_return out;
      }
      if (!st->refresh) load(*st);  // a new login clears the cached project
      if (!st->project.empty()) {
        out.first = st->project;
        co_return out;
      }
      auto f = st->discovery;
      if (!f) {
        f = std::make_shared<flight<project_result>>(ioc_.get_executor());
        st->discovery = f;
        asio::co_spawn(ioc_, run_discovery(st, f, inst), asio::detached);
      }
      if (!co_await wait_for(f)) {
        out.second = "project discovery cancelled";
        co_return out;
      }
      out = {f->result.project, f->result.error};
    } catch (const std::exception&) {
      out = {std::string(), "gemini project discovery: internal error"};
    }
    co_return out;
  }

  asio::awaitable<void> run_discovery(std::shared_ptr<file_state> st,
                                      std::shared_ptr<flight<project_result>> f,
                                      std::shared_ptr<const pool::instance> inst) {
    project_result res;
    try {
      res = co_await discover(*st, inst);
    } catch (const std::exception&) {
      res.error = "gemini project discovery for '" + st->path + "' failed: internal error";
    }
    if (res.error.empty()) {
      st->project = res.project;
      spdlog::info("gemini-cli-oauth: Code Assist project of '{}' is {}", st->path, res.project);
    } else {
      spdlog::warn("{}", res.error);
    }
    st->discovery.reset();
    complete(f, std::move(res));
  }

  /// A Code Assist call; on a 401 the token is refreshed (forced) and the call made again once.
  asio::awaitable<http_answer> code_assist_call(const std::shared_ptr<const pool::instance>& inst,
                                                std::string& access, const std::string& method,
                                                const std::string& url, const std::string& body) {
    for (int attempt = 0;; ++attempt) {
      header_list headers = {{"Authorization", "Bearer " + access},
                             {"Accept", "application/json"},
                             {"User-Agent", gemini_user_agent}};
      if (method != "GET") headers.emplace_back("Content-Type", "application/json");
      http_answer a = co_await exchange(method, url, headers, body);
      if (a.error.empty() && a.status == 401 && attempt == 0) {
        const token_result t = co_await obtain(inst, true, false);
        if (t.tok) {
          access = t.tok->access_token;
          continue;
        }
      }
      co_return a;
    }
  }

  asio::awaitable<project_result> discover(file_state& st,
                                           std::shared_ptr<const pool::instance> inst) {
    const std::string what = "gemini project discovery for '" + st.path + "' failed: ";
    const auto fail = [&](const std::string& why) { return project_result{{}, what + why}; };
    const token_result tok = co_await obtain(inst, false, false);
    if (!tok.tok) co_return project_result{{}, "gemini project discovery: " + tok.error};
    std::string access = tok.tok->access_token;
    const endpoints ep = detail::endpoints_for(ep_, *inst);
    std::string base = ep.gemini_code_assist_base;
    while (!base.empty() && base.back() == '/') base.pop_back();
    json metadata = json::object();
    metadata["ideType"] = "IDE_UNSPECIFIED";
    metadata["platform"] = "PLATFORM_UNSPECIFIED";
    metadata["pluginType"] = "GEMINI";

    // Checks an answer and parses its JSON object; "" or the reason.
    const auto check = [&](const char* call, const http_answer& a, json& out) -> std::string {
      if (!a.error.empty()) return std::string(call) + ": " + a.error;
      if (a.status != 200) {
        std::string e = std::string(call) + ": HTTP " + std::to_string(a.status);
        const std::string msg = google_error(a.body, {access});
        if (!msg.empty()) e += " (" + msg + ")";
        return e;
      }
      out = json::parse(a.body, nullptr, false);
      if (!out.is_object()) return std::string(call) + ": the answer is not a JSON object";
      return {};
    };

    json load_request = json::object();
    load_request["metadata"] = metadata;
    const std::string load_body = load_request.dump();
    json load;
    {
      const http_answer a =
          co_await code_assist_call(inst, access, "POST", base + ":loadCodeAssist", load_body);
      if (std::string e = check("loadCodeAssist", a, load); !e.empty()) co_return fail(e);
    }
    const std::string ineligible = ineligible_reasons(load);
    const auto current = load.find("currentTier");
    if (current != load.end() && !current->is_null()) {
      std::string project = project_id(load, "cloudaicompanionProject");
      if (!project.empty()) co_return project_result{std::move(project), {}};
      if (!ineligible.empty())
        co_return fail("Gemini Code Assist is not available for this account: " + ineligible);
      co_return fail("the account has no Code Assist project: set PROJECT_ID on the instance");
    }

    // Not onboarded yet: onboard with the default allowed tier.
    std::string tier_id;
    bool user_project_needed = false;
    if (const auto allowed = load.find("allowedTiers");
        allowed != load.end() && allowed->is_array()) {
      for (const auto& t : *allowed) {
        if (!t.is_object()) continue;
        const auto d = t.find("isDefault");
        if (d == t.end() || !d->is_boolean() || !d->get<bool>()) continue;
        tier_id = json_string(t, "id");
        const auto u = t.find("userDefinedCloudaicompanionProject");
        user_project_needed = u != t.end() && u->is_boolean() && u->get<bool>();
        break;
      }
    }
    if (tier_id.empty()) {
      if (!ineligible.empty())
        co_return fail("Gemini Code Assist is not available for this account: " + ineligible);
      tier_id = "legacy-tier";
    }
    if (tier_id != "free-tier" && user_project_needed)
      co_return fail("the Code Assist tier '" + tier_id +
                     "' needs a Google Cloud project: set PROJECT_ID on the instance");
    // Without PROJECT_ID no project is sent (free-tier refuses one with 412).
    json onboard_request = json::object();
    onboard_request["tierId"] = tier_id;
    onboard_request["metadata"] = metadata;
    const std::string onboard_body = onboard_request.dump();
    json lro;
    {
      const http_answer a =
          co_await code_assist_call(inst, access, "POST", base + ":onboardUser", onboard_body);
      if (std::string e = check("onboardUser", a, lro); !e.empty()) co_return fail(e);
    }
    for (int polls = 0;; ++polls) {
      const auto done = lro.find("done");
      if (done != lro.end() && done->is_boolean() && done->get<bool>()) break;
      if (polls >= opts_.onboard_poll_attempts)
        co_return fail("onboardUser did not finish after " + std::to_string(polls) + " polls");
      if (!co_await sleep(opts_.onboard_poll_interval)) co_return fail("the manager is stopping");
      const std::string name = json_string(lro, "name");
      http_answer a;
      if (name.empty()) {
        // No operation to poll: ask again (as AIClient does).
        a = co_await code_assist_call(inst, access, "POST", base + ":onboardUser", onboard_body);
      } else if (!valid_operation_name(name)) {
        co_return fail("onboardUser returned an operation name that is not a resource path");
      } else {
        a = co_await code_assist_call(inst, access, "GET", base + "/" + name, {});
      }
      if (std::string e = check("onboardUser operation", a, lro); !e.empty()) co_return fail(e);
    }
    if (const auto err = lro.find("error"); err != lro.end() && err->is_object()) {
      const std::string msg = detail::scrub(json_string(*err, "message"), {access}, 300);
      co_return fail("onboardUser: " + (msg.empty() ? std::string("the operation failed") : msg));
    }
    const auto response = lro.find("response");
    std::string project =
        response == lro.end() ? std::string() : project_id(*response, "cloudaicompanionProject");
    if (project.empty())
      co_return fail("onboarding finished without a project: set PROJECT_ID on the instance");
    co_return project_result{std::move(project), {}};
  }

  // ---- the refresh timer ----

  asio::awaitable<void> timer_loop(
      std::function<std::vector<std::shared_ptr<const pool::instance>>()> list,
      std::function<void(const pool::instance&, const std::string&, bool)> on_failure) {
    for (;;) {
      std::vector<std::shared_ptr<const pool::instance>> instances;
      try {
        instances = list();
      } catch (const std::exception& e) {
        spdlog::error("token refresh timer: listing the instances failed: {}", e.what());
      }
      for (const auto& inst : instances) {
        if (stopping_) co_return;
        if (!inst || creds_field(inst->type).empty()) continue;
        const token_result r = co_await obtain(inst, false, true);
        if (r.tok || stopping_) continue;
        try {
          if (on_failure) on_failure(*inst, r.error, r.permanent);
        } catch (const std::exception& e) {
          spdlog::error("token refresh timer: the failure callback threw: {}", e.what());
        }
      }
      if (!co_await sleep(opts_.timer_period)) co_return;
    }
  }

  endpoints ep_;
  manager_options opts_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::unique_ptr<upstream::client> client_;
  // Manager thread only:
  bool stopping_ = false;
  bool timer_started_ = false;
  std::unordered_map<std::string, std::shared_ptr<file_state>> files_;
  std::set<upstream::cancel_token*> exchanges_;
  std::set<asio::steady_timer*> sleeps_;
  std::thread thread_;  // last: started when everything else exists
};

token_manager::token_manager(endpoints ep, manager_options opts)
    : impl_(std::make_shared<impl>(std::move(ep), std::move(opts))) {}

token_manager::~token_manager() {
  impl_->shutdown();
}

boost::asio::awaitable<token_result> token_manager::get(std::shared_ptr<const pool::instance> inst,
                                                        bool force) {
  if (!inst) co_return token_result{std::nullopt, "no instance given", false};
  co_return co_await boost::asio::co_spawn(
      impl_->ioc_, impl_->obtain(std::move(inst), force, false), boost::asio::use_awaitable);
}

boost::asio::awaitable<std::pair<std::string, std::string>> token_manager::resolve_gemini_project(
    std::shared_ptr<const pool::instance> inst) {
  if (!inst) co_return std::pair<std::string, std::string>{{}, "no instance given"};
  co_return co_await boost::asio::co_spawn(impl_->ioc_, impl_->resolve_project(std::move(inst)),
                                           boost::asio::use_awaitable);
}

void token_manager::start_timer(
    std::function<std::vector<std::shared_ptr<const pool::instance>>()> list,
    std::function<void(const pool::instance&, const std::string&, bool)> on_failure) {
  if (!impl_->opts_.refresh_timer || !list) return;
  impl* self = impl_.get();
  boost::asio::post(
      self->ioc_, [self, list = std::move(list), on_failure = std::move(on_failure)]() mutable {
        if (self->timer_started_ || self->stopping_) return;
        self->timer_started_ = true;
        boost::asio::co_spawn(self->ioc_, self->timer_loop(std::move(list), std::move(on_failure)),
                              boost::asio::detached);
      });
}

const endpoints& token_manager::urls() const noexcept {
  return impl_->ep_;
}

std::string creds_field(std::string_view provider_type) {
  if (provider_type == "gemini-cli-oauth") return "GEMINI_OAUTH_CREDS_FILE_PATH";
  if (provider_type == "openai-qwen-oauth") return "QWEN_OAUTH_CREDS_FILE_PATH";
  if (provider_type == "claude-kiro-oauth") return "KIRO_OAUTH_CREDS_FILE_PATH";
  return {};
}

}  // namespace aiclient::auth
