#pragma once
// Integration test harness: the real server in-process on port 0, a small blocking HTTP client,
// and a child-process runner for the binary itself.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "aiclient/config/settings.hpp"
#include "aiclient/pool/pool_file.hpp"
#include "aiclient/server/server.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::testing {

/// Settings for tests: loopback, port 0, one thread, short timeouts, quiet logs.
config::settings test_settings(const std::string& model_provider = "mock");

/// The in-process server, started in the constructor and stopped in the destructor.
class running_server {
 public:
  running_server(config::settings s, pool::pools p);
  ~running_server();
  std::uint16_t port() const { return srv_->port(); }
  server::server& get() { return *srv_; }

 private:
  std::unique_ptr<server::server> srv_;
};

/// One pool with one instance of `type` pointing at `base_url`.
pool::pools one_instance_pool(const std::string& type, const std::string& base_url,
                              const std::string& api_key = "sk-upstream-secret-0001");

/// A response as the test client saw it.
struct client_response {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  bool complete = false;  ///< the message ended properly (not cut)
  std::string error;      ///< transport error, if any
  /// Body pieces with the time each arrived (since the request was sent).
  std::vector<std::pair<std::chrono::milliseconds, std::string>> pieces;
};

/// Blocking HTTP/1.1 client request to 127.0.0.1:port (a new connection each time).
/// `on_piece` may return false to close the connection abruptly mid-body.
client_response http_request(std::uint16_t port, const std::string& method,
                             const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body,
                             std::function<bool(const std::string&)> on_piece = nullptr,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// Reads whatever the server sends on `s` until it closes or `timeout` passes.
std::string read_until_close(boost::asio::ip::tcp::socket& s, std::chrono::milliseconds timeout);

/// Writes `request` in one piece (or in two, `pause` apart, split at `split`) on a new
/// connection and returns the bytes the server answers until it closes the connection (send
/// "Connection: close") or 5 s pass: for what http_request() normalises (header case, framing).
std::string exchange_raw(std::uint16_t port, const std::string& request, std::size_t split = 0,
                         std::chrono::milliseconds pause = std::chrono::milliseconds(0));

/// A child process of the aiclient-server binary with stdout+stderr captured.
class child_server {
 public:
  explicit child_server(const std::vector<std::string>& args);
  ~child_server();
  /// Waits for the "listening on http://host:PORT" line; 0 on timeout or exit.
  std::uint16_t wait_port(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Sends a signal.
  void signal(int sig);
  /// Waits for exit; returns the exit status, 128 + the signal when killed by one, or -1 on
  /// timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  /// Everything the process printed so far.
  std::string output();
  /// The process id.
  int pid() const noexcept { return pid_; }

 private:
  void pump(std::chrono::milliseconds budget);
  int pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  std::optional<int> exit_;
};

/// A scripted upstream answer: `body` as application/json with Content-Length.
scripted_response json_answer(std::string body, int status = 200);

/// Writes `text` to a fresh file in a temporary folder; returns its path.
std::string write_temp_file(const std::string& name, const std::string& text);

}  // namespace aiclient::testing
