// The per-thread deadline sweep that replaces per-operation timers.
#include "aiclient/net/deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace aiclient::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct probe {
  int calls = 0;
  clock_type::time_point at{};
  static void fire(void* self) {
    auto* p = static_cast<probe*>(self);
    ++p->calls;
    p->at = clock_type::now();
  }
};

TEST(deadline, fires_after_its_time_and_within_the_slack) {
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  probe p;
  deadline d(sweeper, &probe::fire, &p);
  const auto t0 = clock_type::now();
  d.expires_after(100ms);
  EXPECT_TRUE(sweeper->ticking());
  ioc.run_for(2s);
  ASSERT_EQ(p.calls, 1);
  EXPECT_TRUE(d.expired());
  EXPECT_GE(p.at - t0, 100ms);
  EXPECT_LT(p.at - t0, 100ms + deadline_sweeper::slack + 900ms);  // a busy machine's delay
  EXPECT_FALSE(sweeper->ticking());  // nothing armed any more: the timer stops
}

TEST(deadline, a_disarmed_deadline_never_fires) {
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  probe p;
  deadline d(sweeper, &probe::fire, &p);
  d.expires_after(50ms);
  d.expires_never();
  ioc.run_for(300ms);
  EXPECT_EQ(p.calls, 0);
  EXPECT_FALSE(d.expired());
}

TEST(deadline, an_io_context_whose_deadlines_are_all_disarmed_runs_out_of_work) {
  // As with per-operation timers: an idle connection keeps no timer pending, so a thread that
  // runs its io_context until it has no more work (the token manager's) is not held up.
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  probe p;
  deadline d(sweeper, &probe::fire, &p);
  asio::post(ioc, [&] {
    d.expires_after(30s);
    EXPECT_TRUE(sweeper->ticking());
    EXPECT_EQ(sweeper->armed_count(), 1u);
    d.expires_never();
    EXPECT_EQ(sweeper->armed_count(), 0u);
  });
  const auto t0 = clock_type::now();
  ioc.run();
  EXPECT_LT(clock_type::now() - t0, 5s);
  EXPECT_FALSE(sweeper->ticking());
  EXPECT_EQ(p.calls, 0);
}

TEST(deadline, a_worker_sweeper_keeps_its_timer_when_nothing_is_armed) {
  // The server's workers run until stopped: their sweeper does not cancel and re-arm its
  // timer each time the last pending operation completes; the timer just finds nothing due.
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor(), false);
  probe p;
  deadline d(sweeper, &probe::fire, &p);
  asio::post(ioc, [&] {
    d.expires_after(50ms);
    d.expires_never();
    EXPECT_TRUE(sweeper->ticking());
  });
  ioc.run_for(500ms);
  EXPECT_FALSE(sweeper->ticking());  // the wake-up found nothing armed and stopped
  EXPECT_EQ(p.calls, 0);
  EXPECT_FALSE(d.expired());
}

TEST(deadline, a_rearmed_deadline_fires_at_its_new_time_only) {
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  probe p;
  deadline d(sweeper, &probe::fire, &p);
  const auto t0 = clock_type::now();
  d.expires_after(100ms);
  // Re-armed (as the next operation does) before it fires: the first time no longer counts.
  asio::steady_timer later(ioc, 60ms);
  later.async_wait([&](const boost::system::error_code&) { d.expires_after(200ms); });
  ioc.run_for(2s);
  ASSERT_EQ(p.calls, 1);
  EXPECT_GE(p.at - t0, 260ms);
}

TEST(deadline, an_earlier_deadline_moves_the_timer_forward) {
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  probe slow, fast;
  deadline a(sweeper, &probe::fire, &slow);
  deadline b(sweeper, &probe::fire, &fast);
  const auto t0 = clock_type::now();
  a.expires_after(10s);
  b.expires_after(50ms);
  ioc.run_for(2s);  // long before `a`'s 10 s, with room for a busy machine
  EXPECT_EQ(slow.calls, 0);
  ASSERT_EQ(fast.calls, 1);
  EXPECT_LT(fast.at - t0, 50ms + deadline_sweeper::slack + 900ms);
  EXPECT_TRUE(sweeper->ticking());  // `a` is still armed
}

TEST(deadline, many_deadlines_fire_in_one_sweep_and_unregister_on_destruction) {
  asio::io_context ioc;
  auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
  std::vector<probe> probes(50);
  {
    std::vector<std::unique_ptr<deadline>> ds;
    for (auto& p : probes) {
      ds.push_back(std::make_unique<deadline>(sweeper, &probe::fire, &p));
      ds.back()->expires_after(30ms);
    }
    EXPECT_EQ(sweeper->size(), 50u);
    ioc.run_for(500ms);
  }
  EXPECT_EQ(sweeper->size(), 0u);
  for (const auto& p : probes) EXPECT_EQ(p.calls, 1);
}

TEST(deadline, the_sweeper_outlives_its_owner_while_deadlines_exist) {
  asio::io_context ioc;
  probe p;
  std::unique_ptr<deadline> d;
  {
    auto sweeper = std::make_shared<deadline_sweeper>(ioc.get_executor());
    d = std::make_unique<deadline>(sweeper, &probe::fire, &p);
  }
  d->expires_after(20ms);
  ioc.run_for(500ms);
  EXPECT_EQ(p.calls, 1);
}

}  // namespace
}  // namespace aiclient::net
