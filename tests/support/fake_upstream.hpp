#pragma once
// A scriptable fake upstream HTTP(S) server for tests: runs on its own thread, port 0.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace aiclient::testing {

/// A request as the fake upstream received it.
struct recorded_request {
  std::string method;
  std::string target;                          ///< path and query
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// What the fake upstream does for one request.
struct scripted_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  ///< e.g. {"content-type", ...}
  std::vector<std::string> chunks;  ///< body pieces, written (and flushed) one by one
  std::chrono::milliseconds delay_before_header{0};
  std::chrono::milliseconds delay_between_chunks{0};
  bool chunked = true;         ///< false: Content-Length with all chunks joined
  bool hang = false;           ///< read the request, never answer (until the peer closes)
  bool drop_mid_body = false;  ///< after the chunks, close the socket without ending the body
                               ///< (with chunked=false, Content-Length announces 16 more bytes)
  bool close_after = false;    ///< answer with Connection: close and close after the response
  bool close_without_answer = false;  ///< read the request, then close without sending a byte
};

/// Test TLS material made at test time (self-signed CA + server cert for localhost/127.0.0.1).
struct test_cert {
  std::string dir;
  std::string ca_file;    ///< PEM the client must trust
  std::string cert_file;  ///< server certificate chain (PEM)
  std::string key_file;   ///< server private key (PEM)
};
/// Made once per test process, in a temporary folder.
const test_cert& shared_test_cert();

/// The fake server. Default answer (no handler, empty queue): 200 application/json "{}".
class fake_upstream {
 public:
  /// `tls`: serve HTTPS with shared_test_cert().
  explicit fake_upstream(bool tls = false);
  ~fake_upstream();
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  std::uint16_t port() const;
  /// "http://127.0.0.1:PORT" (or "https://localhost:PORT" with tls).
  std::string base_url() const;
  /// Every request is answered by `h` (takes precedence over the queue).
  void set_handler(std::function<scripted_response(const recorded_request&)> h);
  /// Queues one answer (used in order, before the default).
  void push(scripted_response r);
  /// Requests received so far (complete ones).
  std::vector<recorded_request> requests() const;
  /// TCP connections accepted so far.
  int connections_accepted() const;
  /// Connections currently open (accepted and not yet closed by either side).
  int open_connections() const;
  /// Waits until open_connections() == n or the timeout passes; returns the final test.
  bool wait_open_connections(int n, std::chrono::milliseconds timeout) const;
  /// Closes (server side) every connection that waits for its next request, as an upstream
  /// does with idle keep-alive connections. Returns the number closed.
  int close_idle_connections();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace aiclient::testing
