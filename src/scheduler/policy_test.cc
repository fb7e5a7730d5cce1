#include "src/scheduler/policy.h"

#include <gtest/gtest.h>

namespace ferry::scheduler {
namespace {

ClusterView ThreeNodes(double c0, double c1, double c2) {
  ClusterView v;
  v.nodes = {{NodeId(0), true, c0, 0}, {NodeId(1), true, c1, 0}, {NodeId(2), true, c2, 0}};
  return v;
}

TEST(Policy, PacksLocallyWhileLocalHasRoom) {
  ClusterView v = ThreeNodes(2, 2, 2);
  auto d = PickNode(v, {1.0}, NodeId(1), 0);
  EXPECT_EQ(d.outcome, Placement::kPlaced);
  EXPECT_EQ(d.node, NodeId(1));
}

TEST(Policy, SpillsToTheFreestNodeWhenLocalIsFull) {
  ClusterView v = ThreeNodes(2, 2, 4);
  v.nodes[0].used_cpus = 2;
  v.nodes[2].used_cpus = 1;  // 3 free there, 2 free on node 1
  auto d = PickNode(v, {1.0}, NodeId(0), 0);
  EXPECT_EQ(d.node, NodeId(2));
}

TEST(Policy, NeverPicksAZeroCpuHeadForCpuTasks) {
  ClusterView v = ThreeNodes(0, 1, 1);
  for (uint64_t r = 0; r < 6; ++r) {
    auto d = PickNode(v, {1.0}, NodeId(0), r);
    EXPECT_EQ(d.outcome, Placement::kPlaced);
    EXPECT_NE(d.node, NodeId(0));
  }
}

TEST(Policy, QueuesOnTheLeastLoadedNodeWhenAllAreFull) {
  ClusterView v = ThreeNodes(1, 1, 1);
  v.nodes[0].used_cpus = 5;
  v.nodes[1].used_cpus = 2;
  v.nodes[2].used_cpus = 3;
  EXPECT_EQ(PickNode(v, {1.0}, NodeId(0), 0).node, NodeId(1));
}

TEST(Policy, RequestLargerThanAnyNodeIsInfeasible) {
  ClusterView v = ThreeNodes(2, 2, 2);
  EXPECT_EQ(PickNode(v, {3.0}, NodeId(0), 0).outcome, Placement::kInfeasible);
}

TEST(Policy, DeadNodesAreSkipped) {
  ClusterView v = ThreeNodes(4, 4, 4);
  v.nodes[0].alive = false;
  v.nodes[0].used_cpus = 0;
  auto d = PickNode(v, {1.0}, NodeId(0), 0);
  EXPECT_NE(d.node, NodeId(0));
}

TEST(Policy, RotationSpreadsTiesAcrossNodes) {
  ClusterView v = ThreeNodes(0, 2, 2);
  auto a = PickNode(v, {1.0}, NodeId(0), 0);
  auto b = PickNode(v, {1.0}, NodeId(0), 1);
  auto c = PickNode(v, {1.0}, NodeId(0), 2);
  EXPECT_TRUE(a.node != b.node || b.node != c.node);
}

TEST(Policy, FractionalCpusFitSeveralPerCpu) {
  ClusterView v = ThreeNodes(1, 0, 0);
  v.nodes[0].used_cpus = 0.75;
  auto d = PickNode(v, {0.25}, NodeId(0), 0);
  EXPECT_EQ(d.node, NodeId(0));
}

TEST(PickActorNode, SpreadsActorsOverNodesIncludingZeroCpuOnes) {
  ClusterView view;
  for (uint32_t i = 0; i < 3; ++i) view.nodes.push_back({NodeId(i), true, 2, 0});
  std::vector<int> placed(3, 0);
  for (int k = 0; k < 9; ++k) {
    Decision d = PickActorNode(view, 0, k);
    ASSERT_EQ(d.outcome, Placement::kPlaced);
    view.nodes[d.node.value()].actors++;
    placed[d.node.value()]++;
  }
  EXPECT_EQ(placed, (std::vector<int>{3, 3, 3}));
}

TEST(PickActorNode, HonoursHeldCpusAndDeadNodes) {
  ClusterView view;
  view.nodes.push_back({NodeId(0), true, 2, 0});
  view.nodes.push_back({NodeId(1), false, 8, 0});
  view.nodes[0].reserved_cpus = 1.5;
  EXPECT_EQ(PickActorNode(view, 1, 0).outcome, Placement::kInfeasible);
  EXPECT_EQ(PickActorNode(view, 0.5, 0).node, NodeId(0));
}

TEST(PickNode, CpusHeldByActorsAreNotFree) {
  ClusterView view;
  view.nodes.push_back({NodeId(0), true, 2, 0});
  view.nodes.push_back({NodeId(1), true, 2, 0});
  view.nodes[0].reserved_cpus = 2;
  EXPECT_EQ(PickNode(view, {1.0}, NodeId(0), 0).node, NodeId(1));
}

}  // namespace
}  // namespace ferry::scheduler
