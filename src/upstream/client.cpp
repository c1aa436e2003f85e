// The upstream HTTP/1.1 client: the one Beast translation unit of this area.
#include "aiclient/upstream/client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "aiclient/net/deadline.hpp"
#include "aiclient/net/write_now.hpp"
#include "aiclient/util/strings.hpp"
#include "response_parser.hpp"

namespace aiclient::upstream {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

using namespace std::string_view_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t piece_size = 16 * 1024;
constexpr int max_interim_responses = 8;
constexpr auto probe_after = std::chrono::seconds(1);
/// Room reserved in each connection's read buffer: a small answer arrives in one read.
constexpr std::size_t read_reserve = 8 * 1024;

using tls_stream = ssl::stream<tcp::socket>;
using detail::field_pos;
using detail::response_parser;

/// The bytes of a buffer sequence of one buffer (a flat_buffer's data) as a view.
std::string_view as_view(asio::const_buffer b) {
  return {static_cast<const char*>(b.data()), b.size()};
}

/// A request ready for the wire: the serialized head and the body.
struct wire_request {
  std::string head;
  std::string owned_body;
  std::string_view borrowed_body;  ///< sent when owned_body is empty
  bool is_head = false;            ///< a HEAD request: the response has no body

  std::string_view body() const {
    return owned_body.empty() ? borrowed_body : std::string_view(owned_body);
  }
};

/// One connection to an upstream (or a tunnel through the proxy to it).
struct connection {
  connection(const asio::any_io_executor& ex, std::shared_ptr<net::deadline_sweeper> sweeper)
      : plain(std::in_place, ex), deadline(std::move(sweeper), &connection::expire, this) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  std::optional<tcp::socket> plain;       ///< set for http (and while connecting)
  std::unique_ptr<tls_stream> tls;        ///< set for https once the TCP part is up
  net::deadline deadline;                 ///< the timeout of the pending operation (or phase)
  beast::flat_buffer buffer;              ///< bytes read past the last parsed message
  std::string head;                       ///< the current response's header fields
  std::vector<field_pos> fields;          ///< where they are in `head`
  std::optional<response_parser> parser;  ///< of the current response (after `head`, `fields`)
  std::string key;                        ///< pool key
  std::string authority;                  ///< "host:port" of the target, for messages
  clock_type::time_point idle_since{};

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
  /// Closes the socket: pending operations complete with an error.
  void close() {
    error_code ec;
    socket().close(ec);
  }
  /// The error of an operation under the deadline: a timeout when the deadline closed the
  /// socket (as beast::tcp_stream reports it).
  error_code timed(error_code ec) const {
    if (ec && deadline.expired()) return beast::error::timeout;
    return ec;
  }
  /// Disarms the deadline after an operation and returns its error as timed() does.
  error_code settle(error_code ec) {
    deadline.expires_never();
    return timed(ec);
  }

 private:
  static void expire(void* self) { static_cast<connection*>(self)->close(); }
};

/// Runs `f` on whichever stream the connection has.
template <class F>
auto with_stream(connection& c, F&& f) -> decltype(f(*c.plain)) {
  if (c.tls) return f(*c.tls);
  return f(*c.plain);
}

/// Registers a cancel callback for the life of one operation.
class callback_guard {
 public:
  callback_guard(cancel_token* token, std::function<void()> f) : token_(token) {
    if (token_) token_->set_callback(std::move(f));
  }
  ~callback_guard() {
    if (token_) token_->clear_callback();
  }
  callback_guard(const callback_guard&) = delete;
  callback_guard& operator=(const callback_guard&) = delete;

 private:
  cancel_token* token_;
};

using piece_buffer = std::array<char, piece_size>;

/// Idle keep-alive connections of one client, shared with its responses through weak_ptr;
/// and spare body buffers, so a response does not allocate (and free) 16 KB each time.
struct pool_state {
  std::size_t max_idle = 0;
  std::chrono::milliseconds keepalive{0};
  /// Per pool key, oldest first. A vector, not a deque (whose node a pop of its last element
  /// frees and the next push allocates again); a key's entry stays when its list empties, so
  /// that a connection taken and given back does not allocate a map node each time.
  std::unordered_map<std::string, std::vector<std::unique_ptr<connection>>> idle;
  std::vector<std::unique_ptr<piece_buffer>> spare_pieces;
  static constexpr std::size_t max_spare_pieces = 64;

  std::unique_ptr<piece_buffer> take_piece() {
    if (spare_pieces.empty()) return std::make_unique<piece_buffer>();
    auto p = std::move(spare_pieces.back());
    spare_pieces.pop_back();
    return p;
  }
  void give_piece(std::unique_ptr<piece_buffer> p) {
    if (p && spare_pieces.size() < max_spare_pieces) spare_pieces.push_back(std::move(p));
  }

  std::size_t count() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, list] : idle) n += list.size();
    return n;
  }

  void release(std::unique_ptr<connection> c) {
    if (max_idle == 0) {
      c->close();
      return;
    }
    c->deadline.expires_never();
    c->idle_since = clock_type::now();
    auto& list = idle[c->key];
    if (list.size() >= max_idle) {
      const auto excess = static_cast<std::ptrdiff_t>(list.size() - max_idle + 1);
      for (auto i = list.begin(); i != list.begin() + excess; ++i) (*i)->close();
      list.erase(list.begin(), list.begin() + excess);
    }
    list.push_back(std::move(c));
  }

  /// The most recently used live connection for `key`, or null.
  std::unique_ptr<connection> take(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& list = it->second;
    std::unique_ptr<connection> found;
    auto now = clock_type::now();
    while (!list.empty()) {
      auto c = std::move(list.back());
      list.pop_back();
      if (now - c->idle_since > keepalive) {
        // The newest is too old, so are all the others.
        c->close();
        for (auto& other : list) other->close();
        list.clear();
        break;
      }
      // The probe costs a system call: a connection used within the last second is taken
      // as it is (if the upstream closed it meanwhile, send() retries once on a new one).
      if (now - c->idle_since >= probe_after && !looks_alive(*c)) {
        c->close();
        continue;
      }
      found = std::move(c);
      break;
    }
    return found;
  }

  void close_all() {
    for (auto& [key, list] : idle) {
      for (auto& c : list) c->close();
    }
    idle.clear();
  }

  /// A cheap check that the upstream has not closed an idle connection: a non-blocking
  /// peek that sees end-of-stream (or an error) means it is gone. Unexpected bytes on an
  /// idle plain connection also disqualify it; TLS may carry records (session tickets).
  static bool looks_alive(connection& c) {
    auto& sock = c.socket();
    if (!sock.is_open()) return false;
    char b;
    ssize_t n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    return c.tls != nullptr;
  }
};

/// Index of the SSL_CTX ex_data slot that marks a context whose system CA store is loaded.
int system_ca_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

/// Loads the system CA store into `ctx` on its first use (contexts are shared by threads).
void ensure_system_ca(ssl::context& ctx) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  SSL_CTX* handle = ctx.native_handle();
  if (SSL_CTX_get_ex_data(handle, system_ca_index()) != nullptr) return;
  error_code ec;
  ctx.set_default_verify_paths(ec);
  if (ec) spdlog::warn("TLS: the system CA store could not be loaded: {}", ec.message());
  static char loaded = 1;
  SSL_CTX_set_ex_data(handle, system_ca_index(), &loaded);
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

/// Appends the Host header value: the port is left out when it is the scheme's default.
void append_host_header(std::string& out, const url& u) {
  const bool default_port = (u.tls() && u.port == 443) || (!u.tls() && u.port == 80);
  if (default_port)
    u.append_host(out);
  else
    u.append_authority(out);
}

using detail::is_token;

bool is_field_value(std::string_view s) {
  // A loop, not find_first_of (which calls memchr once per character of `s`).
  for (const char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

const std::string& user_agent() {
  static const std::string ua = std::string("aiclient-server/") + AICLIENT_VERSION;
  return ua;
}

/// Appends "pool key" of a target: "scheme://host:port".
void append_pool_key(std::string& out, const url& u) {
  out.reserve(u.scheme.size() + u.host.size() + 16);
  out.append(u.scheme);
  out.append("://"sv);
  u.append_authority(out);
}

/// Appends the request line and the Host field.
void append_start(std::string& h, std::string_view method, const url& target, bool absolute_form) {
  h.append(method);
  h.push_back(' ');
  if (absolute_form) {
    h.append("http://"sv);
    target.append_authority(h);
  }
  h.append(target.path);
  h.append(" HTTP/1.1\r\nHost: "sv);
  append_host_header(h, target);
  h.append("\r\n"sv);
}

/// Appends the fields a request may set itself (Host, Content-Length and Transfer-Encoding
/// are the client's); fields with an invalid name or value are dropped with a warning. True
/// when one of them is User-Agent.
bool append_fields(std::string& h, const std::vector<header>& headers, const url& target) {
  bool has_user_agent = false;
  for (const auto& [name, value] : headers) {
    if (util::iequals(name, "host") || util::iequals(name, "content-length") ||
        util::iequals(name, "transfer-encoding")) {
      continue;
    }
    if (!is_token(name) || !is_field_value(value)) {
      spdlog::warn("upstream {}: dropped a request header with an invalid name or value",
                   target.authority());
      continue;
    }
    if (util::iequals(name, "user-agent")) has_user_agent = true;
    h.append(name);
    h.append(": "sv);
    h.append(value);
    h.append("\r\n"sv);
  }
  return has_user_agent;
}

/// The checks send() makes of a target before it connects; empty when it is usable.
std::string_view unusable_target(const url& u) {
  if (u.scheme != "http" && u.scheme != "https") return "unsupported URL scheme";
  if (u.host.empty() || u.port == 0) return "URL without host or port";
  return {};
}

/// True for errors that mean "the peer closed or reset the connection".
bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

/// Maps a read or write error (not an abort) to a failure.
failure classify(const error_code& ec, failure timeout_kind) {
  if (ec == beast::error::timeout) return timeout_kind;
  if (ec == http::error::header_limit || ec == http::error::body_limit ||
      ec == http::error::buffer_overflow) {
    return failure::too_large;
  }
  if (is_disconnect(ec) || ec == http::error::partial_message) return failure::closed;
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return failure::protocol;
  }
  return failure::closed;
}

std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

/// The response: owns the connection and the parser until it is destroyed.
class response_impl final : public response {
 public:
  response_impl(std::unique_ptr<connection> conn, response_parser* parser,
                std::shared_ptr<pool_state> pool, cancel_token* cancel,
                std::chrono::milliseconds idle_timeout)
      : conn_(std::move(conn)),
        parser_(parser),
        pool_(pool),
        cancel_(cancel),
        idle_timeout_(idle_timeout),
        piece_(pool->take_piece()) {}

  ~response_impl() override {
    if (auto pool = pool_.lock()) pool->give_piece(std::move(piece_));
    if (!conn_) return;
    bool reusable = !aborted_ && error_ == failure::none && parser_->is_done() &&
                    parser_->keep_alive() && conn_->buffer.size() == 0;
    if (reusable) {
      if (auto pool = pool_.lock()) {
        pool->release(std::move(conn_));
        return;
      }
    }
    conn_->close();
  }

  int status() const noexcept override { return static_cast<int>(parser_->status()); }

  std::string_view header_value(std::string_view name) const override {
    return parser_->field_value(name);
  }

  std::vector<header_view> header_views(bool (*keep)(std::string_view name)) const override {
    std::vector<header_view> out;
    for (const auto& f : parser_->fields()) {
      const std::string_view name = parser_->name(f);
      if (keep && !keep(name)) continue;
      out.emplace_back(name, parser_->value(f));
    }
    return out;
  }

  // One coroutine (no inner one per call): the exception guard wraps the body itself.
  asio::awaitable<std::pair<failure, std::string_view>> read_some() override {
    try {
      using result = std::pair<failure, std::string_view>;
      if (aborted_ || (cancel_ && cancel_->cancelled())) {
        abort();
        co_return result{failure::aborted, {}};
      }
      if (error_ != failure::none) co_return result{error_, {}};
      if (deferred_) co_return result{report_deferred(), {}};
      if (parser_->is_done()) co_return result{failure::none, {}};

      callback_guard guard(cancel_, [this] { abort(); });
      auto& body = parser_->body();
      for (;;) {
        body.data = piece_->data();
        body.size = piece_->size();
        // Bytes already buffered (read with the header, or by the last read) are parsed
        // without I/O: a stream that arrived in one segment becomes one piece.
        if (const std::size_t got = drain_buffered(body); got > 0)
          co_return result{failure::none, std::string_view(piece_->data(), got)};
        if (deferred_) co_return result{report_deferred(), {}};
        if (parser_->is_done()) co_return result{failure::none, {}};
        conn_->deadline.expires_after(idle_timeout_);
        const std::size_t room =
            std::clamp<std::size_t>(conn_->buffer.capacity() - conn_->buffer.size(), 512, 65536);
        auto [rec, n] = co_await with_stream(*conn_, [&](auto& s) {
          return s.async_read_some(conn_->buffer.prepare(room), use_tuple);
        });
        conn_->buffer.commit(n);
        error_code ec = conn_->settle(rec);
        if (aborted_) co_return result{failure::aborted, {}};
        if (ec == asio::error::eof || (ec == ssl::error::stream_truncated && parser_->need_eof())) {
          // The end of the connection (for TLS, also without close_notify when the body is
          // delimited by it): it ends such a body; any other is cut short.
          parser_->put_eof(ec);
        }
        if (ec) {
          failure f = classify(ec, failure::idle_timeout);
          fail(f);
          if (f == failure::idle_timeout) {
            spdlog::debug("upstream {}: body stalled for {}", conn_->authority,
                          ms_text(idle_timeout_));
          } else {
            spdlog::debug("upstream {}: body read failed: {}", conn_->authority, ec.message());
          }
          co_return result{f, {}};
        }
      }
    } catch (const std::exception& e) {
      spdlog::error("upstream {}: unexpected error while reading the body: {}", conn_->authority,
                    e.what());
      fail(failure::closed);
      co_return std::pair{failure::closed, std::string_view{}};
    }
  }

  asio::awaitable<std::pair<failure, std::string>> read_all(std::size_t limit) override {
    std::string out;
    if (auto len = parser_->content_length()) {
      if (*len > limit && !parser_->is_done()) {
        fail(failure::too_large);
        co_return std::pair{failure::too_large, std::move(out)};
      }
      out.reserve(static_cast<std::size_t>(*len));
    }
    for (;;) {
      // A body already complete needs no further read (nor its coroutine frame).
      if (done_cleanly()) co_return std::pair{failure::none, std::move(out)};
      auto [f, piece] = co_await read_some();
      if (f != failure::none) co_return std::pair{f, std::move(out)};
      if (piece.empty()) co_return std::pair{failure::none, std::move(out)};
      if (piece.size() > limit - out.size()) {
        out.append(piece.substr(0, limit - out.size()));
        fail(failure::too_large);
        co_return std::pair{failure::too_large, std::move(out)};
      }
      out.append(piece);
    }
  }

  void abort() override {
    aborted_ = true;
    if (conn_) conn_->close();
  }

 private:
  void fail(failure f) {
    if (error_ == failure::none) error_ = f;
    conn_->close();
  }

  /// Reports the parse error drain_buffered met: the body read fails with it.
  failure report_deferred() {
    spdlog::debug("upstream {}: body parse failed: {}", conn_->authority, deferred_.message());
    fail(classify(deferred_, failure::idle_timeout));
    return error_;
  }

  /// True when read_some() would return the end of the body without reading.
  bool done_cleanly() const {
    return !aborted_ && !(cancel_ && cancel_->cancelled()) && error_ == failure::none &&
           !deferred_ && parser_->is_done();
  }

  /// Parses body bytes already in the connection's buffer into the rest of the piece, without
  /// I/O: a stream that arrived in one segment becomes one piece (relayed in one write), not
  /// one piece per HTTP chunk. A parse error is kept for the next call, after this data.
  std::size_t drain_buffered(response_parser::body_buffer& body) {
    const std::size_t before = body.size;
    while (body.size > 0 && conn_->buffer.size() > 0 && !parser_->is_done()) {
      error_code pec;
      const std::size_t used = parser_->put(as_view(conn_->buffer.data()), pec);
      conn_->buffer.consume(used);
      if (pec == http::error::need_more || pec == http::error::need_buffer) break;
      if (pec) {
        deferred_ = pec;
        break;
      }
      if (used == 0) break;
    }
    return before - body.size;
  }

  std::unique_ptr<connection> conn_;
  response_parser* parser_;  ///< the connection's
  std::weak_ptr<pool_state> pool_;
  cancel_token* cancel_;
  std::chrono::milliseconds idle_timeout_;
  bool aborted_ = false;
  failure error_ = failure::none;
  error_code deferred_;  ///< a parse error met by drain_buffered, reported on the next read
  std::unique_ptr<piece_buffer> piece_;
};

struct connect_result {
  std::unique_ptr<connection> conn;
  failure error = failure::none;
  std::string detail;
};

struct exchange_result {
  response_parser* parser = nullptr;  ///< the connection's, set on success
  failure error = failure::none;
  std::string detail;
  bool retryable = false;  ///< failed before any response byte (on a reused connection: retry)
};

/// Resolver plus its deadline timer, shared with the timer's handler.
struct resolve_watch {
  explicit resolve_watch(const asio::any_io_executor& ex) : resolver(ex), timer(ex) {}
  tcp::resolver resolver;
  asio::steady_timer timer;
  bool timed_out = false;
};

}  // namespace

std::string_view to_string(failure f) noexcept {
  switch (f) {
    case failure::none:
      return "ok";
    case failure::connect:
      return "upstream connect failed";
    case failure::tls:
      return "upstream TLS handshake failed";
    case failure::connect_timeout:
      return "upstream connect timed out";
    case failure::first_byte_timeout:
      return "upstream response header timed out";
    case failure::idle_timeout:
      return "upstream body stalled";
    case failure::closed:
      return "upstream connection closed";
    case failure::protocol:
      return "invalid HTTP from upstream";
    case failure::too_large:
      return "upstream response too large";
    case failure::aborted:
      return "upstream exchange aborted";
  }
  return "unknown upstream failure";
}

struct client::impl {
  impl(asio::any_io_executor executor, ssl::context* given, tls_context* lazy, options o)
      : ex(std::move(executor)), tls(given), lazy_tls(lazy), opts(std::move(o)) {
    pool = std::make_shared<pool_state>();
    pool->max_idle = opts.max_idle_per_host;
    pool->keepalive = opts.idle_keepalive;
    if (!opts.proxy_url.empty()) {
      proxy = url::parse(opts.proxy_url);
      if (!proxy || proxy->tls()) {
        throw std::invalid_argument("proxy_url must be \"http://host[:port]\"");
      }
    }
  }

  asio::any_io_executor ex;
  ssl::context* tls;      ///< the TLS context given, or
  tls_context* lazy_tls;  ///< the one built by the first TLS connection
  options opts;

  ssl::context& tls_ctx() { return lazy_tls ? lazy_tls->get() : *tls; }
  std::optional<url> proxy;
  std::shared_ptr<pool_state> pool;
  /// The connections' timeouts (kept alive by every connection, which may outlive the client).
  std::shared_ptr<net::deadline_sweeper> sweeper =
      opts.sweeper ? opts.sweeper : std::make_shared<net::deadline_sweeper>(ex);

  /// Serializes the request head (the body goes out as it is, in the same write); nullopt
  /// (with `error`) for an unsendable request.
  std::optional<wire_request> build(request& req, bool absolute_form, std::string& error) {
    const prepared_head* const prep = req.prepared.get();
    const request& base = prep ? prep->base : req;
    if (!is_token(base.method)) {
      error = "invalid request method";
      return std::nullopt;
    }
    wire_request w;
    w.is_head = base.method == "HEAD";
    std::string& h = w.head;
    bool has_user_agent = false;
    if (prep && !absolute_form) {
      h.reserve(prep->origin_head.size() + 128);
      h.append(prep->origin_head);
      has_user_agent = prep->has_user_agent;
    } else {
      h.reserve(256 + base.target.path.size());
      append_start(h, base.method, base.target, absolute_form);
      if (prep) has_user_agent = append_fields(h, prep->base.headers, base.target);
    }
    if (append_fields(h, req.headers, base.target)) has_user_agent = true;
    if (!has_user_agent) {
      h.append("User-Agent: "sv);
      h.append(user_agent());
      h.append("\r\n"sv);
    }
    // As Beast's prepare_payload did: a length whenever there is a body or the method
    // expects one.
    w.owned_body = std::move(req.body);
    w.borrowed_body = req.borrowed_body;
    const std::size_t length = w.body().size();
    if (length > 0 || base.method == "POST" || base.method == "PUT" || base.method == "PATCH") {
      h.append("Content-Length: "sv);
      char digits[24];
      const auto end = std::to_chars(digits, digits + sizeof digits, length).ptr;
      h.append(digits, static_cast<std::size_t>(end - digits));
      h.append("\r\n"sv);
    }
    h.append("\r\n"sv);
    return w;
  }

  asio::awaitable<send_result> send(request req, cancel_token* cancel) {
    // One coroutine: the exception guard wraps the body itself.
    try {
      const url& target = req.prepared ? req.prepared->base.target : req.target;
      if (const auto bad = unusable_target(target); !bad.empty()) {
        co_return send_result{nullptr, failure::connect, std::string(bad)};
      }
      if (cancel && cancel->cancelled()) {
        co_return send_result{nullptr, failure::aborted, "aborted before sending"};
      }
      bool via_proxy = proxy.has_value() && (opts.proxy_loopback || !is_loopback_host(target.host));
      // The pool key: "scheme://host:port", the prepared one when there is one.
      std::string own_key;
      const std::string* key = &own_key;
      if (req.prepared && !via_proxy) {
        key = &req.prepared->pool_key;
      } else {
        append_pool_key(own_key, target);
        if (via_proxy) own_key += " via " + proxy->authority();
      }

      std::string build_error;
      auto msg = build(req, via_proxy && !target.tls(), build_error);
      if (!msg) co_return send_result{nullptr, failure::protocol, build_error};

      const bool head = msg->is_head;
      for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<connection> conn;
        if (attempt == 0) conn = pool->take(*key);
        bool reused = conn != nullptr;
        if (!conn) {
          auto cr = co_await connect(target, via_proxy, *key, cancel);
          if (cr.error != failure::none) {
            spdlog::debug("upstream {}: {}", target.authority(), cr.detail);
            co_return send_result{nullptr, cr.error, std::move(cr.detail)};
          }
          conn = std::move(cr.conn);
        }
        auto er = co_await exchange(*conn, *msg, head, cancel);
        if (er.error == failure::none) {
          co_return send_result{std::make_unique<response_impl>(std::move(conn), er.parser, pool,
                                                                cancel, opts.idle_timeout),
                                failure::none,
                                {}};
        }
        conn->close();
        if (reused && er.retryable) {
          spdlog::debug("upstream {}: reused connection failed ({}), retrying on a new one",
                        target.authority(), er.detail);
          continue;
        }
        co_return send_result{nullptr, er.error, std::move(er.detail)};
      }
      co_return send_result{nullptr, failure::closed, "unreachable"};
    } catch (const std::exception& e) {
      spdlog::error("upstream: unexpected error in send: {}", e.what());
      co_return send_result{nullptr, failure::protocol,
                            std::string("unexpected error: ") + e.what()};
    }
  }

  /// Resolve, TCP connect, proxy CONNECT and TLS handshake, all within connect_timeout.
  asio::awaitable<connect_result> connect(const url& target, bool via_proxy, const std::string& key,
                                          cancel_token* cancel) {
    const url& hop = via_proxy ? *proxy : target;
    const std::string where =
        via_proxy ? target.authority() + " via proxy " + proxy->authority() : target.authority();
    auto deadline = clock_type::now() + opts.connect_timeout;
    auto conn = std::make_unique<connection>(ex, sweeper);
    conn->key = key;
    conn->authority = target.authority();
    conn->buffer.reserve(read_reserve);
    auto watch = std::make_shared<resolve_watch>(ex);
    bool aborted = false;
    connection* raw = conn.get();
    callback_guard guard(cancel, [&aborted, raw, watch] {
      aborted = true;
      watch->resolver.cancel();
      raw->close();
    });
    auto abort_result = [] {
      return connect_result{nullptr, failure::aborted, "aborted while connecting"};
    };
    auto timeout_result = [&](const char* phase) {
      return connect_result{
          nullptr, failure::connect_timeout,
          std::string(phase) + " " + where + ": timed out after " + ms_text(opts.connect_timeout)};
    };

    // Resolve. getaddrinfo cannot be interrupted: the timer only stops the wait for it.
    watch->timer.expires_at(deadline);
    watch->timer.async_wait([watch](error_code ec) {
      if (ec) return;
      watch->timed_out = true;
      watch->resolver.cancel();
    });
    auto [rec, endpoints] =
        co_await watch->resolver.async_resolve(hop.host, std::to_string(hop.port), use_tuple);
    watch->timer.cancel();
    if (aborted) co_return abort_result();
    if (watch->timed_out) co_return timeout_result("resolve");
    if (rec) {
      co_return connect_result{nullptr, failure::connect,
                               "resolve " + hop.host + ": " + rec.message()};
    }

    // TCP connect.
    // One deadline for the TCP connect, the proxy CONNECT and the TLS handshake.
    conn->deadline.expires_at(deadline);
    auto [raw_cec, ep] = co_await asio::async_connect(*conn->plain, endpoints, use_tuple);
    const error_code cec = conn->timed(raw_cec);
    if (aborted) co_return abort_result();
    if (cec == beast::error::timeout) co_return timeout_result("connect to");
    if (cec) {
      std::string what = via_proxy ? "connect to proxy " + hop.authority() : "connect to " + where;
      co_return connect_result{nullptr, failure::connect, what + ": " + cec.message()};
    }
    error_code opt_ec;
    conn->plain->set_option(tcp::no_delay(true), opt_ec);

    // Tunnel through the proxy.
    if (via_proxy && target.tls()) {
      http::request<http::empty_body> creq{http::verb::connect, target.authority(), 11};
      creq.set(http::field::host, target.authority());
      creq.set(http::field::user_agent, user_agent());
      auto [raw_wec, wn] = co_await http::async_write(*conn->plain, creq, use_tuple);
      const error_code wec = conn->timed(raw_wec);
      if (aborted) co_return abort_result();
      if (wec == beast::error::timeout) co_return timeout_result("proxy CONNECT to");
      if (wec) {
        co_return connect_result{nullptr, failure::connect,
                                 "proxy CONNECT to " + where + ": " + wec.message()};
      }
      http::response_parser<http::empty_body> cp;
      cp.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
      cp.skip(true);
      auto [raw_hec, hn] =
          co_await http::async_read_header(*conn->plain, conn->buffer, cp, use_tuple);
      const error_code hec = conn->timed(raw_hec);
      if (aborted) co_return abort_result();
      if (hec == beast::error::timeout) co_return timeout_result("proxy CONNECT to");
      if (hec) {
        co_return connect_result{nullptr, failure::connect,
                                 "proxy CONNECT to " + where + ": " + hec.message()};
      }
      unsigned st = cp.get().result_int();
      if (st < 200 || st > 299) {
        co_return connect_result{
            nullptr, failure::connect,
            "proxy CONNECT to " + where + ": proxy answered status " + std::to_string(st)};
      }
      if (conn->buffer.size() != 0) {
        co_return connect_result{nullptr, failure::connect,
                                 "proxy CONNECT to " + where + ": unexpected bytes after 2xx"};
      }
    }

    // TLS.
    if (target.tls()) {
      ssl::context& ctx = tls_ctx();
      ensure_system_ca(ctx);
      conn->tls = std::make_unique<tls_stream>(std::move(*conn->plain), ctx);
      conn->plain.reset();
      SSL* ssl_handle = conn->tls->native_handle();
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
      if (is_ip_literal(target.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str());
      } else {
        SSL_set_tlsext_host_name(ssl_handle, target.host.c_str());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), target.host.size());
      }
      error_code vec;
      conn->tls->set_verify_mode(ssl::verify_peer, vec);
      conn->tls->set_verify_callback(ssl::host_name_verification(target.host), vec);
      auto [raw_tec] = co_await conn->tls->async_handshake(ssl::stream_base::client, use_tuple);
      const error_code tec = conn->timed(raw_tec);
      if (aborted) co_return abort_result();
      if (tec == beast::error::timeout) co_return timeout_result("TLS handshake with");
      if (tec) {
        std::string why = tec.message();
        long verify = SSL_get_verify_result(ssl_handle);
        if (verify != X509_V_OK) {
          why = std::string("certificate verification failed: ") +
                X509_verify_cert_error_string(verify);
        }
        co_return connect_result{nullptr, failure::tls, "TLS handshake with " + where + ": " + why};
      }
    }
    conn->deadline.expires_never();
    co_return connect_result{std::move(conn), failure::none, {}};
  }

  /// Writes the request and reads the response header (skipping 1xx interim responses).
  asio::awaitable<exchange_result> exchange(connection& c, const wire_request& msg, bool head,
                                            cancel_token* cancel) {
    bool aborted = false;
    callback_guard guard(cancel, [&aborted, &c] {
      aborted = true;
      c.close();
    });
    auto abort_result = [] {
      return exchange_result{nullptr, failure::aborted, "aborted while waiting for the response",
                             false};
    };

    c.deadline.expires_after(opts.first_byte_timeout);
    const std::string_view body = msg.body();
    std::array<asio::const_buffer, 2> out{asio::buffer(msg.head),
                                          asio::buffer(body.data(), body.size())};
    // Plain TCP: what the socket takes at once goes out without an asynchronous operation
    // (a request of a few KB, all of it); TLS writes through its stream.
    error_code raw_wec;
    if (c.tls || !net::write_now(*c.plain, out, raw_wec)) {
      auto [ec, wn] =
          co_await with_stream(c, [&](auto& s) { return asio::async_write(s, out, use_tuple); });
      raw_wec = ec;
    }
    const error_code wec = c.settle(raw_wec);
    if (aborted) co_return abort_result();
    if (wec) {
      failure f = wec == beast::error::timeout ? failure::first_byte_timeout : failure::closed;
      co_return exchange_result{nullptr, f,
                                "writing request to " + c.authority + ": " + wec.message(),
                                f == failure::closed};
    }

    // One deadline for the response header, interim responses included.
    const auto header_deadline = clock_type::now() + opts.first_byte_timeout;
    for (int interim = 0;; ++interim) {
      // A new parser per message, in the connection's storage (no allocation).
      response_parser* parser = &c.parser.emplace(c.head, c.fields);
      parser->header_limit(static_cast<std::uint32_t>(
          std::min<std::size_t>(opts.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
      if (head) parser->skip(true);
      c.deadline.expires_at(header_deadline);
      // What http::async_read_header does, without its composed operation: parse what is
      // buffered (after an interim response), else read more and parse again, until the
      // header is complete or fails (at the end of the stream: end_of_stream before any byte,
      // partial_message within the header, as Beast reports them).
      error_code raw_rec;
      for (;;) {
        if (c.buffer.size() > 0) {
          const std::size_t used = parser->put(as_view(c.buffer.data()), raw_rec);
          c.buffer.consume(used);
          if (raw_rec == http::error::need_more)
            raw_rec = {};
          else if (raw_rec || parser->is_header_done())
            break;
        }
        const std::size_t room =
            std::clamp<std::size_t>(c.buffer.capacity() - c.buffer.size(), 512, 65536);
        auto [e, got] = co_await with_stream(
            c, [&](auto& s) { return s.async_read_some(c.buffer.prepare(room), use_tuple); });
        if (e == asio::error::eof) {
          raw_rec = parser->got_some() ? http::error::partial_message : http::error::end_of_stream;
          break;
        }
        if (e) {
          raw_rec = e;
          break;
        }
        c.buffer.commit(got);
      }
      const error_code rec = c.settle(raw_rec);
      if (aborted) co_return abort_result();
      if (rec) {
        failure f = classify(rec, failure::first_byte_timeout);
        std::string detail =
            f == failure::first_byte_timeout
                ? "no response header from " + c.authority + " within " +
                      ms_text(opts.first_byte_timeout)
                : "reading response header from " + c.authority + ": " + rec.message();
        bool nothing_received =
            interim == 0 && !parser->got_some() && c.buffer.size() == 0 && is_disconnect(rec);
        co_return exchange_result{nullptr, f, std::move(detail), nothing_received};
      }
      unsigned st = parser->status();
      if (st >= 100 && st < 200 && st != 101) {
        if (interim + 1 >= max_interim_responses) {
          co_return exchange_result{nullptr, failure::protocol,
                                    "too many interim responses from " + c.authority, false};
        }
        continue;
      }
      co_return exchange_result{parser, failure::none, {}, false};
    }
  }
};

client::client(asio::any_io_executor ex, ssl::context& tls, options opts)
    : impl_(std::make_unique<impl>(std::move(ex), &tls, nullptr, std::move(opts))) {}

client::client(asio::any_io_executor ex, tls_context& tls, options opts)
    : impl_(std::make_unique<impl>(std::move(ex), nullptr, &tls, std::move(opts))) {}

client::~client() {
  impl_->pool->close_all();
}

asio::awaitable<send_result> client::send(request&& req, cancel_token* cancel) {
  // Not a coroutine itself: the request moves straight into impl::send's frame.
  return impl_->send(std::move(req), cancel);
}

std::shared_ptr<const prepared_head> prepare(request base, std::string* error) {
  std::string_view bad = unusable_target(base.target);
  if (bad.empty() && !is_token(base.method)) bad = "invalid request method";
  if (!bad.empty()) {
    if (error) *error = std::string(bad);
    return nullptr;
  }
  auto p = std::make_shared<prepared_head>();
  base.body.clear();
  base.borrowed_body = {};
  base.prepared.reset();
  append_pool_key(p->pool_key, base.target);
  append_start(p->origin_head, base.method, base.target, false);
  p->has_user_agent = append_fields(p->origin_head, base.headers, base.target);
  p->base = std::move(base);
  return p;
}

std::size_t client::idle_connections() const noexcept {
  return impl_->pool->count();
}

void client::close_idle() {
  impl_->pool->close_all();
}

std::unique_ptr<ssl::context> make_client_tls_context(const std::string& extra_ca_file) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  system_ca_index();  // the slot exists before any thread races for it
  error_code ec;
  if (!extra_ca_file.empty()) {
    ctx->load_verify_file(extra_ca_file, ec);
    if (ec) {
      throw std::runtime_error("cannot load CA file '" + extra_ca_file + "': " + ec.message());
    }
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

tls_context::tls_context(std::string extra_ca_file) : extra_ca_file_(std::move(extra_ca_file)) {
  if (!extra_ca_file_.empty()) get();
}

tls_context::~tls_context() = default;

ssl::context& tls_context::get() {
  std::call_once(once_, [this] {
    ctx_ = make_client_tls_context(extra_ca_file_);
    built_.store(true, std::memory_order_release);
  });
  return *ctx_;
}

}  // namespace aiclient::upstream
