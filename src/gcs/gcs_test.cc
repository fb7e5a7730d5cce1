#include "src/gcs/gcs.h"

#include <gtest/gtest.h>

#include <future>
#include <string>

#include "src/gcs/inproc_cluster_testing.h"

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


// The head's failure detector, on a 3-node in-process cluster with a fake clock.
class FailureDetectionTest : public ::testing::Test {
 protected:
  struct Seen {
    wire::MsgType type{};
    NodeId at;
    std::vector<std::pair<NodeId, std::string>> deaths;
  };
  void SetUp() override {
    for (int n = 1; n < 3; ++n) {
      cluster_.messengers[n]->Register(
          static_cast<uint16_t>(wire::MsgType::kNodeDead), [this, n](NodeId, const Buffer& m) {
            Seen s{wire::MsgType::kNodeDead, NodeId(static_cast<uint32_t>(n)), {}};
            EXPECT_TRUE(wire::DecodeNodeDeaths(m, &s.deaths).ok());
            log_.Record(std::move(s));
          });
    }
    std::vector<NodeEntry> nodes;
    for (uint32_t n = 0; n < 3; ++n) nodes.push_back({NodeId(n), "host", 100 + int(n), {}, true});
    GcsServer::Timing timing;
    timing.heartbeat_period = std::chrono::hours(1);  // the test drives the checks
    timing.heartbeat_timeout = 2000ms;
    gcs_ = std::make_unique<GcsServer>(cluster_.loops[0].get(), &clock_,
                                       cluster_.messengers[0].get(), std::move(nodes), timing,
                                       [this](NodeId n, const std::string& why) {
                                         declared_.emplace_back(n, why);
                                       });
    cluster_.Start();
    OnHead([this] { gcs_->Start(); });
  }
  void TearDown() override { cluster_.Stop(); }
  // Runs `fn` on the head's loop and waits for it.
  void OnHead(std::function<void()> fn) {
    std::promise<void> done;
    cluster_.loops[0]->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  // `total` of fake time in 500 ms ticks; node 1 beats at every tick, node 2 never.
  void Run(std::chrono::milliseconds total) {
    for (auto t = 0ms; t < total; t += 500ms) {
      clock_.Advance(500ms);
      OnHead([this] {
        gcs_->HandleHeartbeat(NodeId(1));
        gcs_->CheckSilence();
      });
    }
  }

  FakeClock clock_;
  testing::InprocCluster cluster_{3};
  testing::MessageLog<Seen> log_;
  std::unique_ptr<GcsServer> gcs_;
  std::vector<std::pair<NodeId, std::string>> declared_;  // head loop only
};

TEST_F(FailureDetectionTest, ASilentWorkerIsDeclaredDeadAndEveryoneIsTold) {
  Run(2000ms);
  OnHead([this] { EXPECT_TRUE(declared_.empty()); });
  Run(1000ms);
  OnHead([this] {
    ASSERT_EQ(declared_.size(), 1u);
    EXPECT_EQ(declared_[0].first, NodeId(2));
    EXPECT_NE(declared_[0].second.find("no heartbeat for"), std::string::npos)
        << declared_[0].second;
    EXPECT_TRUE(gcs_->IsAlive(NodeId(1)));
    EXPECT_FALSE(gcs_->IsAlive(NodeId(2)));
  });
  // The survivor learns it; the dead node is told too (a node merely cut off ends itself).
  Seen a = log_.Next(wire::MsgType::kNodeDead);
  Seen b = log_.Next(wire::MsgType::kNodeDead);
  EXPECT_EQ(a.at.value() + b.at.value(), 3u);
  ASSERT_EQ(a.deaths.size(), 1u);
  EXPECT_EQ(a.deaths[0].first, NodeId(2));
  // Declared once: more silence changes nothing.
  Run(3000ms);
  OnHead([this] { EXPECT_EQ(declared_.size(), 1u); });
  EXPECT_EQ(log_.Pending(wire::MsgType::kNodeDead), 0u);
}

TEST_F(FailureDetectionTest, AStalledHeadBlamesNoWorker) {
  Run(1000ms);
  clock_.Advance(6000ms);  // the head's loop did not run for 6 s: heartbeats sat unread
  OnHead([this] {
    gcs_->CheckSilence();
    EXPECT_TRUE(declared_.empty());
  });
}

TEST_F(FailureDetectionTest, APeerReportIsTrustedButNotFromTheDead) {
  OnHead([this] {
    gcs_->HandleNodeDeadReport(NodeId(1), Buffer::FromString(wire::EncodeNodeDeaths(
                                              {{NodeId(2), "endpoint timeout"}})));
    ASSERT_EQ(declared_.size(), 1u);
    EXPECT_NE(declared_[0].second.find("node-1 lost its connection to it (endpoint timeout)"),
              std::string::npos)
        << declared_[0].second;
    // Node 2 is dead: what it says of others is ignored. Malformed reports are dropped.
    gcs_->HandleNodeDeadReport(NodeId(2), Buffer::FromString(wire::EncodeNodeDeaths(
                                              {{NodeId(1), "says the dead"}})));
    gcs_->HandleNodeDeadReport(NodeId(1), Buffer::FromString("\x04garbage"));
    EXPECT_EQ(declared_.size(), 1u);
    EXPECT_TRUE(gcs_->IsAlive(NodeId(1)));
    // The head itself is never declared dead by a worker.
    gcs_->HandleNodeDeadReport(NodeId(1), Buffer::FromString(wire::EncodeNodeDeaths(
                                              {{NodeId(0), "no route"}})));
    EXPECT_EQ(declared_.size(), 1u);
  });
}

TEST_F(FailureDetectionTest, AJoinedNodeIsWatchedAndPlacedOn) {
  OnHead([this] {
    const NodeId joiner = gcs_->ReserveNodeId();
    EXPECT_EQ(joiner, NodeId(3));  // above every id given
    gcs_->AddNode({joiner, "n009", 300, ResourceSet::FromPairs({{"CPU", 2.0}}), true});
    EXPECT_TRUE(gcs_->IsAlive(joiner));
    ASSERT_NE(gcs_->cluster().Find(joiner), nullptr);
    EXPECT_TRUE(scheduler::Accepts(*gcs_->cluster().Find(joiner)));
    EXPECT_EQ(gcs_->ReserveNodeId(), NodeId(4));  // never reused
  });
  // Silent from joining on: declared dead like any other worker (node 2 too, never beating).
  Run(3000ms);
  OnHead([this] {
    EXPECT_FALSE(gcs_->IsAlive(NodeId(3)));
    EXPECT_EQ(declared_.size(), 2u);
  });
}

TEST_F(FailureDetectionTest, DrainStopsPlacementAndALeaveIsNoFailure) {
  OnHead([this] {
    EXPECT_FALSE(gcs_->Drain(NodeId(0), "no").ok());  // the head cannot leave
    EXPECT_FALSE(gcs_->Drain(NodeId(9), "no").ok());  // not a node
    ASSERT_TRUE(gcs_->Drain(NodeId(1), "walltime").ok());
    EXPECT_EQ(gcs_->Drain(NodeId(1), "again").code(), StatusCode::kAlreadyExists);
    EXPECT_TRUE(gcs_->IsDraining(NodeId(1)));
    EXPECT_TRUE(gcs_->IsAlive(NodeId(1)));
    EXPECT_FALSE(scheduler::Accepts(*gcs_->cluster().Find(NodeId(1))));
    // A Leave from a node that is not draining is ignored.
    gcs_->HandleLeave(NodeId(2));
    EXPECT_TRUE(gcs_->IsAlive(NodeId(2)));
    // The drained node says it is done; once it confirms the shutdown it is gone.
    gcs_->HandleLeave(NodeId(1));
    EXPECT_TRUE(gcs_->IsAlive(NodeId(1)));
    gcs_->HandleShutdownAck(NodeId(1));
    EXPECT_FALSE(gcs_->IsAlive(NodeId(1)));
    ASSERT_EQ(declared_.size(), 1u);
    EXPECT_NE(declared_[0].second.find("left the cluster after draining (walltime)"),
              std::string::npos)
        << declared_[0].second;
  });
  // The other worker learns it left; the node that left is not told it is dead.
  Seen seen = log_.Next(wire::MsgType::kNodeDead);
  EXPECT_EQ(seen.at, NodeId(2));
  EXPECT_EQ(log_.Pending(wire::MsgType::kNodeDead), 0u);
}

}  // namespace
}  // namespace ferry::gcs
