// bench_client: the measuring clients of the benchmarks that wrk cannot be.
//
//   bench_client ttfb --port P --path /v1/chat/completions --body FILE [-H 'K: V']... [-n 2000]
//                     [--warmup 200]
//       Sequential requests on one keep-alive connection. Per request: time to the first byte
//       of the response body (for a stream: the first event) and to the end of the response.
//
//   bench_client slow --port P --path ... --body FILE [-H ...] [-c 1000] --expect N
//                     [--ramp-ms 1000] [--timeout-s 120]
//       `c` concurrent streamed requests. Every content event carries "@<CLOCK_MONOTONIC ns> "
//       (the time the fake upstream wrote it): delay = arrival - that time. Counts the events
//       of each stream and whether it ended cleanly (expect N events each).
//
//   bench_client startup --port P [--path /health] [--timeout-ms 10000] [--log FILE] -- CMD...
//       Starts CMD, polls GET <path> until it answers 200 and prints
//       {"pid":..,"ready_ms":..} (time from fork to the first 200). Then stays CMD's parent:
//       forwards SIGTERM/SIGINT to it and exits when it exits (and CMD gets SIGTERM if this
//       process dies).
//
// Every mode prints one JSON line on stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "bench_client: %s\n", msg.c_str());
  std::exit(1);
}

struct args {
  std::string mode;
  int port = 0;
  std::string path = "/v1/chat/completions";
  std::string body_file;
  std::vector<std::string> headers;
  int n = 2000, warmup = 200, concurrency = 1000, expect = 0, ramp_ms = 1000, timeout_s = 120;
  int timeout_ms = 10000;
  std::string log;
  std::vector<std::string> cmd;
};

args parse(int argc, char** argv) {
  args a;
  if (argc < 2) die("usage: bench_client ttfb|slow|startup ... (see the source)");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--") {
      for (++i; i < argc; ++i) a.cmd.emplace_back(argv[i]);
      break;
    }
    if (i + 1 >= argc) die(k + " needs a value");
    std::string v = argv[++i];
    if (k == "--port")
      a.port = std::atoi(v.c_str());
    else if (k == "--path")
      a.path = v;
    else if (k == "--body")
      a.body_file = v;
    else if (k == "-H" || k == "--header")
      a.headers.push_back(v);
    else if (k == "-n")
      a.n = std::atoi(v.c_str());
    else if (k == "--warmup")
      a.warmup = std::atoi(v.c_str());
    else if (k == "-c")
      a.concurrency = std::atoi(v.c_str());
    else if (k == "--expect")
      a.expect = std::atoi(v.c_str());
    else if (k == "--ramp-ms")
      a.ramp_ms = std::atoi(v.c_str());
    else if (k == "--timeout-s")
      a.timeout_s = std::atoi(v.c_str());
    else if (k == "--timeout-ms")
      a.timeout_ms = std::atoi(v.c_str());
    else if (k == "--log")
      a.log = v;
    else
      die("unknown option " + k);
  }
  if (a.port <= 0) die("--port is required");
  return a;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string build_request(const args& a, const std::string& method, const std::string& body) {
  std::string r =
      method + " " + a.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(a.port) + "\r\n";
  if (method == "POST")
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& h : a.headers) r += h + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

int connect_to(int port, bool nonblocking) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Incremental HTTP/1.1 response reader: headers, then a Content-Length, chunked or
// close-delimited body. Body bytes (de-chunked) are handed to a callback.
class response_reader {
 public:
  enum class state {
    headers,
    body_length,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    done,
    error
  };

  void reset() {
    st_ = state::headers;
    head_.clear();
    status_ = 0;
    remaining_ = 0;
    close_ = false;
    close_delimited_ = false;
    line_.clear();
  }

  // Consumes bytes; returns the number of bytes used (the rest belongs to the next response).
  template <class F>
  std::size_t feed(const char* p, std::size_t n, F&& on_body) {
    std::size_t i = 0;
    while (i < n && st_ != state::done && st_ != state::error) {
      switch (st_) {
        case state::headers: {
          head_.append(p + i, 1);
          ++i;
          if (head_.size() >= 4 && head_.compare(head_.size() - 4, 4, "\r\n\r\n") == 0)
            parse_head();
          break;
        }
        case state::body_length: {
          const std::size_t take = std::min<std::size_t>(remaining_, n - i);
          on_body(p + i, take);
          i += take;
          remaining_ -= take;
          if (remaining_ == 0) st_ = state::done;
          break;
        }
        case state::chunk_size: {
          const char c = p[i++];
          if (c == '\n') {
            remaining_ = std::strtoull(line_.c_str(), nullptr, 16);
            line_.clear();
            st_ = remaining_ == 0 ? state::trailers : state::chunk_data;
          } else if (c != '\r') {
            line_ += c;
          }
          break;
        }
        case state::chunk_data: {
          const std::size_t take = std::min<std::size_t>(remaining_, n - i);
          on_body(p + i, take);
          i += take;
          remaining_ -= take;
          if (remaining_ == 0) st_ = state::chunk_crlf;
          break;
        }
        case state::chunk_crlf: {
          if (p[i++] == '\n') st_ = state::chunk_size;
          break;
        }
        case state::trailers: {
          const char c = p[i++];
          if (c == '\n') {
            if (line_.empty()) st_ = state::done;
            line_.clear();
          } else if (c != '\r') {
            line_ += c;
          }
          break;
        }
        default:
          break;
      }
    }
    return i;
  }

  // The peer closed: a close-delimited body ends here.
  void eof() {
    if (close_delimited_ && st_ == state::body_length) st_ = state::done;
  }

  state st() const { return st_; }
  bool in_body() const { return st_ != state::headers; }
  int status() const { return status_; }
  bool keep_alive() const { return !close_; }

 private:
  void parse_head() {
    std::string lower = head_;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (head_.size() < 12 || head_.compare(0, 5, "HTTP/") != 0) {
      st_ = state::error;
      return;
    }
    status_ = std::atoi(head_.c_str() + 9);
    close_ = lower.find("\r\nconnection: close") != std::string::npos;
    const bool chunked = lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
    const std::size_t cl = lower.find("\r\ncontent-length:");
    if (chunked) {
      st_ = state::chunk_size;
    } else if (cl != std::string::npos) {
      remaining_ = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
      st_ = remaining_ == 0 ? state::done : state::body_length;
    } else {
      close_delimited_ = true;
      close_ = true;
      remaining_ = SIZE_MAX;
      st_ = state::body_length;
    }
  }

  state st_ = state::headers;
  std::string head_;
  int status_ = 0;
  std::size_t remaining_ = 0;
  bool close_ = false, close_delimited_ = false;
  std::string line_;
};

double pct(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t idx = std::size_t(p / 100.0 * double(v.size() - 1) + 0.5);
  return double(v[std::min(idx, v.size() - 1)]);
}

// ---------------------------------------------------------------------------------------

int run_ttfb(const args& a) {
  const std::string req = build_request(a, "POST", read_file(a.body_file));
  std::vector<std::int64_t> ttfb, total;
  std::map<int, int> statuses;
  int fd = -1, errors = 0, reconnects = 0;
  response_reader rr;
  char buf[65536];
  for (int i = 0; i < a.warmup + a.n; ++i) {
    if (fd < 0) {
      fd = connect_to(a.port, false);
      if (fd < 0) die("cannot connect to port " + std::to_string(a.port));
      ++reconnects;
    }
    rr.reset();
    const std::int64_t t0 = mono_ns();
    std::int64_t t_first = 0;
    std::size_t off = 0;
    bool ok = true;
    while (off < req.size()) {
      ssize_t w = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (w <= 0) {
        ok = false;
        break;
      }
      off += std::size_t(w);
    }
    while (ok && rr.st() != response_reader::state::done) {
      ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        rr.eof();
        if (rr.st() != response_reader::state::done) ok = false;
        break;
      }
      rr.feed(buf, std::size_t(r), [&](const char*, std::size_t n) {
        if (n > 0 && t_first == 0) t_first = mono_ns();
      });
      if (rr.st() == response_reader::state::error) ok = false;
    }
    const std::int64_t t1 = mono_ns();
    if (!ok) {
      ++errors;
      ::close(fd);
      fd = -1;
      continue;
    }
    if (!rr.keep_alive()) {
      ::close(fd);
      fd = -1;
    }
    if (i < a.warmup) continue;
    ++statuses[rr.status()];
    ttfb.push_back((t_first ? t_first : t1) - t0);
    total.push_back(t1 - t0);
  }
  if (fd >= 0) ::close(fd);
  std::string st = "{";
  for (auto& [s, c] : statuses)
    st += (st.size() > 1 ? "," : "") + ("\"" + std::to_string(s) + "\":" + std::to_string(c));
  st += "}";
  const double t50 = pct(ttfb, 50), t99 = pct(ttfb, 99), a50 = pct(total, 50), a99 = pct(total, 99);
  std::printf(
      "{\"n\":%zu,\"errors\":%d,\"connections\":%d,\"status\":%s,\"ttfb_p50_us\":%.1f,"
      "\"ttfb_p99_us\":%.1f,\"total_p50_us\":%.1f,\"total_p99_us\":%.1f}\n",
      ttfb.size(), errors, reconnects, st.c_str(), t50 / 1e3, t99 / 1e3, a50 / 1e3, a99 / 1e3);
  return 0;
}

// ---------------------------------------------------------------------------------------

struct stream_conn {
  int fd = -1;
  std::string out;
  std::size_t out_off = 0;
  response_reader rr;
  std::string line;
  int events = 0;
  bool done = false, failed = false;
};

int run_slow(const args& a) {
  const std::string req = build_request(a, "POST", read_file(a.body_file));
  const int c = a.concurrency;
  std::vector<stream_conn> conns(static_cast<std::size_t>(c));
  std::vector<std::int64_t> delays;
  delays.reserve(std::size_t(c) * std::size_t(std::max(1, a.expect)) + 16);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int started = 0, finished = 0, connect_failures = 0;
  std::map<int, int> statuses;
  const std::int64_t t_start = mono_ns();
  const std::int64_t deadline = t_start + std::int64_t(a.timeout_s) * 1000000000;
  char buf[65536];

  auto finish = [&](stream_conn& s, bool failed) {
    if (s.fd < 0) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
    ::close(s.fd);
    s.fd = -1;
    s.done = !failed;
    s.failed = failed;
    ++finished;
  };

  auto on_body = [&](stream_conn& s, const char* p, std::size_t n) {
    const std::int64_t now = mono_ns();
    for (std::size_t i = 0; i < n; ++i) {
      if (p[i] != '\n') {
        s.line += p[i];
        continue;
      }
      const std::size_t at = s.line.find('@');
      if (at != std::string::npos && at + 1 < s.line.size() &&
          std::isdigit(static_cast<unsigned char>(s.line[at + 1]))) {
        const std::int64_t sent = std::strtoll(s.line.c_str() + at + 1, nullptr, 10);
        delays.push_back(now - sent);
        ++s.events;
      }
      s.line.clear();
    }
  };

  while (finished < c) {
    const std::int64_t now = mono_ns();
    if (now > deadline) break;
    // Open connections progressively over ramp_ms.
    const int due =
        a.ramp_ms <= 0 ? c : std::min<int>(c, int((now - t_start) / 1000000 * c / a.ramp_ms) + 1);
    while (started < due) {
      stream_conn& s = conns[std::size_t(started)];
      s.fd = connect_to(a.port, true);
      if (s.fd < 0) {
        ++connect_failures;
        s.failed = true;
        ++finished;
      } else {
        s.out = req;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
        ev.data.u32 = std::uint32_t(started);
        epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
      }
      ++started;
    }
    epoll_event evs[256];
    const int n = epoll_wait(ep, evs, 256, started < c ? 1 : 100);
    for (int i = 0; i < n; ++i) {
      stream_conn& s = conns[evs[i].data.u32];
      if (s.fd < 0) continue;
      if (evs[i].events & EPOLLOUT) {
        while (s.out_off < s.out.size()) {
          ssize_t w =
              ::send(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off, MSG_NOSIGNAL);
          if (w > 0) {
            s.out_off += std::size_t(w);
          } else {
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
            finish(s, true);
            break;
          }
        }
        if (s.fd < 0) continue;
        if (s.out_off >= s.out.size()) {
          std::string().swap(s.out);
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.u32 = evs[i].data.u32;
          epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
        }
      }
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t r = ::recv(s.fd, buf, sizeof buf, 0);
          if (r > 0) {
            const bool had_head = s.rr.in_body();
            s.rr.feed(buf, std::size_t(r), [&](const char* p, std::size_t k) { on_body(s, p, k); });
            if (!had_head && s.rr.in_body()) ++statuses[s.rr.status()];
            if (s.rr.st() == response_reader::state::done) {
              finish(s, s.rr.status() != 200);
              break;
            }
            if (s.rr.st() == response_reader::state::error) {
              finish(s, true);
              break;
            }
            continue;
          }
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
          s.rr.eof();
          finish(s, !(s.rr.st() == response_reader::state::done && s.rr.status() == 200));
          break;
        }
      }
    }
  }
  const double secs = double(mono_ns() - t_start) / 1e9;
  int ok = 0, failed = 0, unfinished = 0, min_ev = 1 << 30, max_ev = 0;
  long long events = 0;
  for (auto& s : conns) {
    if (s.fd >= 0) {
      ++unfinished;
      ::close(s.fd);
    } else if (s.done) {
      ++ok;
    } else {
      ++failed;
    }
    events += s.events;
    min_ev = std::min(min_ev, s.events);
    max_ev = std::max(max_ev, s.events);
  }
  std::string st = "{";
  for (auto& [code, cnt] : statuses)
    st += (st.size() > 1 ? "," : "") + ("\"" + std::to_string(code) + "\":" + std::to_string(cnt));
  st += "}";
  const long long expected = (long long)c * a.expect;
  const double p50 = pct(delays, 50), p99 = pct(delays, 99), p999 = pct(delays, 99.9);
  const double dmax = delays.empty() ? 0.0 : double(delays.back());
  std::printf(
      "{\"clients\":%d,\"ok\":%d,\"failed\":%d,\"unfinished\":%d,\"connect_failures\":%d,"
      "\"status\":%s,\"events\":%lld,\"expected_events\":%lld,\"min_events\":%d,\"max_events\":%d,"
      "\"delay_p50_us\":%.1f,\"delay_p99_us\":%.1f,\"delay_p999_us\":%.1f,\"delay_max_us\":%.1f,"
      "\"seconds\":%.2f}\n",
      c, ok, failed, unfinished, connect_failures, st.c_str(), events, expected,
      min_ev == (1 << 30) ? 0 : min_ev, max_ev, p50 / 1e3, p99 / 1e3, p999 / 1e3, dmax / 1e3, secs);
  return 0;
}

// ---------------------------------------------------------------------------------------

pid_t child_pid = -1;

void forward_signal(int sig) {
  if (child_pid > 0) ::kill(child_pid, sig);
}

// GET path on the port: true when it answers 200.
bool probe(const args& a) {
  int fd = connect_to(a.port, false);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = build_request(a, "GET", "");
  bool ok = false;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
    char buf[4096];
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    ok = r >= 12 && std::strncmp(buf, "HTTP/1.1 200", 12) == 0;
  }
  ::close(fd);
  return ok;
}

int run_startup(args a) {
  if (a.cmd.empty()) die("startup: the command to start follows --");
  if (a.path == "/v1/chat/completions") a.path = "/health";
  std::signal(SIGTERM, forward_signal);
  std::signal(SIGINT, forward_signal);
  std::signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // our own parent (the harness) died: stop too
  const pid_t parent = ::getpid();
  const std::int64_t t0 = mono_ns();
  child_pid = ::fork();
  if (child_pid < 0) die("fork failed");
  if (child_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);
    if (!a.log.empty()) {
      int fd = ::open(a.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
    }
    std::vector<char*> av;
    for (auto& s : a.cmd) av.push_back(s.data());
    av.push_back(nullptr);
    ::execvp(av[0], av.data());
    std::perror("exec");
    _exit(127);
  }
  const std::int64_t limit = t0 + std::int64_t(a.timeout_ms) * 1000000;
  for (;;) {
    int status;
    if (::waitpid(child_pid, &status, WNOHANG) == child_pid) {
      std::printf("{\"pid\":%d,\"ready_ms\":null,\"error\":\"exited before ready\"}\n", child_pid);
      std::fflush(stdout);
      return 1;
    }
    if (probe(a)) break;
    if (mono_ns() > limit) {
      std::printf("{\"pid\":%d,\"ready_ms\":null,\"error\":\"not ready in time\"}\n", child_pid);
      std::fflush(stdout);
      ::kill(child_pid, SIGKILL);
      ::waitpid(child_pid, &status, 0);
      return 1;
    }
    ::usleep(200);
  }
  const double ready_ms = double(mono_ns() - t0) / 1e6;
  std::printf("{\"pid\":%d,\"ready_ms\":%.2f}\n", child_pid, ready_ms);
  std::fflush(stdout);
  int status = 0;
  while (::waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  args a = parse(argc, argv);
  if (a.mode == "ttfb") return run_ttfb(a);
  if (a.mode == "slow") return run_slow(a);
  if (a.mode == "startup") return run_startup(a);
  die("unknown mode " + a.mode);
}
