#pragma once
// The upstream HTTP client. Asio's awaitable appears in this interface; Beast does not.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "aiclient/upstream/url.hpp"

namespace boost::asio::ssl {
class context;
}

namespace aiclient::net {
class deadline_sweeper;
}

namespace aiclient::upstream {

/// Lets the owner of an exchange abort it from the same executor, for example when the
/// client that asked for it disconnects. The client registers a callback while an exchange
/// (send or a body read) is in flight; cancel() runs it (once) and marks the token.
class cancel_token {
 public:
  /// Marks the token cancelled and runs the registered callback, if any.
  void cancel() {
    cancelled_ = true;
    if (auto f = std::move(callback_)) f();
  }
  /// True once cancel() was called.
  bool cancelled() const noexcept { return cancelled_; }
  /// Registers the callback (runs it at once when already cancelled).
  void set_callback(std::function<void()> f) {
    if (cancelled_) {
      if (f) f();
      return;
    }
    callback_ = std::move(f);
  }
  /// Drops the callback (the exchange it belonged to is over).
  void clear_callback() { callback_ = nullptr; }

 private:
  bool cancelled_ = false;
  std::function<void()> callback_;
};

/// A header name and value.
using header = std::pair<std::string, std::string>;
/// A header name and value that point into a response (valid while it lives).
using header_view = std::pair<std::string_view, std::string_view>;

struct prepared_head;

/// One request to an upstream.
struct request {
  std::string method = "POST";
  url target;                   ///< absolute URL (its path includes the query)
  std::vector<header> headers;  ///< extra headers; Host, Content-Length are set by the client
  std::string body;
  /// Sent when `body` is empty: a body owned by the caller, which keeps it alive until send()
  /// completes (the handler's retries reuse one large body instead of copying it each time).
  std::string_view borrowed_body;
  /// When set, the method, target and first headers come from here (see prepare()); `method`
  /// and `target` above are ignored and `headers` follow the prepared ones.
  std::shared_ptr<const prepared_head> prepared;
};

/// The method, target and fixed headers that requests repeat (every pass-through to one pool
/// instance: its URL, its credentials), checked and formatted once by prepare() instead of on
/// every request. Immutable, so requests in flight on any thread may share it.
struct prepared_head {
  request base;                 ///< as given to prepare(), without a body
  std::string pool_key;         ///< "scheme://host:port" of base.target
  std::string origin_head;      ///< request line (origin form), Host and base.headers, formatted
  bool has_user_agent = false;  ///< base.headers hold a User-Agent
};

/// Checks and formats `base` (its body is ignored) for requests that add only a body and
/// headers of their own. Null, with `error` set, when the method or the URL is unusable;
/// invalid header fields are dropped with a warning, as send() does.
std::shared_ptr<const prepared_head> prepare(request base, std::string* error = nullptr);

/// Limits and timeouts of one client (one per worker thread).
struct options {
  std::chrono::milliseconds connect_timeout{10000};      ///< TCP connect + TLS handshake (+ proxy)
  std::chrono::milliseconds first_byte_timeout{300000};  ///< request sent -> response header read
  std::chrono::milliseconds idle_timeout{120000};        ///< between two body reads
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_idle_per_host = 64;               ///< idle keep-alive connections kept
  std::chrono::milliseconds idle_keepalive{60000};  ///< an idle pooled connection is dropped after
  std::string proxy_url;                            ///< "http://host:port"; empty = direct
  /// Send loopback targets through the proxy too (default: they bypass it). For tests,
  /// whose fake upstreams all listen on 127.0.0.1.
  bool proxy_loopback = false;
  /// The timeouts' sweeper of the client's thread (the server shares its workers' with the
  /// sessions); null: the client makes its own.
  std::shared_ptr<net::deadline_sweeper> sweeper;
};

/// Why an exchange failed. `none` means success.
enum class failure {
  none,
  connect,  ///< resolve / TCP connect / proxy CONNECT refused or failed
  tls,      ///< TLS handshake or certificate verification failed
  connect_timeout,
  first_byte_timeout,  ///< no response header in time
  idle_timeout,        ///< body stalled between chunks
  closed,              ///< connection closed or reset before the response was complete
  protocol,            ///< unparseable HTTP from the upstream
  too_large,           ///< response (or header) over the limit
  aborted              ///< abort() was called (client went away)
};

/// Human-readable text for a failure (no secrets).
std::string_view to_string(failure f) noexcept;

/// A response whose header has been read; the body is read piece by piece.
/// Destroying it returns the connection to the pool when the body was read completely
/// and the upstream allows keep-alive; otherwise the connection is closed.
/// It must not outlive its client's io_context; it may outlive the client itself (its
/// connection is then closed instead of pooled). After a failure, later reads repeat it.
class response {
 public:
  virtual ~response() = default;
  /// HTTP status code.
  virtual int status() const noexcept = 0;
  /// Value of a response header (case-insensitive name), empty when absent.
  virtual std::string_view header_value(std::string_view name) const = 0;
  /// The response headers, in order: all of them, or those whose name `keep` accepts (the
  /// name as the upstream spelled it). Views into the response, valid while it lives.
  virtual std::vector<header_view> header_views(
      bool (*keep)(std::string_view name) = nullptr) const = 0;
  /// The same, copied.
  std::vector<header> headers(bool (*keep)(std::string_view name) = nullptr) const {
    std::vector<header> out;
    for (const auto& [name, value] : header_views(keep)) out.emplace_back(name, value);
    return out;
  }
  /// Reads the next piece of (de-chunked) body. Returns {failure::none, bytes}; an empty
  /// view with failure::none means the body is complete. The view stays valid until the
  /// next call. Enforces the idle timeout between pieces.
  virtual boost::asio::awaitable<std::pair<failure, std::string_view>> read_some() = 0;
  /// Reads the rest of the body into a string, up to `limit` bytes (failure::too_large beyond).
  /// On a failure the string holds what was read before it.
  virtual boost::asio::awaitable<std::pair<failure, std::string>> read_all(std::size_t limit) = 0;
  /// Closes the connection now; a pending read_some/read_all completes with failure::aborted.
  /// Call from the executor that owns this response.
  virtual void abort() = 0;
};

/// Result of send(): a response (header read), or a failure and a detail message.
struct send_result {
  std::unique_ptr<response> resp;  ///< set when failure is none
  failure error = failure::none;
  std::string detail;  ///< e.g. "connect to api.example.com:443: Connection refused"
};

class tls_context;

/// HTTP/1.1 client with a keep-alive connection pool per (scheme, host, port). One instance
/// per io_context (worker thread): it is not thread-safe and must be used on its executor.
/// HTTPS verifies the certificate chain and host name (SNI set). Plain http is allowed.
/// A request that fails on a reused idle connection before any response byte arrives is
/// retried once on a fresh connection. With a proxy, https goes through CONNECT and http
/// uses absolute-form targets; loopback targets bypass the proxy.
class client {
 public:
  /// `tls` must outlive the client (shared across threads is fine: it is only read).
  /// Throws std::invalid_argument when opts.proxy_url is set but is not "http://host[:port]".
  client(boost::asio::any_io_executor ex, boost::asio::ssl::context& tls, options opts);
  /// The same with a context built by the first TLS connection (see tls_context).
  client(boost::asio::any_io_executor ex, tls_context& tls, options opts);
  /// Closes the idle connections. No send() may be in flight; responses may live on.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` and reads the response header. When `cancel` is given, cancelling it aborts
  /// the exchange (failure::aborted), during send() and during later body reads of the
  /// response; the token must outlive the response.
  /// `req` is moved into the exchange when send() is called.
  boost::asio::awaitable<send_result> send(request&& req, cancel_token* cancel = nullptr);

  /// Number of idle pooled connections (all hosts), for tests and metrics.
  std::size_t idle_connections() const noexcept;
  /// Closes all idle pooled connections.
  void close_idle();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Builds the client TLS context: TLS 1.2+, system CA store (plus `extra_ca_file` when not
/// empty), peer verification on. Throws std::runtime_error naming the file on a bad CA file.
/// The system CA store (some hundred certificates, milliseconds and megabytes) is loaded by
/// the first TLS connection made with the context, not here: a gateway whose upstreams are
/// all plain HTTP never pays for it.
std::unique_ptr<boost::asio::ssl::context> make_client_tls_context(
    const std::string& extra_ca_file);

/// The client TLS context of make_client_tls_context, built when it is first needed: OpenSSL's
/// initialisation alone holds ~2.7 MB resident, which a gateway whose upstreams are all plain
/// HTTP (local models, a TLS-terminating sidecar) never needs. With an extra CA file the
/// context is built at once, so a bad file stops the start with its name. Shared by threads.
class tls_context {
 public:
  explicit tls_context(std::string extra_ca_file);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// The context, built on the first call (thread-safe).
  boost::asio::ssl::context& get();
  /// True once the context exists.
  bool built() const noexcept { return built_.load(std::memory_order_acquire); }

 private:
  std::string extra_ca_file_;
  std::once_flag once_;
  std::unique_ptr<boost::asio::ssl::context> ctx_;
  std::atomic<bool> built_{false};
};

}  // namespace aiclient::upstream
