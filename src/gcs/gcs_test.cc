#include "src/gcs/gcs.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry::gcs {
namespace {

using namespace std::chrono_literals;

class HeadMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create(0us);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
    monitor_ = std::make_unique<HeadMonitor>(loop_.get(), &clock_, 5000ms,
                                             [this](const std::string& why) { lost_ = why; });
    monitor_->HandleHeartbeat();
  }
  // Ticks every 500 ms of fake time, as the timer would, for `total`.
  void Run(std::chrono::milliseconds total) {
    for (auto t = 0ms; t < total; t += 500ms) {
      clock_.Advance(500ms);
      monitor_->Check();
    }
  }

  FakeClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<HeadMonitor> monitor_;
  std::string lost_;
};

TEST_F(HeadMonitorTest, SilenceLongerThanTheTimeoutLosesTheHead) {
  Run(4500ms);
  EXPECT_TRUE(lost_.empty());
  Run(1500ms);
  EXPECT_NE(lost_.find("no heartbeat from the head"), std::string::npos) << lost_;
}

TEST_F(HeadMonitorTest, HeartbeatsKeepTheHeadAlive) {
  for (int i = 0; i < 40; ++i) {
    Run(1000ms);
    monitor_->HandleHeartbeat();
  }
  EXPECT_TRUE(lost_.empty());
}

TEST_F(HeadMonitorTest, ALocalStallIsNotBlamedOnTheHead) {
  Run(1000ms);
  clock_.Advance(8000ms);  // this process did not run its timers for 8 s
  monitor_->Check();
  EXPECT_TRUE(lost_.empty());
  monitor_->HandleHeartbeat();  // the queued heartbeat is read right after the stall
  Run(3000ms);
  EXPECT_TRUE(lost_.empty());
  Run(3000ms);  // but a head that stays silent afterwards is lost
  EXPECT_FALSE(lost_.empty());
}

TEST_F(HeadMonitorTest, ReportsOnlyOnce) {
  int calls = 0;
  HeadMonitor m(loop_.get(), &clock_, 1000ms, [&](const std::string&) { calls++; });
  m.HandleHeartbeat();
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(300ms);
    m.Check();
  }
  m.OnHeadDead("endpoint failed");
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ferry::gcs
