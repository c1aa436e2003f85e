#pragma once
// Connection deadlines checked by one timer per thread, instead of one Asio timer armed and
// cancelled around every read and write (beast::tcp_stream's way: per operation a timer-queue
// insert under a mutex, a cancel, a completion handler, and often a timerfd_settime). Arming a
// deadline here is a clock read and a few stores; the sweeper's timer is set for the earliest
// armed deadline (plus `slack`, so that close deadlines are handled by one wake-up) and is only
// moved when a deadline earlier than that is armed. A sweeper made with `release_when_idle`
// also cancels its timer when no deadline is armed any more, so that an io_context whose
// connections are all idle runs out of work, as it did with per-operation timers (for threads
// that run until their work is done); the server's workers, which run until stopped, skip that
// (it would cost a timer cancel and re-arm whenever the last pending operation completes).
#include <chrono>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace aiclient::net {

class deadline_sweeper;

namespace detail {
/// A node of the sweeper's intrusive list of deadlines.
struct deadline_link {
  deadline_link* prev_ = nullptr;
  deadline_link* next_ = nullptr;
};
}  // namespace detail

/// The deadline of one connection: while armed and past, the sweeper calls the connection's
/// expiry function (which closes its socket, so that the pending operation completes with an
/// error) and marks the deadline expired. Arm it right before an I/O operation and disarm it
/// right after, as the operation's timeout. Used on the sweeper's executor only.
class deadline : public detail::deadline_link {
 public:
  using clock = std::chrono::steady_clock;
  using expire_fn = void (*)(void* ctx);

  /// A disarmed deadline registered with `sweeper` for its life; `fn(ctx)` runs on expiry.
  deadline(std::shared_ptr<deadline_sweeper> sweeper, expire_fn fn, void* ctx);
  ~deadline();
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  /// Arms the deadline `d` from now.
  void expires_after(clock::duration d) { expires_at(clock::now() + d); }
  /// Arms the deadline at `at` (time_point::max() disarms it).
  void expires_at(clock::time_point at);
  /// Disarms the deadline.
  void expires_never();
  /// True once the deadline has fired (for good: the connection was closed).
  bool expired() const noexcept { return expired_; }

 private:
  friend class deadline_sweeper;
  std::shared_ptr<deadline_sweeper> sweeper_;
  expire_fn fn_;
  void* ctx_;
  clock::time_point at_ = clock::time_point::max();
  bool expired_ = false;
};

/// The deadlines of one thread (one io_context) and the timer that checks them. Deadlines
/// fire at most `slack` (plus the time it takes the thread to get to the timer) after their
/// time. Owned through shared_ptr: every deadline keeps its sweeper alive.
class deadline_sweeper : public std::enable_shared_from_this<deadline_sweeper> {
 public:
  using clock = deadline::clock;
  /// How late a deadline may fire, so that deadlines close to each other share a wake-up.
  static constexpr std::chrono::milliseconds slack{10};

  explicit deadline_sweeper(boost::asio::any_io_executor ex, bool release_when_idle = true)
      : timer_(std::move(ex)), release_when_idle_(release_when_idle) {
    head_.prev_ = head_.next_ = &head_;
  }
  deadline_sweeper(const deadline_sweeper&) = delete;
  deadline_sweeper& operator=(const deadline_sweeper&) = delete;

  /// Number of registered deadlines (armed or not), for tests.
  std::size_t size() const noexcept { return count_; }
  /// True while the timer is set.
  bool ticking() const noexcept { return wake_at_ != clock::time_point::max(); }
  /// Number of armed deadlines, for tests.
  std::size_t armed_count() const noexcept { return armed_; }

 private:
  friend class deadline;
  detail::deadline_link head_;  ///< sentinel of the intrusive list

  void link(deadline& d) noexcept {
    d.prev_ = head_.prev_;
    d.next_ = &head_;
    head_.prev_->next_ = &d;
    head_.prev_ = &d;
    ++count_;
  }
  void unlink(deadline& d) noexcept {
    d.prev_->next_ = d.next_;
    d.next_->prev_ = d.prev_;
    d.prev_ = d.next_ = nullptr;
    --count_;
  }
  void armed(clock::time_point at) {
    if (at + slack < wake_at_) schedule(at + slack);
  }
  void disarmed() {
    if (--armed_ == 0 && release_when_idle_ && ticking()) {
      wake_at_ = clock::time_point::max();
      timer_.cancel();  // nothing left to watch: the thread's io_context may run out of work
    }
  }
  void schedule(clock::time_point when) {
    wake_at_ = when;
    timer_.expires_at(when);  // a pending wait completes with operation_aborted: ignored
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->sweep();
    });
  }
  void sweep() {
    wake_at_ = clock::time_point::max();
    const auto now = clock::now();
    auto next = clock::time_point::max();
    for (detail::deadline_link* l = head_.next_; l != &head_;) {
      auto* d = static_cast<deadline*>(l);
      detail::deadline_link* following = l->next_;  // expiry closes a socket, nothing more
      if (d->at_ <= now) {
        d->at_ = clock::time_point::max();
        --armed_;
        d->expired_ = true;
        d->fn_(d->ctx_);
      } else if (d->at_ < next) {
        next = d->at_;
      }
      l = following;
    }
    if (next != clock::time_point::max()) schedule(next + slack);
  }

  boost::asio::steady_timer timer_;
  clock::time_point wake_at_ = clock::time_point::max();
  std::size_t count_ = 0;
  std::size_t armed_ = 0;
  bool release_when_idle_;
};

inline deadline::deadline(std::shared_ptr<deadline_sweeper> sweeper, expire_fn fn, void* ctx)
    : sweeper_(std::move(sweeper)), fn_(fn), ctx_(ctx) {
  sweeper_->link(*this);
}

inline deadline::~deadline() {
  expires_never();
  sweeper_->unlink(*this);
}

inline void deadline::expires_at(clock::time_point at) {
  if (at == clock::time_point::max()) return expires_never();
  if (at_ == clock::time_point::max()) ++sweeper_->armed_;
  at_ = at;
  sweeper_->armed(at);
}

inline void deadline::expires_never() {
  if (at_ == clock::time_point::max()) return;
  at_ = clock::time_point::max();
  sweeper_->disarmed();
}

}  // namespace aiclient::net
