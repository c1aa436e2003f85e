#include "aiclient/server/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "aiclient/auth/token_manager.hpp"
#include "aiclient/net/deadline.hpp"
#include "aiclient/net/write_now.hpp"
#include "aiclient/protocol/errors.hpp"
#include "aiclient/protocol/request_body.hpp"
#include "aiclient/provider/provider.hpp"
#include "aiclient/server/handler.hpp"
#include "aiclient/server/router.hpp"
#include "aiclient/upstream/client.hpp"
#include "aiclient/util/atomic_file.hpp"
#include "aiclient/util/strings.hpp"
#include "health_checker.hpp"

namespace aiclient::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
using std::chrono::milliseconds;
using namespace std::string_view_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class session;

// The parser of one client request. Beast's basic_parser does the HTTP parsing (and its
// checks: limits, conflicting Content-Length / Transfer-Encoding, chunk syntax); what it
// reports is kept without an allocation per field: the request line and the fields (names
// lower-cased) go into one buffer of the connection, reused from request to request, instead
// of Beast's basic_fields (one allocation per field). The body goes into a std::string with
// room reserved for the Content-Length plus the JSON parser's padding, so the handler parses it
// in place instead of copying it first. A chunked body is appended by the parser; a body with a
// Content-Length is read by the session itself (start_body(), session::run()) straight into
// the string, without passing through the connection's buffer.
class request_parser final : public http::basic_parser<true> {
 public:
  /// Where a field's name and value are in the buffer.
  struct field_pos {
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  /// `head` and `fields` are the connection's, cleared here and filled by the parse.
  request_parser(std::string& head, std::vector<field_pos>& fields) : head_(head), fields_(fields) {
    head_.clear();
    fields_.clear();
  }

  std::string_view method() const { return std::string_view(head_).substr(0, method_size_); }
  std::string_view target() const {
    return std::string_view(head_).substr(method_size_, target_size_);
  }
  std::string_view name(const field_pos& f) const {
    return std::string_view(head_).substr(f.name_at, f.name_size);
  }
  std::string_view value(const field_pos& f) const {
    return std::string_view(head_).substr(f.value_at, f.value_size);
  }
  /// First value of a field (`lower_name` lower-case), empty when absent.
  std::string_view field_value(std::string_view lower_name) const {
    for (const auto& f : fields_)
      if (name(f) == lower_name) return value(f);
    return {};
  }
  std::string& body() { return body_; }
  /// For a body with a Content-Length (`length` > 0), read by the caller instead of through
  /// put(): body() empty, with room for the length and the JSON parser's padding. The parser
  /// stays where the header left it (before its body: is_done() remains false), so only what
  /// depends on the header is used afterwards: keep_alive(), content_length(), the fields.
  void start_body(std::uint64_t length, beast::error_code& ec) {
    body_.clear();
    reserve_body(length, ec);
  }

 private:
  void reserve_body(std::uint64_t length, beast::error_code& ec) {
    if (length > body_.max_size() - protocol::json_padding) {
      ec = http::error::buffer_overflow;
      return;
    }
    body_.reserve(static_cast<std::size_t>(length) + protocol::json_padding);
  }
  void on_request_impl(http::verb, beast::string_view method_bytes, beast::string_view target_bytes,
                       int, beast::error_code& ec) override {
    ec = {};
    const std::string_view method(method_bytes.data(), method_bytes.size());
    const std::string_view target(target_bytes.data(), target_bytes.size());
    head_.append(method);
    head_.append(target);
    method_size_ = static_cast<std::uint32_t>(method.size());
    target_size_ = static_cast<std::uint32_t>(target.size());
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // never called for a request parser
  }
  void on_field_impl(http::field, beast::string_view name_bytes, beast::string_view value_bytes,
                     beast::error_code& ec) override {
    ec = {};
    const std::string_view name(name_bytes.data(), name_bytes.size());
    const std::string_view value(value_bytes.data(), value_bytes.size());
    // Offsets fit: the whole header is below header_limit (a uint32).
    field_pos f{static_cast<std::uint32_t>(head_.size()), static_cast<std::uint32_t>(name.size()),
                0, static_cast<std::uint32_t>(value.size())};
    head_.append(name);
    util::lower_in_place(head_.data() + f.name_at, head_.data() + head_.size());
    f.value_at = static_cast<std::uint32_t>(head_.size());
    head_.append(value);
    fields_.push_back(f);
  }
  void on_header_impl(beast::error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code& ec) override {
    ec = {};
    if (length) reserve_body(*length, ec);
  }
  std::size_t on_body_impl(beast::string_view data, beast::error_code& ec) override {
    ec = {};
    body_.append(data.data(), data.size());
    return data.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = {};
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view data,
                                 beast::error_code& ec) override {
    ec = {};
    body_.append(data.data(), data.size());
    return data.size();
  }
  void on_finish_impl(beast::error_code& ec) override { ec = {}; }

  std::string& head_;
  std::vector<field_pos>& fields_;
  std::uint32_t method_size_ = 0;
  std::uint32_t target_size_ = 0;
  std::string body_;
};

// One worker thread: its own io_context, acceptor and upstream client.
struct worker {
  // One thread runs it, and only that thread starts or cancels operations on its sockets
  // (other threads post to it): the reactor's per-descriptor locking is not needed. Posting
  // from other threads (token manager completions, shutdown) stays locked.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<upstream::client> upstream;
  std::shared_ptr<net::deadline_sweeper> sweeper;  // the sessions' timeouts
  std::list<session*> sessions;                    // touched only on this worker's thread
  bool ticking = false;                            // watch_tick runs (while some handler does)
  std::thread thread;
};

// A new request id (16 hex digits) into `id`, whose capacity is reused.
void new_request_id(std::string& id) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  id.assign(16, '0');
  auto v = rng();
  for (auto& c : id) {
    c = hex[v & 15];
    v >>= 4;
  }
}

}  // namespace

struct server::impl : admin_control {
  config::settings settings;  // as started: addresses, threads and limits
  mutable std::mutex current_mutex;
  std::shared_ptr<const config::settings> current;  // swapped by reload()
  std::function<config::settings()> config_loader;
  std::mutex reload_mutex;
  std::unique_ptr<pool::pool_manager> manager;
  std::unique_ptr<util::debounced_saver> saver;
  std::unique_ptr<upstream::tls_context> tls;  // built by the first TLS upstream connection
  std::unique_ptr<prompt_log> prompts;
  std::atomic<int> connections{0};
  std::atomic<int> active{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  std::uint16_t port = 0;
  std::mutex stopper_mutex;
  std::thread stopper;
  // Last: destroyed first, while everything its pending coroutines reference still exists.
  std::vector<std::unique_ptr<worker>> workers;
  // After the workers: released before them, so its timer never outlives their io_context.
  std::unique_ptr<health_checker> checker;
  // Last: destroyed first, so calls still waiting on it complete (with an error) into the
  // workers' stopped but still existing io_contexts.
  std::unique_ptr<auth::token_manager> tokens;

  awaitable<void> accept_loop(worker& w);

  std::shared_ptr<const config::settings> current_settings() const {
    std::lock_guard lock(current_mutex);
    return current;
  }
  std::string reload() override;
  std::string reload_pools_from(const std::string& path);
};

namespace {

// The client side of one connection, and the client_channel handlers write to.
class session final : public client_channel {
 public:
  session(server::impl& s, worker& w, tcp::socket sock)
      : s_(s), w_(w), sock_(std::move(sock)), deadline_(w.sweeper, &session::expire, this) {}

  awaitable<void> run();

  // --- client_channel ---
  using client_channel::begin_stream;
  using client_channel::send_response;
  awaitable<bool> send_response(int status, std::span<const header_view> headers,
                                std::string body) override;
  awaitable<bool> begin_stream(int status, std::span<const header_view> headers) override;
  awaitable<bool> send_chunk(std::string_view data) override;
  awaitable<bool> end_stream() override;
  upstream::cancel_token& disconnect_token() override { return watch_->token; }
  bool started() const override { return started_; }
  std::uint64_t bytes_sent() const override { return bytes_; }

  bool idle() const { return idle_; }
  /// Called by the worker's tick: arms the client-disconnect watch of a handler that has run
  /// for a while. Returns whether a handler is running (the tick goes on while one is).
  bool tick(std::chrono::steady_clock::time_point now) {
    if (!handling_) return false;
    if (!watch_armed_ && now - handler_since_ >= watch_delay) {
      watch_armed_ = true;
      arm_watch(watch_);
    }
    return true;
  }
  /// How long a handler runs before its client's connection is watched for a disconnect:
  /// most answers are done sooner, and each watch costs a system call (a peeking receive).
  static constexpr std::chrono::milliseconds watch_delay{50};
  void close_now() {
    beast::error_code ec;
    sock_.close(ec);
  }

 private:
  // Watches the client socket while a handler runs: EOF or reset cancels the token.
  struct watch_state {
    upstream::cancel_token token;
    bool done = false;
    char peek = 0;
  };
  void arm_watch(std::shared_ptr<watch_state> st);
  void finish_watch();

  awaitable<bool> write_simple_error(protocol::wire_protocol proto, int status,
                                     std::string_view msg);
  void append_head(std::string& out, int status, std::span<const header_view> headers,
                   std::string_view framing);
  awaitable<bool> write_out(std::string_view extra);
  /// Writes what the socket takes of `bufs` at once (net::write_now): true when that was all
  /// of it or the write failed (`ec`); false when the caller awaits write_rest(bufs).
  template <std::size_t N>
  bool write_now(std::array<asio::const_buffer, N>& bufs, beast::error_code& ec) {
    return net::write_now(sock_, bufs, ec);
  }
  /// Starts writing the rest of `bufs` under the write timeout (no coroutine of its own: the
  /// caller awaits the write).
  template <std::size_t N>
  auto write_rest(const std::array<asio::const_buffer, N>& bufs) {
    deadline_.expires_after(milliseconds(s_.settings.write_timeout_ms));
    return asio::async_write(sock_, bufs, use_tuple);
  }
  /// Settles a write: out_ cleared, write_failed_ set on an error.
  bool written(beast::error_code wec) {
    const auto ec = settle(wec);
    out_.clear();
    if (ec) write_failed_ = true;
    return !ec;
  }
  /// The deadline's expiry: closes the socket (the pending operation fails), as
  /// beast::tcp_stream does on a timeout.
  static void expire(void* self) { static_cast<session*>(self)->close_now(); }
  /// Disarms the deadline after an operation; its error becomes a timeout when the deadline
  /// closed the socket.
  beast::error_code settle(beast::error_code ec) {
    deadline_.expires_never();
    if (ec && deadline_.expired()) ec = beast::error::timeout;
    return ec;
  }

  server::impl& s_;
  worker& w_;
  tcp::socket sock_;
  net::deadline deadline_;  // the timeout of the pending read or write
  beast::flat_buffer buf_;
  std::string head_;                               // the request line and fields
  std::vector<request_parser::field_pos> fields_;  // where they are in head_
  std::vector<request_header> spare_headers_;      // incoming_request::headers, reused
  std::string spare_target_;                       // incoming_request::target, reused
  std::string out_;  // the head (or chunk) being written; its capacity is kept
  std::shared_ptr<watch_state> watch_ = std::make_shared<watch_state>();
  bool handling_ = false;     // a handler runs
  bool watch_armed_ = false;  // its watch is pending
  std::chrono::steady_clock::time_point handler_since_{};
  std::string request_id_;
  bool keep_alive_ = true;
  bool started_ = false;
  bool write_failed_ = false;
  bool idle_ = true;
  std::uint64_t bytes_ = 0;
};

}  // namespace

awaitable<bool> client_channel::send_response(int status, std::vector<header> headers,
                                              std::string body) {
  const std::vector<header_view> views(headers.begin(), headers.end());
  co_return co_await send_response(status, std::span<const header_view>(views), std::move(body));
}

awaitable<bool> client_channel::begin_stream(int status, std::vector<header> headers) {
  const std::vector<header_view> views(headers.begin(), headers.end());
  co_return co_await begin_stream(status, std::span<const header_view>(views));
}

namespace {

// False when `s` holds a line break (or, for a name, a colon). A loop, not find_first_of,
// which calls memchr once per character.
bool safe_in_field(std::string_view s, bool is_name) {
  for (const char c : s)
    if (c == '\r' || c == '\n' || (is_name && c == ':')) return false;
  return true;
}

// Appends the status line and header block of a response to `out`; the handlers' headers are
// their own or a whitelist of the upstream's, and fields with a line break are dropped anyway.
void session::append_head(std::string& out, int status, std::span<const header_view> headers,
                          std::string_view framing) {
  const bool keep = keep_alive_ && !s_.draining.load();
  if (!keep) keep_alive_ = false;
  out.append("HTTP/1.1 "sv);
  char digits[16];
  out.append(digits, static_cast<std::size_t>(
                         std::to_chars(digits, digits + sizeof digits, status).ptr - digits));
  out.push_back(' ');
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append(reason.data(), reason.size());
  out.append("\r\n"sv);
  for (const auto& [name, value] : headers) {
    if (!safe_in_field(name, true) || !safe_in_field(value, false) ||
        beast::iequals(name, "server") || beast::iequals(name, "connection") ||
        beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
      continue;
    }
    // Lower case, as HTTP/2 requires and most gateways send (relayed names come as the
    // upstream spelled them).
    const std::size_t at = out.size();
    out.append(name);
    util::lower_in_place(out.data() + at, out.data() + out.size());
    out.append(": "sv);
    out.append(value);
    out.append("\r\n"sv);
  }
  out.append("server: aiclient-server\r\nx-request-id: "sv);
  out.append(request_id_);
  out.append(keep ? "\r\n"sv : "\r\nconnection: close\r\n"sv);
  out.append(framing);
  out.append("\r\n"sv);
}

awaitable<bool> session::write_out(std::string_view extra) {
  std::array<asio::const_buffer, 2> bufs{asio::buffer(out_),
                                         asio::buffer(extra.data(), extra.size())};
  beast::error_code wec;
  if (!write_now(bufs, wec)) {
    auto [ec, n] = co_await write_rest(bufs);
    wec = ec;
  }
  co_return written(wec);
}

awaitable<bool> session::send_response(int status, std::span<const header_view> headers,
                                       std::string body) {
  if (write_failed_ || started_) co_return false;
  started_ = true;
  bytes_ += body.size();
  char framing_text[48] = "content-length: ";
  char* framing_end = std::to_chars(framing_text + 16, framing_text + 40, body.size()).ptr;
  *framing_end++ = '\r';
  *framing_end++ = '\n';
  const std::string_view framing(framing_text,
                                 static_cast<std::size_t>(framing_end - framing_text));
  out_.clear();
  append_head(out_, status, headers, framing);
  // One buffer for small answers, a gather write for large ones. Written here rather than by
  // write_out(): one coroutine frame less per response.
  std::string_view extra = body;
  if (body.size() <= 4096) {
    out_.append(body);
    extra = {};
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(out_),
                                         asio::buffer(extra.data(), extra.size())};
  beast::error_code wec;
  if (!write_now(bufs, wec)) {
    auto [ec, n] = co_await write_rest(bufs);
    wec = ec;
  }
  co_return written(wec);
}

awaitable<bool> session::begin_stream(int status, std::span<const header_view> headers) {
  if (write_failed_ || started_) co_return false;
  started_ = true;
  out_.clear();
  append_head(out_, status, headers, "transfer-encoding: chunked\r\n");
  co_return co_await write_out({});
}

awaitable<bool> session::send_chunk(std::string_view data) {
  if (write_failed_ || !started_) co_return false;
  if (data.empty()) co_return true;
  bytes_ += data.size();
  char size_line[24];
  char* size_end = std::to_chars(size_line, size_line + 20, data.size(), 16).ptr;
  *size_end++ = '\r';
  *size_end++ = '\n';
  out_.assign(size_line, static_cast<std::size_t>(size_end - size_line));
  if (data.size() <= 4096) {
    out_.append(data);
    out_.append("\r\n");
    co_return co_await write_out({});
  }
  static constexpr std::string_view crlf = "\r\n";
  std::array<asio::const_buffer, 3> bufs{asio::buffer(out_), asio::buffer(data.data(), data.size()),
                                         asio::buffer(crlf.data(), crlf.size())};
  beast::error_code wec;
  if (!write_now(bufs, wec)) {
    auto [ec, n] = co_await write_rest(bufs);
    wec = ec;
  }
  co_return written(wec);
}

awaitable<bool> session::end_stream() {
  if (write_failed_ || !started_) co_return false;
  out_.assign("0\r\n\r\n");
  co_return co_await write_out({});
}

void session::arm_watch(std::shared_ptr<watch_state> st) {
  // A peeking receive rather than async_wait: Asio queues it without an epoll_ctl (async_wait
  // re-registers the descriptor every time), and it completes on EOF, a reset or new bytes.
  sock_.async_receive(asio::buffer(&st->peek, 1), tcp::socket::message_peek,
                      [st](const boost::system::error_code& ec, std::size_t n) {
                        if (st->done || ec == asio::error::operation_aborted) return;
                        if (ec || n == 0)
                          st->token.cancel();  // the client closed or reset the connection
                        // n > 0: the client sent more (pipelining); stop watching.
                      });
}

void session::finish_watch() {
  handling_ = false;
  watch_->done = true;
  watch_->token.clear_callback();
  if (!watch_armed_) return;
  watch_armed_ = false;
  beast::error_code ec;
  sock_.cancel(ec);  // only the watch is pending here
}

awaitable<bool> session::write_simple_error(protocol::wire_protocol proto, int status,
                                            std::string_view msg) {
  keep_alive_ = false;
  std::vector<header> headers;
  headers.emplace_back("content-type", "application/json");
  co_return co_await send_response(status, std::move(headers),
                                   protocol::error_body(proto, status, msg));
}

// Arms the disconnect watch of handlers that run longer than session::watch_delay; stops when
// no handler runs (an idle worker does not wake up).
awaitable<void> watch_tick(worker& w) {
  asio::steady_timer timer(w.ioc);
  for (;;) {
    timer.expires_after(session::watch_delay);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) break;
    const auto now = std::chrono::steady_clock::now();
    bool busy = false;
    for (session* s : w.sessions) busy = s->tick(now) || busy;
    if (!busy) break;
  }
  w.ticking = false;
}

awaitable<void> session::run() {
  const auto& cfg = s_.settings;
  ++s_.connections;
  auto self_it = w_.sessions.insert(w_.sessions.end(), this);
  beast::error_code ignored;
  sock_.set_option(tcp::no_delay(true), ignored);

  for (bool first = true;; first = false) {
    if (s_.draining) break;
    idle_ = true;
    request_parser parser(head_, fields_);
    parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
    // No body limit while the header is read (Beast would fail the header on a large
    // Content-Length with a bare error); it is checked below and set before the body is read.
    parser.body_limit(boost::none);
    deadline_.expires_after(
        milliseconds(first ? cfg.header_timeout_ms : cfg.keep_alive_timeout_ms));
    // What http::async_read_header does, without its composed operation: parse what is
    // buffered (a pipelined request), else read more and parse again, until the header is
    // complete or fails. At the end of the stream: end_of_stream before any byte of a
    // request, partial_message within one (Beast's errors).
    beast::error_code hec;
    for (;;) {
      if (buf_.size() > 0) {
        const std::size_t used = parser.put(buf_.data(), hec);
        buf_.consume(used);
        if (hec == http::error::need_more)
          hec = {};
        else if (hec || parser.is_header_done())
          break;
      }
      const std::size_t room = std::clamp<std::size_t>(buf_.capacity() - buf_.size(), 512, 65536);
      auto [rec, got] = co_await sock_.async_read_some(buf_.prepare(room), use_tuple);
      if (rec == asio::error::eof) {
        hec = parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
        break;
      }
      if (rec) {
        hec = rec;
        break;
      }
      buf_.commit(got);
    }
    const auto ec = settle(hec);
    idle_ = false;
    started_ = false;
    write_failed_ = false;
    bytes_ = 0;
    keep_alive_ = true;
    new_request_id(request_id_);
    const auto t0 = std::chrono::steady_clock::now();
    if (ec) {
      // A timeout (HEADER_TIMEOUT_MS / KEEP_ALIVE_TIMEOUT_MS) has already closed the socket:
      // the connection just ends, as nginx does.
      if (ec == http::error::header_limit) {
        co_await write_simple_error(protocol::wire_protocol::openai, 431,
                                    "request header larger than MAX_HEADER_BYTES");
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                 ec != asio::error::eof && ec != asio::error::bad_descriptor && parser.got_some()) {
        co_await write_simple_error(protocol::wire_protocol::openai, 400,
                                    "malformed HTTP request: " + ec.message());
      }
      break;
    }

    ++s_.active;
    struct active_guard {
      std::atomic<int>& a;
      ~active_guard() { --a; }
    } guard{s_.active};

    incoming_request req;
    req.id = request_id_;
    req.method = std::string(parser.method());
    req.target = std::move(spare_target_);  // its capacity, from the previous request
    req.target.assign(parser.target());
    std::tie(req.path, req.query) = split_target(req.target);
    const std::size_t header_fields = fields_.size();  // chunked trailers may follow
    const auto proto =
        match_route(req.method, req.path, !parser.field_value("anthropic-version").empty()).proto;

    if (const auto cl = parser.content_length(); cl && *cl > cfg.max_body_bytes) {
      co_await write_simple_error(proto, 413,
                                  "request body of " + std::to_string(*cl) +
                                      " bytes exceeds MAX_BODY_BYTES (" +
                                      std::to_string(cfg.max_body_bytes) + ")");
      break;
    }
    parser.body_limit(cfg.max_body_bytes);
    beast::error_code bec;
    // A body with a Content-Length (> 0: with 0 the parser is done) is read here, not by
    // Beast: the bytes that came with the header are taken from buf_ (only up to the length:
    // what follows is the next pipelined request, left in buf_), the rest is received straight
    // into the body string, all that is missing in one read per wake-up. Through Beast every
    // byte went into buf_ in pieces of at most 64 KB and was then copied into the string.
    const auto content_length = parser.content_length();
    const bool direct = content_length && !parser.is_done();
    std::size_t have = 0;  // body bytes in place (direct)
    if (direct) {
      parser.start_body(*content_length, bec);
      if (!bec) {
        have = static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), *content_length));
        parser.body().append(static_cast<const char*>(buf_.data().data()), have);
        buf_.consume(have);
      }
    } else {
      // The body bytes that arrived with the header are parsed here: an asynchronous read of a
      // body already in the buffer would complete through a post to the io_context.
      while (!parser.is_done() && buf_.size() > 0) {
        const std::size_t used = parser.put(buf_.data(), bec);
        buf_.consume(used);
        if (bec == http::error::need_more) bec = {};
        if (bec || used == 0) break;
      }
    }
    if (!bec && (direct ? have < *content_length : !parser.is_done())) {
      if (beast::iequals(parser.field_value("expect"), "100-continue")) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        deadline_.expires_after(milliseconds(cfg.write_timeout_ms));
        auto [wec, wn] = co_await asio::async_write(sock_, asio::buffer(cont), use_tuple);
        if (settle(wec)) break;
      }
      deadline_.expires_after(milliseconds(cfg.body_timeout_ms));
      if (direct) {
        const auto n = static_cast<std::size_t>(*content_length);
        std::string& body = parser.body();
        while (have < n) {
          // The string is sized ahead of what has arrived, then received into in place.
          // resize zero-fills (C++20 has no resize_and_overwrite): a memset, cheaper than the
          // copy it replaces. It grows by at least 256 KB, doubling, rather than to the
          // length at once: zero-filling a declared but unsent 32 MB would make a client that
          // sends only a header hold that much resident memory (reserve alone commits none).
          if (body.size() == have)
            body.resize(have + std::min(n - have, std::max<std::size_t>(have, 256 * 1024)));
          auto [rec, got] = co_await sock_.async_read_some(
              asio::buffer(body.data() + have, body.size() - have), use_tuple);
          have += got;
          // The end of the stream within the body: Beast's error for it (http::async_read's).
          if (rec == asio::error::eof) rec = http::error::partial_message;
          if (rec) {
            bec = rec;
            break;
          }
        }
        bec = settle(bec);
      } else {
        auto [rbec, bn] = co_await http::async_read(sock_, buf_, parser, use_tuple);
        bec = settle(rbec);
      }
    }
    if (bec) {
      if (bec == http::error::body_limit)
        co_await write_simple_error(
            proto, 413,
            "request body exceeds MAX_BODY_BYTES (" + std::to_string(cfg.max_body_bytes) + ")");
      else if (bec == beast::error::timeout)
        spdlog::info("[{}] request body not received within BODY_TIMEOUT_MS: closing", request_id_);
      else if (bec != http::error::end_of_stream && bec != asio::error::eof &&
               bec != asio::error::connection_reset)
        co_await write_simple_error(proto, 400, "malformed HTTP request body: " + bec.message());
      break;
    }
    req.body = std::move(parser.body());
    // Views into head_, which stays as it is until the next request is read.
    req.headers = std::move(spare_headers_);
    req.headers.clear();
    for (std::size_t i = 0; i < header_fields; ++i)
      req.headers.emplace_back(parser.name(fields_[i]), parser.value(fields_[i]));
    keep_alive_ = parser.keep_alive() && !s_.draining;
    const std::size_t bytes_in = req.body.size();

    if (watch_.use_count() == 1)
      *watch_ = watch_state{};  // no pending peek holds it: reused
    else
      watch_ = std::make_shared<watch_state>();
    handling_ = true;
    watch_armed_ = false;
    handler_since_ = t0;
    if (!w_.ticking) {
      w_.ticking = true;
      asio::co_spawn(w_.ioc, watch_tick(w_), asio::detached);
    }

    const auto now_cfg = s_.current_settings();
    handler_env env{*now_cfg, *s_.manager, *w_.upstream, s_.prompts.get(), &s_, s_.tokens.get()};
    access_record rec;
    bool internal_error = false;
    try {
      co_await handle_request(env, req, *this, rec);
    } catch (const std::exception& e) {
      spdlog::error("[{}] internal error: {}", request_id_, e.what());
      rec.error = "internal error";
      internal_error = true;
    }
    if (internal_error) {
      if (!started_) {
        rec.status = 500;
        co_await write_simple_error(proto, 500, "internal error");
      } else {
        write_failed_ = true;  // a half-written response: the connection must close
      }
    }
    const bool client_gone = watch_->token.cancelled();
    finish_watch();
    if (!started_ && !client_gone && !write_failed_) {
      rec.status = 500;
      co_await write_simple_error(proto, 500, "no response was produced");
    }

    // The access line (its arguments, copies of strings among them, are only built when it is
    // written: at warn level a request pays nothing for it).
    if (spdlog::should_log(spdlog::level::info)) {
      const auto total = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0);
      const std::string_view provider =
          rec.provider.empty() ? std::string_view("-") : std::string_view(rec.provider);
      const std::string_view instance =
          rec.instance.empty() ? std::string_view("-") : std::string_view(rec.instance);
      spdlog::info(
          "[{}] {} {} route={} provider={} instance={} status={} upstream_ms={:.1f} "
          "total_ms={:.1f} attempts={} in={} out={}{}{}",
          request_id_, req.method, req.path, rec.route, provider, instance,
          client_gone && !started_ ? 499 : rec.status,
          rec.upstream_latency.count() < 0 ? 0.0 : rec.upstream_latency.count() / 1000.0,
          total.count() / 1000.0, rec.attempts, bytes_in, bytes_,
          rec.error.empty() ? "" : " error=", rec.error);
    }

    spare_headers_ = std::move(req.headers);
    spare_target_ = std::move(req.target);
    if (client_gone || write_failed_ || !keep_alive_) break;
    // An idle keep-alive connection does not keep a large request's buffer.
    if (buf_.capacity() > 64 * 1024 && buf_.size() < 64 * 1024) buf_.shrink_to_fit();
  }

  sock_.shutdown(tcp::socket::shutdown_send, ignored);
  sock_.close(ignored);
  w_.sessions.erase(self_it);
  --s_.connections;
}

}  // namespace

awaitable<void> server::impl::accept_loop(worker& w) {
  for (;;) {
    auto [ec, sock] = co_await w.acceptor->async_accept(use_tuple);
    if (ec) {
      if (!w.acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: back off a little instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer t(w.ioc, milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    if (connections.load() >= settings.max_connections) {
      static constexpr std::string_view busy =
          "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: "
          "83\r\nconnection: close\r\n\r\n"
          R"({"error":{"message":"too many connections","type":"service_unavailable","code":null}})";
      beast::error_code ig;
      sock.non_blocking(true, ig);
      sock.write_some(asio::buffer(busy), ig);
      sock.close(ig);
      continue;
    }
    auto s = std::make_shared<session>(*this, w, std::move(sock));
    asio::co_spawn(
        w.ioc, [s]() -> awaitable<void> { co_await s->run(); }, asio::detached);
  }
}

server::server(config::settings s, pool::pools p) : impl_(std::make_unique<impl>()) {
  auto& i = *impl_;
  i.settings = std::move(s);
  i.current = std::make_shared<const config::settings>(i.settings);
  i.prompts = std::make_unique<prompt_log>(i.settings.log_prompts, i.settings.prompt_log_base_name);
  pool::manager_options mo;
  mo.max_error_count = i.settings.max_error_count;
  mo.rate_limit_base = std::chrono::duration_cast<std::chrono::seconds>(
      milliseconds(std::max(1000, i.settings.rate_limit_cooldown_ms)));
  mo.rate_limit_max = std::chrono::duration_cast<std::chrono::seconds>(
      milliseconds(std::max(1000, i.settings.rate_limit_cooldown_max_ms)));
  i.manager = std::make_unique<pool::pool_manager>(std::move(p), mo);
  {
    auth::manager_options ao;
    ao.near = std::chrono::minutes(i.settings.cron_near_minutes);
    ao.refresh_timer = i.settings.cron_refresh_token;
    ao.ca_file = i.settings.upstream_ca_file;
    ao.proxy_url = i.settings.proxy_url;
    auth::endpoints ep;
    const auto take = [](std::string& field, const std::string& configured) {
      if (!configured.empty()) field = configured;
    };
    take(ep.gemini_client_id, i.settings.gemini_oauth_client_id);
    take(ep.gemini_client_secret, i.settings.gemini_oauth_client_secret);
    take(ep.gemini_token_url, i.settings.gemini_token_url);
    take(ep.gemini_code_assist_base, i.settings.gemini_code_assist_base);
    take(ep.qwen_token_url, i.settings.qwen_token_url);
    take(ep.kiro_social_refresh_url, i.settings.kiro_refresh_url);
    take(ep.kiro_idc_token_url, i.settings.kiro_idc_token_url);
    i.tokens = std::make_unique<auth::token_manager>(ep, ao);
  }
  if (!i.settings.provider_pools_file.empty()) {
    util::debounced_saver::options so;
    so.debounce = milliseconds(i.settings.pool_save_debounce_ms);
    so.max_wait = milliseconds(i.settings.pool_save_max_wait_ms);
    const std::string path = i.settings.provider_pools_file;
    i.saver = std::make_unique<util::debounced_saver>(
        path, [&i] { return i.manager->serialize(); },
        [&i, path] {
          // Someone edited the file since our last save: take their edit in before writing.
          spdlog::info("provider pools file {} changed on disk: reloading it before saving", path);
          if (auto err = i.reload_pools_from(path); !err.empty())
            throw std::runtime_error(err);  // keep their file; saves resume once it is valid
        },
        so);
    i.saver->adopt();
    i.manager->set_on_change([&i] { i.saver->schedule(); });
    if (i.manager->version() > 0) i.saver->schedule();  // e.g. generated uuids
  }
}

server::~server() {
  request_stop();
  wait();
}

void server::set_config_loader(std::function<config::settings()> loader) {
  impl_->config_loader = std::move(loader);
}

std::string server::reload() {
  return impl_->reload();
}

std::string server::impl::reload_pools_from(const std::string& path) {
  try {
    auto fresh = pool::load_pools_file(path);
    provider::validate_instances(fresh);
    manager->reload(std::move(fresh));
    return {};
  } catch (const std::exception& e) {
    spdlog::error("provider pools reload rejected, keeping the current pools: {}", e.what());
    return e.what();
  }
}

std::string server::impl::reload() {
  std::lock_guard lock(reload_mutex);
  auto next = std::make_shared<config::settings>(*current_settings());
  if (config_loader) {
    try {
      config::settings loaded = config_loader();
      // Addresses, threads, limits and the upstream client options need a restart.
      if (loaded.host != settings.host || loaded.port != settings.port ||
          loaded.threads != settings.threads)
        spdlog::warn("reload: HOST, SERVER_PORT and THREADS changes take effect after a restart");
      if (loaded.provider_pools_file != settings.provider_pools_file)
        spdlog::warn("reload: a new PROVIDER_POOLS_FILE_PATH takes effect after a restart");
      loaded.provider_pools_file = settings.provider_pools_file;
      *next = std::move(loaded);
    } catch (const std::exception& e) {
      spdlog::error("config reload rejected, keeping the current configuration: {}", e.what());
      return e.what();
    }
  }
  if (!settings.provider_pools_file.empty()) {
    if (saver) saver->flush();  // our pending state first, so the reload merges with it
    if (auto err = reload_pools_from(settings.provider_pools_file); !err.empty()) return err;
    if (saver) saver->adopt();
  }
  {
    std::lock_guard l(current_mutex);
    current = std::move(next);
  }
  spdlog::info("configuration reloaded");
  return {};
}

void server::start() {
  auto& s = *impl_;
  s.tls = std::make_unique<upstream::tls_context>(s.settings.upstream_ca_file);
  int n = s.settings.threads > 0
              ? s.settings.threads
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  upstream::options uo;
  uo.connect_timeout = milliseconds(s.settings.upstream_connect_timeout_ms);
  uo.first_byte_timeout = milliseconds(s.settings.upstream_first_byte_timeout_ms);
  uo.idle_timeout = milliseconds(s.settings.upstream_idle_timeout_ms);
  uo.max_idle_per_host = static_cast<std::size_t>(s.settings.upstream_max_idle_connections);
  uo.proxy_url = s.settings.proxy_url;

  boost::system::error_code ec;
  const auto addr =
      asio::ip::make_address(s.settings.host == "localhost" ? "127.0.0.1" : s.settings.host, ec);
  if (ec) throw std::runtime_error("HOST " + s.settings.host + " is not an IP address");
  tcp::endpoint ep(addr, s.settings.port);
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>();
    w->acceptor.emplace(w->ioc);
    auto& acc = *w->acceptor;
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec.assign(errno, boost::system::system_category());
    }
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + s.settings.host + ":" +
                               std::to_string(ep.port()) + ": " + ec.message());
    if (i == 0) {
      ep.port(acc.local_endpoint().port());  // the others share the (maybe picked) port
      s.port = ep.port();
    }
    // One deadline sweep per worker, for its sessions and its upstream connections.
    w->sweeper = std::make_shared<net::deadline_sweeper>(w->ioc.get_executor(),
                                                         /*release_when_idle=*/false);
    uo.sweeper = w->sweeper;
    w->upstream = std::make_unique<upstream::client>(w->ioc.get_executor(), *s.tls, uo);
    s.workers.push_back(std::move(w));
  }
  s.checker = std::make_unique<health_checker>(
      s.workers.front()->ioc.get_executor(), *s.workers.front()->upstream, *s.manager,
      [&s] { return s.current_settings(); }, s.tokens.get());
  asio::post(s.workers.front()->ioc, [&s] { s.checker->start(); });
  // OAuth tokens refreshed ahead of expiry (CRON_REFRESH_TOKEN); a failed refresh counts
  // against the instance, a dead refresh token takes it out until a new login.
  s.tokens->start_timer(
      [&s] {
        std::vector<std::shared_ptr<const pool::instance>> list;
        for (const auto& [type, views] : s.manager->snapshot())
          if (!auth::creds_field(type).empty())
            for (const auto& v : views)
              if (!v.state.is_disabled) list.push_back(v.config);
        return list;
      },
      [&s](const pool::instance& inst, const std::string& error, bool permanent) {
        s.manager->report(inst.type, inst.uuid,
                          {permanent ? pool::outcome::kind::fatal : pool::outcome::kind::failure,
                           std::string(permanent ? "login expired: " : "token refresh: ") + error,
                           {}});
      });
  for (auto& w : s.workers) {
    asio::co_spawn(w->ioc, s.accept_loop(*w), asio::detached);
    w->thread = std::thread([wp = w.get()] {
      for (;;) {
        try {
          wp->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("worker: unexpected exception: {}", e.what());
        }
      }
    });
  }
}

std::uint16_t server::port() const noexcept {
  return impl_->port;
}
int server::open_connections() const noexcept {
  return impl_->connections.load();
}
int server::active_requests() const noexcept {
  return impl_->active.load();
}

void server::request_stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  s.draining = true;
  std::lock_guard lock(s.stopper_mutex);
  // The stopper exists before any worker can run out of work, so wait() always joins it.
  s.stopper = std::thread([&s] {
    const auto deadline =
        std::chrono::steady_clock::now() + milliseconds(s.settings.shutdown_grace_ms);
    while (s.connections.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(10));
    if (s.connections.load() > 0)
      spdlog::warn("shutdown: {} connection(s) still open after SHUTDOWN_GRACE_MS, closing them",
                   s.connections.load());
    for (auto& w : s.workers) w->ioc.stop();
  });
  if (s.checker && !s.workers.empty())
    asio::post(s.workers.front()->ioc, [&s] { s.checker->stop(); });
  for (auto& w : s.workers) {
    asio::post(w->ioc, [wp = w.get()] {
      beast::error_code ec;
      if (wp->acceptor) wp->acceptor->close(ec);
      for (session* ss : wp->sessions)
        if (ss->idle()) ss->close_now();
      wp->upstream->close_idle();
    });
  }
}

void server::wait() {
  auto& s = *impl_;
  for (auto& w : s.workers)
    if (w->thread.joinable()) w->thread.join();
  std::lock_guard lock(s.stopper_mutex);
  if (s.stopper.joinable()) s.stopper.join();
  if (s.saver) {
    if (auto err = s.saver->flush(); !err.empty())
      spdlog::error("could not save the provider pools on shutdown: {}", err);
  }
}

}  // namespace aiclient::server
