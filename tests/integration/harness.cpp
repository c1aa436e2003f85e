#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aiclient::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

config::settings test_settings(const std::string& model_provider) {
  config::settings s;
  s.host = "127.0.0.1";
  s.port = 0;
  s.threads = 1;
  s.log_level = "warn";
  s.model_provider = model_provider;
  s.upstream_connect_timeout_ms = 2000;
  s.upstream_first_byte_timeout_ms = 2000;
  s.upstream_idle_timeout_ms = 2000;
  s.shutdown_grace_ms = 5000;
  s.request_base_delay_ms = 5;
  s.health_check_enabled = false;
  spdlog::set_level(spdlog::level::warn);
  return s;
}

running_server::running_server(config::settings s, pool::pools p)
    : srv_(std::make_unique<server::server>(std::move(s), std::move(p))) {
  srv_->start();
}

running_server::~running_server() {
  srv_->request_stop();
  srv_->wait();
}

pool::pools one_instance_pool(const std::string& type, const std::string& base_url,
                              const std::string& api_key) {
  pool::pools p;
  pool::instance inst;
  inst.type = type;
  inst.uuid = "11111111-2222-3333-4444-555555555555";
  inst.base_url = base_url;
  inst.api_key = api_key;
  p.by_type[type].push_back(inst);
  return p;
}

std::string read_until_close(asio::ip::tcp::socket& s, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  s.non_blocking(true);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    const auto n = s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

std::string exchange_raw(std::uint16_t port, const std::string& request, std::size_t split,
                         std::chrono::milliseconds pause) {
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), port});
  if (split == 0 || split >= request.size()) {
    asio::write(sock, asio::buffer(request));
  } else {
    asio::write(sock, asio::buffer(request.data(), split));
    std::this_thread::sleep_for(pause);
    asio::write(sock, asio::buffer(request.data() + split, request.size() - split));
  }
  return read_until_close(sock, std::chrono::seconds(5));
}

client_response http_request(std::uint16_t port, const std::string& method,
                             const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body,
                             std::function<bool(const std::string&)> on_piece,
                             std::chrono::milliseconds timeout) {
  client_response out;
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    stream.expires_after(timeout);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [n, v] : headers) req.set(n, v);
    if (!body.empty() || method == "POST") {
      req.body() = body;
      req.prepare_payload();
    }
    // Blocking calls on a tcp_stream do not time out: use async ops and run with a deadline.
    beast::error_code ec;
    http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.run();
    ioc.restart();
    if (ec) {
      out.error = "write: " + ec.message();
      return out;
    }
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::async_read_header(stream, buf, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.run();
    ioc.restart();
    if (ec) {
      out.error = "read header: " + ec.message();
      return out;
    }
    out.status = parser.get().result_int();
    for (const auto& f : parser.get()) {
      std::string n(f.name_string());
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[n] = std::string(f.value());
    }
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      http::async_read_some(stream, buf, parser, [&](beast::error_code e, std::size_t) { ec = e; });
      ioc.run();
      ioc.restart();
      if (ec == http::error::need_buffer) ec = {};
      const std::size_t got = sizeof chunk - parser.get().body().size;
      if (got > 0) {
        std::string piece(chunk, got);
        out.body += piece;
        out.pieces.emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - t0),
                                piece);
        if (on_piece && !on_piece(piece)) {
          stream.socket().close(ec);
          out.error = "closed by test";
          return out;
        }
      }
      if (ec) {
        out.error = "read body: " + ec.message();
        return out;
      }
    }
    out.complete = true;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// ---------------------------------------------------------------- child process

child_server::child_server(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    std::vector<char*> argv;
    static std::string bin = AICLIENT_SERVER_BINARY;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
}

child_server::~child_server() {
  if (pid_ > 0 && !exit_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

void child_server::pump(std::chrono::milliseconds budget) {
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(budget.count())) <= 0) return;
  char buf[4096];
  for (;;) {
    const auto n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    out_.append(buf, static_cast<std::size_t>(n));
  }
}

std::uint16_t child_server::wait_port(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  static const std::regex re("listening on http://[^ ]+:([0-9]+)");
  while (std::chrono::steady_clock::now() < deadline) {
    pump(std::chrono::milliseconds(50));
    std::smatch m;
    if (std::regex_search(out_, m, re)) return static_cast<std::uint16_t>(std::stoi(m[1]));
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      pump(std::chrono::milliseconds(10));
      return 0;
    }
  }
  return 0;
}

void child_server::signal(int sig) {
  ::kill(pid_, sig);
}

int child_server::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_) return *exit_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pump(std::chrono::milliseconds(20));
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pump(std::chrono::milliseconds(10));
      return *exit_;
    }
  }
  return -1;
}

std::string child_server::output() {
  pump(std::chrono::milliseconds(0));
  return out_;
}

scripted_response json_answer(std::string body, int status) {
  scripted_response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.chunks = {std::move(body)};
  r.chunked = false;
  return r;
}

std::string write_temp_file(const std::string& name, const std::string& text) {
  static std::atomic<int> counter{0};
  const auto dir = std::filesystem::temp_directory_path() /
                   ("aiclient-it-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace aiclient::testing
