// The scriptable fake upstream: a Beast HTTP(S) server on its own thread and io_context.
#include "support/fake_upstream.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace aiclient::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ---- test certificates (OpenSSL C API, no openssl CLI needed) ----

struct key_ptr {
  EVP_PKEY* p = nullptr;
  ~key_ptr() { EVP_PKEY_free(p); }
};
struct cert_ptr {
  X509* p = nullptr;
  ~cert_ptr() { X509_free(p); }
};

[[noreturn]] void cert_error(const std::string& what) {
  throw std::runtime_error("test certificate: " + what);
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) cert_error(std::string("extension ") + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Makes a certificate for `key`, signed by `issuer` (self-signed when null), valid one day.
X509* make_cert(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, const char* cn, bool ca,
                long serial) {
  X509* x = X509_new();
  if (!x) cert_error("X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("aiclient tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  if (ca) {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
    add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0) cert_error("X509_sign");
  return x;
}

void write_pem(const std::string& path, X509* a, X509* b, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) cert_error("cannot write " + path);
  bool ok = true;
  if (a) ok = ok && PEM_write_X509(f, a) == 1;
  if (b) ok = ok && PEM_write_X509(f, b) == 1;
  if (key) ok = ok && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) cert_error("cannot write " + path);
}

// Owns the temporary folder; removes it at exit.
struct cert_holder {
  test_cert cert;
  cert_holder() {
    auto base = std::filesystem::temp_directory_path() / "aiclient-test-cert-XXXXXX";
    std::string tmpl = base.string();
    if (!::mkdtemp(tmpl.data())) cert_error("mkdtemp failed");
    cert.dir = tmpl;
    cert.ca_file = cert.dir + "/ca.pem";
    cert.cert_file = cert.dir + "/server.pem";
    cert.key_file = cert.dir + "/server.key";
    key_ptr ca_key{EVP_EC_gen("P-256")};
    key_ptr server_key{EVP_EC_gen("P-256")};
    if (!ca_key.p || !server_key.p) cert_error("key generation failed");
    cert_ptr ca{make_cert(ca_key.p, nullptr, nullptr, "aiclient test CA", true, 1)};
    cert_ptr server{make_cert(server_key.p, ca.p, ca_key.p, "localhost", false, 2)};
    write_pem(cert.ca_file, ca.p, nullptr, nullptr);
    write_pem(cert.cert_file, server.p, ca.p, nullptr);
    write_pem(cert.key_file, nullptr, nullptr, server_key.p);
  }
  ~cert_holder() {
    std::error_code ec;
    std::filesystem::remove_all(cert.dir, ec);
  }
};

std::string reason_for(int status) {
  auto s = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  if (s.empty() || s.front() == '<') return "Status";
  return std::string(s);
}

// True when the peer closed the socket (or it was closed here): a non-blocking peek.
bool peer_closed(tcp::socket& raw) {
  if (!raw.is_open()) return true;
  char b;
  ssize_t n = ::recv(raw.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  return false;
}

struct conn_info {
  std::function<void()> close;  ///< closes the socket (ioc thread only)
  bool idle = false;            ///< waiting for the next request
};

}  // namespace

const test_cert& shared_test_cert() {
  static cert_holder holder;
  return holder.cert;
}

struct fake_upstream::impl {
  explicit impl(bool use_tls) : tls(use_tls) {
    if (tls) {
      const auto& cert = shared_test_cert();
      ssl_ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
      ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1);
      ssl_ctx->use_certificate_chain_file(cert.cert_file);
      ssl_ctx->use_private_key_file(cert.key_file, ssl::context::pem);
    }
    ioc = std::make_unique<asio::io_context>(1);
    acceptor = std::make_unique<tcp::acceptor>(*ioc);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor->open(ep.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen(asio::socket_base::max_listen_connections);
    port = acceptor->local_endpoint().port();
    asio::co_spawn(*ioc, accept_loop(), asio::detached);
    thread = std::thread([this] { ioc->run(); });
  }

  void shutdown() {
    asio::post(*ioc, [this] {
      stopping = true;
      error_code ec;
      acceptor->close(ec);
      for (auto& [id, info] : conns) {
        if (info.close) info.close();
      }
      ioc->stop();
    });
    thread.join();
    conns.clear();
    acceptor.reset();
    ioc.reset();  // destroys the suspended sessions
  }

  // ---- shared with the test thread (under mu) ----

  scripted_response next_response(recorded_request rec) {
    std::function<scripted_response(const recorded_request&)> h;
    {
      std::lock_guard lock(mu);
      requests.push_back(rec);
      if (handler) {
        h = handler;
      } else if (!queue.empty()) {
        scripted_response r = std::move(queue.front());
        queue.pop_front();
        return r;
      } else {
        scripted_response r;
        r.headers = {{"content-type", "application/json"}};
        r.chunks = {"{}"};
        r.chunked = false;
        return r;
      }
    }
    return h(rec);
  }

  void opened() {
    std::lock_guard lock(mu);
    ++accepted;
    ++open;
  }

  void closed() {
    {
      std::lock_guard lock(mu);
      --open;
    }
    cv.notify_all();
  }

  // ---- ioc thread ----

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor->async_accept(use_tuple);
      if (stopping || !acceptor->is_open()) co_return;
      if (ec) {
        asio::steady_timer t(*ioc, std::chrono::milliseconds(10));
        co_await t.async_wait(use_tuple);
        continue;
      }
      opened();
      asio::co_spawn(*ioc, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket sock) {
    std::uint64_t id = next_id++;
    conn_info& info = conns[id];
    error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    try {
      if (ssl_ctx) {
        ssl::stream<tcp::socket> s(std::move(sock), *ssl_ctx);
        info.close = [&s] {
          error_code e;
          s.next_layer().close(e);
        };
        auto [hec] = co_await s.async_handshake(ssl::stream_base::server, use_tuple);
        if (!hec) co_await serve(s, s.next_layer(), info);
        info.close = nullptr;
        s.next_layer().close(ec);
      } else {
        info.close = [&sock] {
          error_code e;
          sock.close(e);
        };
        co_await serve(sock, sock, info);
        info.close = nullptr;
        sock.close(ec);
      }
    } catch (const std::exception&) {
      info.close = nullptr;
    }
    conns.erase(id);
    closed();
  }

  // Sleeps `d`, checking every 20 ms whether the peer went away. False when it did.
  asio::awaitable<bool> pause(tcp::socket& raw, std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    asio::steady_timer t(*ioc);
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      if (now >= end) co_return true;
      t.expires_after(
          std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(20)));
      co_await t.async_wait(use_tuple);
      if (stopping || peer_closed(raw)) co_return false;
    }
  }

  template <class Stream>
  asio::awaitable<bool> write_all(Stream& s, const std::string& data) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(data), use_tuple);
    co_return !ec;
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& s, tcp::socket& raw, conn_info& info) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(1024 * 1024);
      parser.body_limit(256 * 1024 * 1024);
      info.idle = true;
      auto [ec, n] = co_await http::async_read(s, buf, parser, use_tuple);
      info.idle = false;
      if (ec) co_return;
      const auto& m = parser.get();
      recorded_request rec;
      rec.method = std::string(m.method_string());
      rec.target = std::string(m.target());
      for (const auto& f : m) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, inserted] = rec.headers.emplace(name, std::string(f.value()));
        if (!inserted) it->second += ", " + std::string(f.value());
      }
      rec.body = m.body();
      bool head_request = m.method() == http::verb::head;
      bool keep_alive = m.keep_alive();

      scripted_response r = next_response(std::move(rec));
      if (r.hang) {
        char tmp[4096];
        for (;;) {
          auto [rec_ec, got] = co_await s.async_read_some(asio::buffer(tmp), use_tuple);
          if (rec_ec || stopping) co_return;
        }
      }
      if (r.delay_before_header.count() > 0 && !co_await pause(raw, r.delay_before_header)) {
        co_return;
      }
      if (r.close_without_answer) co_return;

      bool no_body =
          head_request || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
      std::size_t total = 0;
      for (const auto& c : r.chunks) total += c.size();
      std::string head =
          "HTTP/1.1 " + std::to_string(r.status) + " " + reason_for(r.status) + "\r\n";
      for (const auto& [name, value] : r.headers) head += name + ": " + value + "\r\n";
      if (!(r.status >= 100 && r.status < 200) && r.status != 204 && r.status != 304) {
        if (r.chunked) {
          head += "Transfer-Encoding: chunked\r\n";
        } else {
          head += "Content-Length: " + std::to_string(total + (r.drop_mid_body ? 16 : 0)) + "\r\n";
        }
      }
      if (r.close_after) head += "Connection: close\r\n";
      head += "\r\n";
      if (!co_await write_all(s, head)) co_return;

      if (!no_body) {
        bool first = true;
        for (const auto& c : r.chunks) {
          if (r.chunked && c.empty()) continue;  // an empty chunk would end the body
          if (!first && r.delay_between_chunks.count() > 0 &&
              !co_await pause(raw, r.delay_between_chunks)) {
            co_return;
          }
          first = false;
          std::string piece;
          if (r.chunked) {
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", c.size());
            piece = size + c + "\r\n";
          } else {
            piece = c;
          }
          if (!co_await write_all(s, piece)) co_return;
        }
        if (r.drop_mid_body) co_return;
        if (r.chunked && !co_await write_all(s, std::string("0\r\n\r\n"))) co_return;
      }
      if (r.close_after || !keep_alive) co_return;
    }
  }

  bool tls;
  std::unique_ptr<ssl::context> ssl_ctx;
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  std::thread thread;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::function<scripted_response(const recorded_request&)> handler;
  std::deque<scripted_response> queue;
  std::vector<recorded_request> requests;
  int accepted = 0;
  int open = 0;

  // ioc thread only
  std::map<std::uint64_t, conn_info> conns;
  std::uint64_t next_id = 0;
  bool stopping = false;
};

fake_upstream::fake_upstream(bool tls) : impl_(std::make_unique<impl>(tls)) {}

fake_upstream::~fake_upstream() {
  impl_->shutdown();
}

std::uint16_t fake_upstream::port() const {
  return impl_->port;
}

std::string fake_upstream::base_url() const {
  if (impl_->tls) return "https://localhost:" + std::to_string(impl_->port);
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

void fake_upstream::set_handler(std::function<scripted_response(const recorded_request&)> h) {
  std::lock_guard lock(impl_->mu);
  impl_->handler = std::move(h);
}

void fake_upstream::push(scripted_response r) {
  std::lock_guard lock(impl_->mu);
  impl_->queue.push_back(std::move(r));
}

std::vector<recorded_request> fake_upstream::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

int fake_upstream::connections_accepted() const {
  std::lock_guard lock(impl_->mu);
  return impl_->accepted;
}

int fake_upstream::open_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->open;
}

bool fake_upstream::wait_open_connections(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->open == n; });
}

int fake_upstream::close_idle_connections() {
  auto done = std::make_shared<std::promise<int>>();
  auto result = done->get_future();
  asio::post(*impl_->ioc, [this, done] {
    int n = 0;
    for (auto& [id, info] : impl_->conns) {
      if (info.idle && info.close) {
        info.close();
        ++n;
      }
    }
    done->set_value(n);
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return 0;
  return result.get();
}

}  // namespace aiclient::testing
