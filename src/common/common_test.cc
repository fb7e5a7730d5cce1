#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "ferry/config.h"
#include "src/common/event_loop.h"
#include "src/common/logging.h"
#include "src/common/mpsc_queue.h"
#include "src/common/status.h"

namespace ferry {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}
Result<int> Quarter(int x) {
  FERRY_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(Status, ResultCarriesValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd: 3");
  EXPECT_EQ(r.status().WithContext("quarter").ToString(), "InvalidArgument: quarter: odd: 3");
}

TEST(MpscQueue, ManyProducersOneConsumerKeepsPerProducerOrder) {
  MpscQueue<std::pair<int, int>> q;
  constexpr int kProducers = 4, kEach = 20000;
  std::vector<std::jthread> ts;
  for (int p = 0; p < kProducers; ++p)
    ts.emplace_back([&q, p] {
      for (int i = 0; i < kEach; ++i) q.Push({p, i});
    });
  std::vector<int> next(kProducers, 0);
  int got = 0;
  while (got < kProducers * kEach) {
    auto v = q.Pop();
    if (!v) continue;
    ASSERT_EQ(v->second, next[v->first]) << "producer " << v->first;
    next[v->first]++;
    got++;
  }
  EXPECT_FALSE(q.Pop().has_value());
}

TEST(EventLoop, RunsPostsFromManyThreadsAndTimers) {
  auto loop = EventLoop::Create(std::chrono::microseconds(10));
  ASSERT_TRUE(loop.ok());
  (*loop)->Start();
  std::atomic<int> n{0};
  {
    std::vector<std::jthread> ts;
    for (int t = 0; t < 3; ++t)
      ts.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) (*loop)->Post([&] { n++; });
      });
  }
  std::atomic<int> ticks{0};
  (*loop)->Post([&] { (*loop)->AddTimer(std::chrono::milliseconds(1), [&] { ticks++; }); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((n.load() < 3000 || ticks.load() < 3) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(n.load(), 3000);
  EXPECT_GE(ticks.load(), 3);
  (*loop)->Stop();
  (*loop)->Stop();  // idempotent
}

TEST(EventLoop, StopRunsWhatWasPostedBefore) {
  auto loop = EventLoop::Create(std::chrono::microseconds(0));
  ASSERT_TRUE(loop.ok());
  (*loop)->Start();
  int n = 0;
  for (int i = 0; i < 100; ++i) (*loop)->Post([&] { n++; });
  (*loop)->Stop();
  EXPECT_EQ(n, 100);
}

TEST(Logging, RateLimiterLetsABurstThroughAndCountsTheRest) {
  int admitted = 0;
  // Retried if the loop happens to straddle a second boundary.
  for (int attempt = 0; attempt < 3; ++attempt) {
    log::RateLimiter fresh;
    admitted = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) admitted += fresh.Admit() >= 0;
    if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500)) break;
  }
  EXPECT_GE(admitted, log::RateLimiter::kBurst);
  EXPECT_LE(admitted, 2 * log::RateLimiter::kBurst);
}

TEST(Config, FlagsOverrideEnvironmentAndAreConsumed) {
  setenv("FERRY_HEAD_CPUS", "3", 1);
  Config c;
  c.ApplyEnvironment();
  EXPECT_EQ(c.head_cpus, 3);
  std::vector<std::string> args = {
      "app", "--ferry-head-cpus=0", "keep", "--ferry-log-level", "debug", "x"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = 6;
  char** av = argv.data();
  c.ApplyFlags(argc, av);
  EXPECT_EQ(c.head_cpus, 0);
  EXPECT_EQ(c.log_level, "debug");
  ASSERT_EQ(argc, 3);
  EXPECT_STREQ(av[1], "keep");
  EXPECT_STREQ(av[2], "x");
  unsetenv("FERRY_HEAD_CPUS");
}

TEST(Config, BadValuesAndUnknownNamesAreRejected) {
  Config c;
  EXPECT_THROW(c.Set("head_cpus", "two"), std::invalid_argument);
  EXPECT_THROW(c.Set("no_such_knob", "1"), std::invalid_argument);
  EXPECT_FALSE(c.Dump().empty());
}

}  // namespace
}  // namespace ferry
