#pragma once
// Helpers of the token manager tests: temporary credential files, instances, fake token
// servers, and running the manager's awaitables to completion.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "aiclient/auth/token_manager.hpp"
#include "aiclient/pool/pool_file.hpp"
#include "support/fake_upstream.hpp"

namespace aiclient::auth::test {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace std::chrono_literals;
using aiclient::testing::fake_upstream;
using aiclient::testing::recorded_request;
using aiclient::testing::scripted_response;

/// A fresh folder per test, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "auth_test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// A path inside the folder.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

/// Writes `content` to `path` through a new file renamed over it (a new inode, as the
/// providers' own tools and editors do), with `mode`.
inline void write_file(const std::string& path, const std::string& content, mode_t mode = 0600) {
  const std::string temp = path + ".new";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(temp.c_str(), mode);
  fs::rename(temp, path);
}

/// The whole file.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The permission bits of `path`.
inline mode_t file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

/// Milliseconds since the epoch of now + `d`.
inline std::int64_t ms_from_now(std::chrono::system_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             (std::chrono::system_clock::now() + d).time_since_epoch())
      .count();
}

/// Seconds between `t` and now + `d` (absolute).
inline double seconds_off(std::chrono::system_clock::time_point t,
                          std::chrono::system_clock::duration d) {
  const auto expected = std::chrono::system_clock::now() + d;
  return std::abs(std::chrono::duration<double>(t - expected).count());
}

/// An instance of `type` with string fields.
inline std::shared_ptr<const pool::instance> make_instance(
    const std::string& type, const std::map<std::string, std::string>& fields,
    const std::string& uuid = "inst-1") {
  auto inst = std::make_shared<pool::instance>();
  inst->type = type;
  inst->uuid = uuid;
  for (const auto& [k, v] : fields) inst->fields.emplace(k, v);
  return inst;
}

/// A JSON answer of the fake upstream.
inline scripted_response json_answer(int status, const std::string& body,
                                     std::chrono::milliseconds delay = 0ms) {
  scripted_response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.chunks = {body};
  r.chunked = false;
  r.delay_before_header = delay;
  return r;
}

/// A port with nothing listening on it.
inline std::uint16_t closed_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// Endpoints that lead nowhere (a closed loopback port): tests override them per instance,
/// so nothing can ever reach a real service.
inline endpoints dead_endpoints() {
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  endpoints ep;
  ep.gemini_token_url = dead + "/token";
  ep.gemini_client_secret = "test-gemini-client-secret";
  ep.gemini_code_assist_base = dead + "/v1internal";
  ep.qwen_token_url = dead + "/api/v1/oauth2/token";
  ep.kiro_social_refresh_url = dead + "/refreshToken";
  ep.kiro_idc_token_url = dead + "/token";
  return ep;
}

/// Short timeouts and polls for tests.
inline manager_options test_options() {
  manager_options o;
  o.near = std::chrono::minutes(15);
  o.http_timeout = 3000ms;
  o.onboard_poll_interval = 20ms;
  o.onboard_poll_attempts = 5;
  return o;
}

/// Runs `a` on a fresh io_context (this thread) and returns its result.
template <class T>
T run(asio::awaitable<T> a) {
  asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out = std::move(v);
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

/// get() run to completion.
inline token_result get_token(token_manager& m, std::shared_ptr<const pool::instance> inst,
                              bool force = false) {
  return run(m.get(std::move(inst), force));
}

/// The requests of `fake` whose target is `target`.
inline std::vector<recorded_request> requests_to(const fake_upstream& fake,
                                                 const std::string& target) {
  std::vector<recorded_request> out;
  for (auto& r : fake.requests())
    if (r.target == target) out.push_back(r);
  return out;
}

/// Waits (up to `limit`) until `done()` holds; returns its last value.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = 3000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return done();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace aiclient::auth::test
