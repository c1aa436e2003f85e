// fake_upstream: a fast, scriptable LLM upstream for the benchmarks (raw epoll, HTTP/1.1
// keep-alive, one event loop per thread on a shared SO_REUSEPORT port).
//
//   fake_upstream --port P [--threads N] [--chunks 20]
//
// Routes (POST; the body's "stream":true selects a streamed answer):
//   [/slow/<ms>/<seconds>]/v1/chat/completions   OpenAI chat.completion (624 bytes) or SSE
//   [/slow/<ms>/<seconds>]/v1/messages           Anthropic message, or SSE
//   GET /health                                  "ok"
// A fast stream sends its head, <chunks> content events and its tail in one write. With the
// /slow/<ms>/<seconds> prefix the head is sent at once, then one content event every <ms>
// milliseconds for <seconds> seconds, each carrying "@<CLOCK_MONOTONIC ns> " (the time it was
// written) in its text, then the tail. Any other path answers 404.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../common/fixtures.hpp"

namespace {

std::int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

// One HTTP chunk holding `data`.
std::string http_chunk(std::string_view data) {
  std::string s = hex(data.size());
  s += "\r\n";
  s.append(data);
  s += "\r\n";
  return s;
}

struct canned {
  std::string openai_json, anthropic_json;          // whole responses, headers included
  std::string openai_stream, anthropic_stream;      // whole streamed responses
  std::string sse_head_openai, sse_head_anthropic;  // response headers + first events
  std::string not_found, health, bad_request;
};

canned make_canned(int chunks) {
  canned c;
  auto json_resp = [](const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string sse_headers =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  c.openai_json = json_resp(bench::openai_completion());
  c.anthropic_json = json_resp(bench::anthropic_message());
  // One HTTP chunk per event, as a real upstream flushes them.
  c.openai_stream = sse_headers;
  for (const auto& e : bench::openai_stream_events(chunks)) c.openai_stream += http_chunk(e);
  c.openai_stream += "0\r\n\r\n";
  c.anthropic_stream = sse_headers;
  for (const auto& e : bench::anthropic_stream_events(chunks)) c.anthropic_stream += http_chunk(e);
  c.anthropic_stream += "0\r\n\r\n";
  c.sse_head_openai = sse_headers + http_chunk(bench::openai_stream_head());
  c.sse_head_anthropic = sse_headers + http_chunk(bench::anthropic_stream_head());
  const std::string nf = "{\"error\":{\"message\":\"no such route\",\"type\":\"not_found\"}}";
  c.not_found = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(nf.size()) + "\r\n\r\n" + nf;
  c.health = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
  c.bad_request = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  return c;
}

struct slow_state {
  bool anthropic = false;
  std::int64_t interval_ns = 0;
  std::int64_t next_ns = 0;
  std::int64_t remaining = 0;
};

struct conn {
  int fd = -1;
  std::uint64_t gen = 0;
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  bool want_write = false;  // EPOLLOUT armed
  bool close_after = false;
  bool busy = false;  // a slow stream is in progress: requests wait
  slow_state slow;
};

struct timer_entry {
  std::int64_t at;
  int fd;
  std::uint64_t gen;
  bool operator>(const timer_entry& o) const { return at > o.at; }
};

class loop {
 public:
  loop(int listen_fd, const canned& c) : lfd_(listen_fd), c_(c) {}

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    tfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    add(lfd_, EPOLLIN);
    add(tfd_, EPOLLIN);
    std::vector<epoll_event> evs(512);
    for (;;) {
      int n = epoll_wait(ep_, evs.data(), int(evs.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_wait");
        return;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        const std::uint32_t e = evs[i].events;
        if (fd == lfd_) {
          accept_all();
        } else if (fd == tfd_) {
          std::uint64_t x;
          while (::read(tfd_, &x, sizeof x) > 0) {
          }
          run_timers();
        } else {
          auto it = conns_.find(fd);
          if (it == conns_.end()) continue;
          conn& k = *it->second;
          if (e & (EPOLLERR | EPOLLHUP)) {
            close_conn(k);
            continue;
          }
          if ((e & EPOLLOUT) && !flush(k)) continue;
          if (e & (EPOLLIN | EPOLLRDHUP)) on_readable(k);
        }
      }
    }
  }

 private:
  void add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }
  void mod(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto k = std::make_unique<conn>();
      k->fd = fd;
      k->gen = ++gen_;
      add(fd, EPOLLIN | EPOLLRDHUP);
      conns_[fd] = std::move(k);
    }
  }

  void close_conn(conn& k) {
    const int fd = k.fd;
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns_.erase(fd);  // destroys k
  }

  void on_readable(conn& k) {
    char buf[65536];
    for (;;) {
      ssize_t r = ::read(k.fd, buf, sizeof buf);
      if (r > 0) {
        k.in.append(buf, std::size_t(r));
        if (std::size_t(r) < sizeof buf) break;
        continue;
      }
      if (r == 0) {
        close_conn(k);
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      close_conn(k);
      return;
    }
    process(k);
  }

  // Parses and answers the complete requests buffered on `k` (in order).
  void process(conn& k) {
    const int fd = k.fd;
    while (!k.busy && !k.close_after) {
      const std::size_t hend = k.in.find("\r\n\r\n");
      if (hend == std::string::npos) return;
      std::string_view head(k.in.data(), hend);
      const std::size_t sp1 = head.find(' ');
      const std::size_t sp2 = head.find(' ', sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
        send(k, c_.bad_request);
        k.close_after = true;
        break;
      }
      std::string_view method = head.substr(0, sp1);
      std::string_view path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t content_length = 0;
      bool chunked = false, close = false;
      std::size_t pos = head.find("\r\n");
      while (pos != std::string_view::npos && pos < head.size()) {
        std::size_t next = head.find("\r\n", pos + 2);
        std::string_view line =
            head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
          std::string name(line.substr(0, colon));
          for (char& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
          std::string_view value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          if (name == "content-length")
            content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
          else if (name == "transfer-encoding" && value.find("chunked") != std::string_view::npos)
            chunked = true;
          else if (name == "connection" && (value == "close" || value == "Close"))
            close = true;
        }
        pos = next;
      }
      std::size_t total = hend + 4;
      std::string body;
      if (chunked) {
        // De-chunk (rare: the gateway and nginx send Content-Length).
        std::size_t p = total;
        for (;;) {
          const std::size_t le = k.in.find("\r\n", p);
          if (le == std::string::npos) return;
          const std::size_t n = std::strtoull(k.in.substr(p, le - p).c_str(), nullptr, 16);
          if (n == 0) {
            const std::size_t end = k.in.find("\r\n", le + 2);
            if (end == std::string::npos) return;
            total = end + 2;
            break;
          }
          if (k.in.size() < le + 2 + n + 2) return;
          body.append(k.in, le + 2, n);
          p = le + 2 + n + 2;
        }
      } else {
        if (k.in.size() < total + content_length) return;
        body.assign(k.in, total, content_length);
        total += content_length;
      }
      answer(k, method, path, body);
      if (conns_.find(fd) == conns_.end()) return;  // closed while answering
      k.in.erase(0, total);
      if (close) k.close_after = true;
    }
    if (k.close_after && k.out_off >= k.out.size()) close_conn(k);
  }

  void answer(conn& k, std::string_view method, std::string_view path, const std::string& body) {
    if (method == "GET" && path == "/health") {
      send(k, c_.health);
      return;
    }
    std::int64_t slow_ms = 0, slow_s = 0;
    if (path.rfind("/slow/", 0) == 0) {
      // /slow/<ms>/<seconds>/...
      std::string rest(path.substr(6));
      char* end = nullptr;
      slow_ms = std::strtoll(rest.c_str(), &end, 10);
      if (*end == '/') slow_s = std::strtoll(end + 1, &end, 10);
      path = path.substr(6 + std::size_t(end - rest.c_str()));
    }
    const bool openai = path == "/v1/chat/completions";
    const bool anthropic = path == "/v1/messages";
    if (!openai && !anthropic) {
      send(k, c_.not_found);
      return;
    }
    const bool stream = body.find("\"stream\":true") != std::string::npos ||
                        body.find("\"stream\": true") != std::string::npos;
    if (!stream) {
      send(k, openai ? c_.openai_json : c_.anthropic_json);
      return;
    }
    if (slow_ms <= 0) {
      send(k, openai ? c_.openai_stream : c_.anthropic_stream);
      return;
    }
    k.busy = true;
    k.slow.anthropic = anthropic;
    k.slow.interval_ns = slow_ms * 1000000;
    k.slow.remaining = std::max<std::int64_t>(1, slow_s * 1000 / slow_ms);
    k.slow.next_ns = mono_ns() + k.slow.interval_ns;
    send(k, anthropic ? c_.sse_head_anthropic : c_.sse_head_openai);
    if (conns_.find(k.fd) == conns_.end()) return;
    schedule(k);
  }

  void schedule(conn& k) {
    timers_.push({k.slow.next_ns, k.fd, k.gen});
    arm();
  }

  void arm() {
    if (timers_.empty()) return;
    itimerspec its{};
    const std::int64_t at = timers_.top().at;
    its.it_value.tv_sec = at / 1000000000;
    its.it_value.tv_nsec = at % 1000000000;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  void run_timers() {
    const std::int64_t now = mono_ns();
    while (!timers_.empty() && timers_.top().at <= now) {
      timer_entry t = timers_.top();
      timers_.pop();
      auto it = conns_.find(t.fd);
      if (it == conns_.end() || it->second->gen != t.gen) continue;
      conn& k = *it->second;
      const std::string stamp = "@" + std::to_string(mono_ns()) + " ";
      std::string piece = http_chunk(k.slow.anthropic ? bench::anthropic_stream_content(stamp)
                                                      : bench::openai_stream_content(stamp));
      if (--k.slow.remaining <= 0) {
        piece += http_chunk(k.slow.anthropic ? bench::anthropic_stream_tail()
                                             : bench::openai_stream_tail());
        piece += "0\r\n\r\n";
        k.busy = false;
      }
      const int fd = k.fd;
      send(k, piece);
      if (conns_.find(fd) == conns_.end()) continue;
      if (k.busy) {
        k.slow.next_ns += k.slow.interval_ns;
        timers_.push({k.slow.next_ns, k.fd, k.gen});
      } else {
        process(k);  // a pipelined request may wait
      }
    }
    arm();
  }

  // Queues bytes and writes what the socket takes. Returns false when the connection closed.
  bool send(conn& k, std::string_view data) {
    if (k.out_off >= k.out.size()) {
      k.out.clear();
      k.out_off = 0;
    }
    k.out.append(data);
    return flush(k);
  }

  bool flush(conn& k) {
    while (k.out_off < k.out.size()) {
      ssize_t w = ::send(k.fd, k.out.data() + k.out_off, k.out.size() - k.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        k.out_off += std::size_t(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!k.want_write) {
          k.want_write = true;
          mod(k.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        }
        return true;
      }
      close_conn(k);
      return false;
    }
    k.out.clear();
    k.out_off = 0;
    if (k.want_write) {
      k.want_write = false;
      mod(k.fd, EPOLLIN | EPOLLRDHUP);
    }
    if (k.close_after && !k.busy) {
      close_conn(k);
      return false;
    }
    return true;
  }

  int lfd_;
  const canned& c_;
  int ep_ = -1, tfd_ = -1;
  std::uint64_t gen_ = 0;
  std::unordered_map<int, std::unique_ptr<conn>> conns_;
  std::priority_queue<timer_entry, std::vector<timer_entry>, std::greater<>> timers_;
};

int listen_on(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) {
    std::perror("fake_upstream: bind/listen");
    std::exit(1);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, threads = 1, chunks = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fake_upstream: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--port")
      port = val();
    else if (a == "--threads")
      threads = std::max(1, val());
    else if (a == "--chunks")
      chunks = std::max(1, val());
    else {
      std::fprintf(stderr, "usage: fake_upstream --port P [--threads N] [--chunks 20]\n");
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  static const canned c = make_canned(chunks);
  std::vector<int> fds;
  fds.push_back(listen_on(port));
  if (port == 0) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fds[0], reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  for (int i = 1; i < threads; ++i) fds.push_back(listen_on(port));
  std::printf("fake_upstream listening on 127.0.0.1:%d (%d thread(s), %d chunks)\n", port, threads,
              chunks);
  std::fflush(stdout);
  std::vector<std::thread> ts;
  for (int i = 1; i < threads; ++i)
    ts.emplace_back([fd = fds[std::size_t(i)]] { loop(fd, c).run(); });
  loop(fds[0], c).run();
  for (auto& t : ts) t.join();
}
