// The token manager: one thread with its own io_context and upstream client, where every
// credentials file has a state (parsed credentials, the refresh in flight, the Gemini project).
// All state is touched on that thread only, so single-flight needs no locks: the first caller
// that needs a refresh starts it, later callers wait on the same flight.
#include "aiclient/auth/token_manager.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>
#include <unordered_map>

#include "account_calls.hpp"
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
  bool refresh_forced = false;  ///< the refresh in flight follows a 401 (the token is bad)
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

/// The "message" (and "reason") of a Kiro error answer, scrubbed.
std::string kiro_error(std::string_view body, const std::vector<std::string>& secrets) {
  const json j = json::parse(body, nullptr, false);
  std::string text = json_string(j, "message");
  if (text.empty()) text = json_string(j, "Message");
  const std::string reason = json_string(j, "reason");
  if (!reason.empty()) text += text.empty() ? reason : " [" + reason + "]";
  return detail::scrub(text, secrets, 300);
}

/// "HTTP <status>" with the upstream's message, if any.
std::string http_failure(int status, const std::string& message) {
  std::string e = "HTTP " + std::to_string(status);
  if (!message.empty()) e += " (" + message + ")";
  return e;
}

/// The lock file Qwen Code takes around its refresh and write-back: created with O_EXCL, holding
/// a random id, removed when released (only while it still holds our id: a lock broken as
/// stale and taken by another process is left alone). The destructor releases it.
class lock_file {
 public:
  enum class attempt { taken, held, failed };

  explicit lock_file(std::string path) : path_(std::move(path)) {}
  ~lock_file() { release(); }
  lock_file(const lock_file&) = delete;
  lock_file& operator=(const lock_file&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// One attempt to create the lock file. `error` says why on `failed`.
  attempt try_take(std::string& error) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) return attempt::held;
      error = "cannot create the lock file '" + path_ + "': " + std::strerror(errno);
      return attempt::failed;
    }
    id_ = detail::random_uuid();
    const ssize_t n = ::write(fd, id_.data(), id_.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(id_.size())) {
      ::unlink(path_.c_str());
      error = "cannot write the lock file '" + path_ + "'";
      return attempt::failed;
    }
    held_ = true;
    return attempt::taken;
  }

  /// How old the existing lock file is (by its modification time); nullopt when it is gone.
  std::optional<std::chrono::milliseconds> age() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return std::nullopt;
    const auto mtime = system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    return std::chrono::duration_cast<std::chrono::milliseconds>(system_clock::now() - mtime);
  }

  /// Removes a stale lock file: renamed away first (as Qwen Code does), then deleted.
  bool break_stale() {
    const std::string aside = path_ + ".stale." + detail::random_uuid();
    if (::rename(path_.c_str(), aside.c_str()) != 0) return false;
    ::unlink(aside.c_str());
    return true;
  }

  /// Deletes the lock file if it is ours.
  void release() noexcept {
    if (!held_) return;
    held_ = false;
    std::string content, reason;
    if (detail::read_small_file(path_, content, reason) && content == id_) ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  std::string id_;
  bool held_ = false;
};

}  // namespace

struct token_manager::impl {
  impl(endpoints e, manager_options o)
      : ep_(std::move(e)), opts_(std::move(o)), work_(asio::make_work_guard(ioc_)) {
    tls_ = std::make_unique<upstream::tls_context>(opts_.ca_file);
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

  /// A token worth using instead of a refresh: valid for longer than the refresh margin.
  bool fresh_enough(const detail::credentials& c) const {
    if (c.access_token.empty()) return false;
    if (!c.refreshable) return true;
    return c.expires_at && *c.expires_at - system_clock::now() > opts_.near;
  }

  /// (Re-)reads the file when it is new or changed on disk (`always`: in any case). A token
  /// another process (the provider's own CLI, which shares the file) wrote there is adopted as
  /// if refreshed here. Returns "" or an error.
  std::string load(file_state& st, bool always = false) {
    const auto id = util::identify_file(st.path);
    if (!always && id && st.creds && st.identity == id) return {};
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
    const bool adopted =
        st.creds && r.creds->access_token != st.creds->access_token && fresh_enough(*r.creds);
    if (st.creds && st.creds->refresh_token != r.creds->refresh_token) st.project.clear();
    st.creds = std::move(r.creds);
    st.identity = id;
    st.bad_identity.reset();
    if (adopted) {
      // As good as a refresh of ours: a 401 just now was about the token it replaced.
      st.refreshed_at = steady::now();
      spdlog::info("using the new OAuth token another process wrote to '{}'", st.path);
    }
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
      // A refresh ahead of time is in flight (it may wait for another process's lock): a
      // caller whose token still works does not wait for it.
      if (f && !force && !strict && !st->refresh_forced && st->creds && usable(*st->creds))
        co_return make_token(*st, *inst);
      if (!f) {
        if (std::string e = load(*st); !e.empty()) {
          out.error = std::move(e);
          co_return out;
        }
        if (!needs_refresh(*st, force)) co_return make_token(*st, *inst);
        // A refresh token that was refused stays dead until someone logs in again.
        if (!st->dead_error.empty() && st->dead_identity == st->identity)
          co_return finish(*st, *inst, {st->dead_error, true}, force, strict);
        st->refresh_forced = force;
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
    if (out.permanent && !out.local) {
      st->dead_error = out.error;
      st->dead_identity = st->identity;
    }
    st->refresh.reset();
    complete(f, std::move(out));
  }

  asio::awaitable<detail::refresh_outcome> refresh_once(file_state& st, const endpoints& ep) {
    const std::string what = "token refresh for '" + st.path + "' failed: ";
    // Qwen Code takes <dir>/oauth_creds.lock around its refresh and write-back: so do we. It is
    // released (deleted) when this coroutine ends, whichever way.
    std::optional<lock_file> lock;
    if (st.kind == detail::provider::qwen) {
      const auto slash = st.path.rfind('/');
      lock.emplace((slash == std::string::npos ? std::string() : st.path.substr(0, slash + 1)) +
                   "oauth_creds.lock");
      if (std::string e = co_await take_lock(*lock); !e.empty())
        co_return detail::refresh_outcome{what + e, false};
    }
    // The provider's own tool shares the file and may have refreshed meanwhile: adopt its token
    // when it is fresh, else refresh with what the file holds now (Qwen and Kiro rotate refresh
    // tokens: an older one would be refused).
    const std::string before = st.creds->access_token;
    const std::string load_error = load(st, true);
    if (!st.creds) co_return detail::refresh_outcome{what + load_error, false};
    if (st.creds->access_token != before && fresh_enough(*st.creds))
      co_return detail::refresh_outcome{};
    detail::credentials c = *st.creds;
    detail::refresh_request req;
    if (auto r = detail::build_refresh(c, ep, req, system_clock::now()); !r.error.empty())
      co_return r;
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

  /// Takes the lock file, waiting (on this thread's timers) up to lock_timeout while another
  /// process holds it; a lock file older than lock_timeout is stale and removed. "" when taken
  /// (or when no lock file can be made at all: then the refresh goes ahead without one).
  asio::awaitable<std::string> take_lock(lock_file& lock) {
    const auto started = steady::now();
    const auto deadline = started + opts_.lock_timeout;
    for (;;) {
      std::string error;
      const auto a = lock.try_take(error);
      if (a == lock_file::attempt::taken) {
        if (steady::now() - started >= opts_.lock_poll_interval)
          spdlog::info("took the lock file '{}' after waiting for another process", lock.path());
        co_return std::string();
      }
      if (a == lock_file::attempt::failed) {
        spdlog::warn("{}; refreshing without it", error);
        co_return std::string();
      }
      if (const auto age = lock.age(); age && *age >= opts_.lock_timeout) {
        spdlog::warn("removing the stale lock file '{}' ({} ms old)", lock.path(), age->count());
        if (lock.break_stale()) continue;
      }
      if (steady::now() >= deadline)
        co_return "the lock file '" + lock.path() + "' is held by another process (waited " +
            std::to_string(opts_.lock_timeout.count()) + " ms)";
      if (!co_await sleep(opts_.lock_poll_interval))
        co_return std::string("the token manager is stopping");
    }
  }

  // ---- provider API calls besides refresh ----

  asio::awaitable<token_count> count_tokens(std::shared_ptr<const pool::instance> inst,
                                            std::string model, std::string contents) {
    token_count out;
    try {
      if (inst->type != "gemini-cli-oauth") {
        out.error = "instance type '" + inst->type + "' has no Code Assist countTokens";
        co_return out;
      }
      const std::string body = detail::code_assist_count_body(model, contents);
      if (body.empty()) {
        out.error = "countTokens: the contents are not a JSON array";
        co_return out;
      }
      const token_result tok = co_await obtain(inst, false, false);
      if (!tok.tok) {
        out.error = tok.error;
        co_return out;
      }
      std::string access = tok.tok->access_token;
      std::string base = detail::endpoints_for(ep_, *inst).gemini_code_assist_base;
      while (!base.empty() && base.back() == '/') base.pop_back();
      const http_answer a =
          co_await code_assist_call(inst, access, "POST", base + ":countTokens", body);
      if (!a.error.empty()) {
        out.error = "countTokens: " + a.error;
      } else if (a.status != 200) {
        out.error = "countTokens: " + http_failure(a.status, google_error(a.body, {access}));
      } else if (!(out.total = detail::parse_total_tokens(a.body))) {
        out.error = "countTokens: the answer has no totalTokens";
      }
    } catch (const std::exception&) {
      out.error = "countTokens: internal error";
    }
    co_return out;
  }

  /// A Kiro runtime API GET for `inst`; a refused token (401, 403 "bearer token invalid") is
  /// refreshed (forced) and the call made once more. `tok` is the token used (or its error).
  asio::awaitable<http_answer> kiro_get(const std::shared_ptr<const pool::instance>& inst,
                                        const std::string& base, std::string_view path,
                                        std::string_view query, token_result& tok) {
    http_answer a;
    tok = co_await obtain(inst, false, false);
    for (int attempt = 0; tok.tok; ++attempt) {
      auto& facts = tok.tok->facts;
      const bool api_key = facts["auth_method"] == "api_key";
      const std::string arn = api_key ? std::string() : facts["profile_arn"];
      const std::string url = detail::kiro_runtime_url(base, facts["region"], path, query, arn);
      const header_list headers =
          detail::kiro_runtime_headers(tok.tok->access_token, facts["machine_id"], api_key);
      a = co_await exchange("GET", url, headers, std::string());
      if (a.error.empty() && attempt == 0 && detail::kiro_token_refused(a.status, a.body)) {
        tok = co_await obtain(inst, true, false);
        continue;
      }
      break;
    }
    co_return a;
  }

  /// A Kiro account query (`path` is "/getUsageLimits" or "/ListAvailableModels") for a
  /// claude-kiro-oauth instance: `parse` reads a 2xx answer; failures name the query.
  /// `what` names the answer in the error for another instance type.
  template <class Result>
  asio::awaitable<Result> kiro_query(std::shared_ptr<const pool::instance> inst, std::string base,
                                     std::string_view path, std::string_view query,
                                     std::string_view what, Result (*parse)(std::string_view)) {
    const std::string name(path.substr(1));
    Result out;
    try {
      if (!inst) {
        out.error = "no instance given";
        co_return out;
      }
      if (inst->type != "claude-kiro-oauth") {
        out.error = "instance type '" + inst->type + "' has no Kiro " + std::string(what);
        co_return out;
      }
      token_result tok;
      const http_answer a = co_await kiro_get(inst, base, path, query, tok);
      if (!tok.tok) {
        out.error = tok.error;
        out.permanent = tok.permanent;
        co_return out;
      }
      if (!a.error.empty()) {
        out.error = name + ": " + a.error;
      } else if (a.status < 200 || a.status > 299) {
        out.error =
            name + ": " + http_failure(a.status, kiro_error(a.body, {tok.tok->access_token}));
      } else {
        out = parse(a.body);
      }
    } catch (const std::exception&) {
      out = Result{};
      out.error = name + ": internal error";
    }
    co_return out;
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
    bool vpc_sc = false;
    {
      const http_answer a =
          co_await code_assist_call(inst, access, "POST", base + ":loadCodeAssist", load_body);
      if (a.error.empty() && a.status == 403 && detail::security_policy_violated(a.body)) {
        // A VPC Service Controls user (403 SECURITY_POLICY_VIOLATED): Gemini CLI takes it as
        // the standard tier; onboarding goes on with that tier.
        vpc_sc = true;
        json tier = json::object();
        tier["id"] = "standard-tier";
        tier["isDefault"] = true;
        load = json::object();
        load["allowedTiers"] = json::array();
        load["allowedTiers"].push_back(std::move(tier));
        spdlog::info(
            "gemini-cli-oauth: loadCodeAssist for '{}' refused by a security policy (VPC "
            "Service Controls): onboarding with the standard tier",
            st.path);
      } else if (std::string e = check("loadCodeAssist", a, load); !e.empty()) {
        co_return fail(e);
      }
    }
    // With VPC Service Controls only a project of the user's own can work.
    const std::string vpc_hint =
        vpc_sc ? " (VPC Service Controls: set PROJECT_ID on the instance)" : "";
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
      if (std::string e = check("onboardUser", a, lro); !e.empty()) co_return fail(e + vpc_hint);
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
      if (std::string e = check("onboardUser operation", a, lro); !e.empty())
        co_return fail(e + vpc_hint);
    }
    if (const auto err = lro.find("error"); err != lro.end() && err->is_object()) {
      const std::string msg = detail::scrub(json_string(*err, "message"), {access}, 300);
      const std::string why = msg.empty() ? std::string("the operation failed") : msg;
      co_return fail("onboardUser: " + why + vpc_hint);
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
  std::unique_ptr<upstream::tls_context> tls_;  // built by the first TLS refresh
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

boost::asio::awaitable<token_count> token_manager::count_code_assist_tokens(
    std::shared_ptr<const pool::instance> inst, std::string model, std::string contents_json) {
  if (!inst) co_return token_count{std::nullopt, "no instance given"};
  co_return co_await boost::asio::co_spawn(
      impl_->ioc_, impl_->count_tokens(std::move(inst), std::move(model), std::move(contents_json)),
      boost::asio::use_awaitable);
}

boost::asio::awaitable<kiro_usage> token_manager::kiro_usage_limits(
    std::shared_ptr<const pool::instance> inst, std::string base_url) {
  co_return co_await boost::asio::co_spawn(
      impl_->ioc_,
      impl_->kiro_query<kiro_usage>(std::move(inst), std::move(base_url), "/getUsageLimits",
                                    "origin=AI_EDITOR&resourceType=AGENTIC_REQUEST", "usage limits",
                                    &detail::parse_kiro_usage),
      boost::asio::use_awaitable);
}

boost::asio::awaitable<kiro_models> token_manager::kiro_list_models(
    std::shared_ptr<const pool::instance> inst, std::string base_url) {
  co_return co_await boost::asio::co_spawn(
      impl_->ioc_,
      impl_->kiro_query<kiro_models>(std::move(inst), std::move(base_url), "/ListAvailableModels",
                                     "origin=AI_EDITOR", "model list", &detail::parse_kiro_models),
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
