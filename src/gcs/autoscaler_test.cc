#include "src/gcs/autoscaler.h"

#include <gtest/gtest.h>

namespace ferry::gcs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

scheduler::NodeView Node(uint32_t id, double cpus, double free, int64_t queued = 0) {
  scheduler::NodeView n;
  n.id = NodeId(id);
  n.total = ResourceSet::FromPairs({{"CPU", cpus}});
  n.available = ResourceSet::FromPairs({{"CPU", free}});
  n.queued = queued;
  return n;
}

class ScalingTest : public ::testing::Test {
 protected:
  ScalingTest() {
    options_.max_workers = 3;
    options_.idle_timeout = seconds(10);
  }
  ScaleDecision Decide(size_t infeasible = 0, size_t launching = 0) {
    return DecideScaling(options_, view_, NodeId(0), infeasible, launching, now_, idle_since_);
  }
  AutoscalerOptions options_;
  scheduler::ClusterView view_;
  Clock::TimePoint now_{seconds(100)};
  std::map<NodeId, Clock::TimePoint> idle_since_;
};

TEST_F(ScalingTest, QueuedTasksAskForNodesUpToTheMaximum) {
  view_.nodes = {Node(0, 1, 0, 5)};
  ScaleDecision d = Decide();
  EXPECT_EQ(d.launch, 3);  // 5 tasks of 1 CPU on nodes of 1 CPU (the head's size), capped at 3
  EXPECT_NE(d.launch_why.find("5 task(s) queued"), std::string::npos) << d.launch_why;
  // Launches on their way count: nothing more is asked for.
  EXPECT_EQ(Decide(0, 3).launch, 0);
  // Sized by what one node offers.
  options_.node_cpus = 4;
  EXPECT_EQ(Decide().launch, 2);
}

TEST_F(ScalingTest, InfeasibleTasksAskForOneNodeAndTheMinimumIsKept) {
  view_.nodes = {Node(0, 1, 1)};
  EXPECT_EQ(Decide().launch, 0);
  ScaleDecision d = Decide(/*infeasible=*/2);
  EXPECT_EQ(d.launch, 1);
  EXPECT_NE(d.launch_why.find("2 task(s) no node can run"), std::string::npos) << d.launch_why;
  options_.min_workers = 2;
  EXPECT_EQ(Decide().launch, 2);
  EXPECT_EQ(Decide(0, 1).launch, 1);
}

TEST_F(ScalingTest, IdleWorkersAreDrainedAfterTheTimeoutDownToTheMinimum) {
  view_.nodes = {Node(0, 1, 1), Node(1, 2, 2), Node(2, 2, 2), Node(3, 2, 1)};
  options_.min_workers = 1;
  EXPECT_TRUE(Decide().drain.empty());  // first seen idle now
  now_ += seconds(9);
  EXPECT_TRUE(Decide().drain.empty());
  now_ += seconds(2);
  ScaleDecision d = Decide();
  // Nodes 1 and 2 are idle, node 3 is busy: 3 workers and a minimum of 1, so both idle ones go.
  ASSERT_EQ(d.drain.size(), 2u);
  EXPECT_EQ(d.drain[0].first, NodeId(1));
  EXPECT_NE(d.drain[0].second.find("idle for 11.0 s"), std::string::npos) << d.drain[0].second;
  // The minimum holds: with only idle nodes 1 and 2 as workers, one of them stays.
  view_.nodes = {Node(0, 1, 1), Node(1, 2, 2), Node(2, 2, 2)};
  idle_since_.clear();
  Decide();
  now_ += seconds(11);
  EXPECT_EQ(Decide().drain.size(), 1u);
}

TEST_F(ScalingTest, WorkWaitingAnywhereKeepsEveryNode) {
  view_.nodes = {Node(0, 1, 0, 2), Node(1, 2, 2)};
  options_.max_workers = 1;
  Decide();
  now_ += seconds(60);
  EXPECT_TRUE(Decide().drain.empty());  // tasks are queued at the head: no node is surplus
  // Draining and dead nodes are neither counted as workers nor drained again.
  view_.nodes = {Node(0, 1, 1), Node(1, 2, 2), Node(2, 2, 2)};
  view_.nodes[1].draining = true;
  view_.nodes[2].alive = false;
  idle_since_.clear();
  Decide();
  now_ += seconds(60);
  EXPECT_TRUE(Decide().drain.empty());
}

}  // namespace
}  // namespace ferry::gcs
