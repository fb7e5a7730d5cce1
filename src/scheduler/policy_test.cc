#include "src/scheduler/policy.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace ferry::scheduler {
namespace {

ResourceSet Res(std::vector<std::pair<std::string, double>> pairs) {
  return ResourceSet::FromPairs(pairs);
}
ResourceSet Cpus(double n) { return Res({{"CPU", n}}); }

NodeView Node(uint32_t id, ResourceSet total) {
  NodeView n;
  n.id = NodeId(id);
  n.available = total;
  n.total = std::move(total);
  return n;
}

ClusterView Nodes(std::vector<double> cpus) {
  ClusterView v;
  for (size_t i = 0; i < cpus.size(); ++i) v.nodes.push_back(Node(static_cast<uint32_t>(i), Cpus(cpus[i])));
  return v;
}

// Places `count` tasks of `demand` from `local`, adding each to the chosen node's in-flight
// demand as an owner does; returns how many went to each node.
std::map<uint32_t, int> PlaceMany(ClusterView& v, const ResourceSet& demand, int count,
                                  NodeId local, Strategy strategy = Strategy::kDefault) {
  std::map<uint32_t, int> where;
  for (int i = 0; i < count; ++i) {
    PlacementRequest req{&demand, strategy};
    Decision d = PickNode(v, req, local, static_cast<uint64_t>(i));
    EXPECT_EQ(d.outcome, Placement::kPlaced) << d.reason;
    where[d.node.value()]++;
    for (NodeView& n : v.nodes)
      if (n.id == d.node) n.inflight.Add(demand);
  }
  return where;
}

TEST(Policy, PacksLocallyUpToTheThresholdThenSpreads) {
  ClusterView v = Nodes({4, 4, 4});
  ResourceSet one = Cpus(1);
  // 2 of 4 CPUs is the 50% threshold: both stay local, the third goes elsewhere.
  auto where = PlaceMany(v, one, 2, NodeId(1));
  EXPECT_EQ(where[1], 2);
  Decision d = PickNode(v, {&one}, NodeId(1), 0);
  EXPECT_NE(d.node, NodeId(1));
}

TEST(Policy, FillsEveryNodeBeforeQueueingAndThenQueuesEvenly) {
  ClusterView v = Nodes({2, 2, 2});
  ResourceSet one = Cpus(1);
  auto where = PlaceMany(v, one, 6, NodeId(0));
  EXPECT_EQ(where, (std::map<uint32_t, int>{{0, 2}, {1, 2}, {2, 2}}));
  where = PlaceMany(v, one, 30, NodeId(0));
  EXPECT_EQ(where, (std::map<uint32_t, int>{{0, 10}, {1, 10}, {2, 10}}));
}

TEST(Policy, NeverPicksAZeroCpuHeadForCpuTasks) {
  ClusterView v = Nodes({0, 1, 1});
  ResourceSet one = Cpus(1);
  auto where = PlaceMany(v, one, 20, NodeId(0));
  EXPECT_EQ(where.count(0), 0u);
}

TEST(Policy, ReportedUsageOfOtherOwnersCounts) {
  ClusterView v = Nodes({2, 2});
  v.nodes[0].available = Cpus(0);  // busy with someone else's tasks
  ResourceSet one = Cpus(1);
  EXPECT_EQ(PickNode(v, {&one}, NodeId(0), 0).node, NodeId(1));
}

TEST(Policy, FractionalDemandsShareOneCpu) {
  ClusterView v = Nodes({1, 0});
  ResourceSet quarter = Cpus(0.25);
  auto where = PlaceMany(v, quarter, 4, NodeId(0));
  EXPECT_EQ(where[0], 4);
  EXPECT_TRUE(FreeEstimate(v.nodes[0]).empty());
}

TEST(Policy, CustomResourcesGoWhereTheyExist) {
  ClusterView v = Nodes({2, 2, 2});
  v.nodes[2].total.Set("licenses", 2);
  v.nodes[2].available.Set("licenses", 2);
  ResourceSet lic = Res({{"CPU", 1}, {"licenses", 1}});
  auto where = PlaceMany(v, lic, 5, NodeId(0));
  EXPECT_EQ(where, (std::map<uint32_t, int>{{2, 5}}));
}

TEST(Policy, DemandNoNodeCanEverHoldIsInfeasible) {
  ClusterView v = Nodes({2, 2, 2});
  ResourceSet gpu = Res({{"CPU", 1}, {"GPU", 1}});
  Decision d = PickNode(v, {&gpu}, NodeId(0), 0);
  EXPECT_EQ(d.outcome, Placement::kInfeasible);
  EXPECT_NE(d.reason.find("GPU: 1"), std::string::npos) << d.reason;
  ResourceSet big = Cpus(3);
  EXPECT_EQ(PickNode(v, {&big}, NodeId(0), 0).outcome, Placement::kInfeasible);
}

TEST(Policy, DeadNodesAreSkipped) {
  ClusterView v = Nodes({4, 4, 4});
  v.nodes[0].alive = false;
  ResourceSet one = Cpus(1);
  auto where = PlaceMany(v, one, 10, NodeId(0));
  EXPECT_EQ(where.count(0), 0u);
}

TEST(Policy, PrefersTheNodeHoldingTheArgumentsWhenItHasRoom) {
  ClusterView v = Nodes({2, 2, 2});
  ResourceSet one = Cpus(1);
  PlacementRequest req{&one};
  req.arg_bytes = {{NodeId(1), 1 << 20}, {NodeId(2), 256u << 20}};
  EXPECT_EQ(PickNode(v, req, NodeId(0), 0).node, NodeId(2));
  v.nodes[2].inflight = Cpus(2);  // full: locality gives way
  Decision d = PickNode(v, req, NodeId(0), 0);
  EXPECT_NE(d.node, NodeId(2));
}

TEST(Policy, SpreadRoundRobinsOverIdleNodes) {
  ClusterView v = Nodes({8, 8, 8, 8});
  ResourceSet one = Cpus(1);
  auto where = PlaceMany(v, one, 8, NodeId(0), Strategy::kSpread);
  EXPECT_EQ(where, (std::map<uint32_t, int>{{0, 2}, {1, 2}, {2, 2}, {3, 2}}));
}

TEST(Policy, HardAffinityPinsAndFailsOnDeadOrUnknownNodes) {
  ClusterView v = Nodes({1, 1, 1});
  ResourceSet one = Cpus(1);
  PlacementRequest req{&one, Strategy::kNodeAffinity, NodeId(2), false};
  for (int i = 0; i < 5; ++i) {  // busy or not, it goes there
    Decision d = PickNode(v, req, NodeId(0), i);
    ASSERT_EQ(d.outcome, Placement::kPlaced);
    EXPECT_EQ(d.node, NodeId(2));
    v.nodes[2].inflight.Add(one);
  }
  v.nodes[2].alive = false;
  Decision dead = PickNode(v, req, NodeId(0), 0);
  EXPECT_EQ(dead.outcome, Placement::kUnavailable);
  EXPECT_NE(dead.reason.find("node-2 is dead"), std::string::npos) << dead.reason;
  req.affinity_node = NodeId(9);
  EXPECT_EQ(PickNode(v, req, NodeId(0), 0).outcome, Placement::kUnavailable);
  ResourceSet two = Cpus(2);
  PlacementRequest too_big{&two, Strategy::kNodeAffinity, NodeId(0), false};
  EXPECT_EQ(PickNode(v, too_big, NodeId(0), 0).outcome, Placement::kUnavailable);
}

TEST(Policy, SoftAffinityPrefersTheNodeAndFallsBack) {
  ClusterView v = Nodes({1, 1, 1});
  ResourceSet one = Cpus(1);
  PlacementRequest req{&one, Strategy::kNodeAffinity, NodeId(2), true};
  EXPECT_EQ(PickNode(v, req, NodeId(0), 0).node, NodeId(2));
  v.nodes[2].inflight = one;  // busy: elsewhere
  EXPECT_NE(PickNode(v, req, NodeId(0), 0).node, NodeId(2));
  v.nodes[2].alive = false;  // dead: elsewhere, not an error
  EXPECT_EQ(PickNode(v, req, NodeId(0), 0).outcome, Placement::kPlaced);
}

TEST(Policy, ThousandNodeViewFindsTheOneNodeWithTheResource) {
  ClusterView v;
  for (uint32_t i = 0; i < 1000; ++i) v.nodes.push_back(Node(i, Cpus(16)));
  v.nodes[777].total.Set("fpga", 1);
  v.nodes[777].available.Set("fpga", 1);
  ResourceSet fpga = Res({{"CPU", 1}, {"fpga", 1}});
  EXPECT_EQ(PickNode(v, {&fpga}, NodeId(0), 12345).node, NodeId(777));
  // 16,000 one-CPU tasks from node 0 fill all 1,000 nodes exactly.
  ResourceSet one = Cpus(1);
  auto where = PlaceMany(v, one, 16000, NodeId(0));
  ASSERT_EQ(where.size(), 1000u);
  for (const auto& [node, n] : where) ASSERT_EQ(n, 16) << node;
}

TEST(PickActorNode, SpreadsActorsOverNodesIncludingZeroCpuOnes) {
  ClusterView view = Nodes({2, 2, 2});
  std::vector<int> placed(3, 0);
  ResourceSet none;
  for (int k = 0; k < 9; ++k) {
    Decision d = PickActorNode(view, {&none}, k);
    ASSERT_EQ(d.outcome, Placement::kPlaced);
    view.nodes[d.node.value()].actors++;
    placed[d.node.value()]++;
  }
  EXPECT_EQ(placed, (std::vector<int>{3, 3, 3}));
}

TEST(PickActorNode, HonoursReservationsAndDeadNodes) {
  ClusterView view = Nodes({2, 8});
  view.nodes[1].alive = false;
  view.nodes[0].reserved = Cpus(1.5);
  ResourceSet one = Cpus(1), half = Cpus(0.5);
  EXPECT_EQ(PickActorNode(view, {&one}, 0).outcome, Placement::kInfeasible);
  EXPECT_EQ(PickActorNode(view, {&half}, 0).node, NodeId(0));
  PlacementRequest dead{&half, Strategy::kNodeAffinity, NodeId(1), false};
  EXPECT_EQ(PickActorNode(view, dead, 0).outcome, Placement::kUnavailable);
}

TEST(PickNode, ResourcesReservedByActorsAreNotFree) {
  ClusterView view = Nodes({2, 2});
  view.nodes[0].reserved = Cpus(2);
  ResourceSet one = Cpus(1);
  EXPECT_EQ(PickNode(view, {&one}, NodeId(0), 0).node, NodeId(1));
}

std::vector<ResourceSet> Bundles(int n, double cpus) { return std::vector<ResourceSet>(n, Cpus(cpus)); }

TEST(PlaceBundles, PackPutsEverythingOnOneNodeWhenItFits) {
  ClusterView v = Nodes({4, 4, 4});
  BundleDecision d = PlaceBundles(v, Bundles(3, 1), BundleStrategy::kPack, 1);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.nodes[0], d.nodes[1]);
  EXPECT_EQ(d.nodes[1], d.nodes[2]);
  // Too big for one node: PACK uses as few as it can, STRICT_PACK waits.
  d = PlaceBundles(v, Bundles(3, 2), BundleStrategy::kPack, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(std::set<NodeId>(d.nodes.begin(), d.nodes.end()).size(), 2u);
  d = PlaceBundles(v, Bundles(3, 2), BundleStrategy::kStrictPack, 0);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.infeasible);
}

TEST(PlaceBundles, SpreadAndStrictSpread) {
  ClusterView v = Nodes({4, 4, 4});
  BundleDecision d = PlaceBundles(v, Bundles(3, 1), BundleStrategy::kSpread, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(std::set<NodeId>(d.nodes.begin(), d.nodes.end()).size(), 3u);
  d = PlaceBundles(v, Bundles(5, 1), BundleStrategy::kSpread, 0);
  ASSERT_TRUE(d.ok);  // best effort: reuses nodes
  d = PlaceBundles(v, Bundles(4, 1), BundleStrategy::kStrictSpread, 0);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.infeasible);
  d = PlaceBundles(v, Bundles(3, 1), BundleStrategy::kStrictSpread, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(std::set<NodeId>(d.nodes.begin(), d.nodes.end()).size(), 3u);
}

TEST(PlaceBundles, ReservedResourcesMakeAGroupWaitNotFail) {
  ClusterView v = Nodes({2, 2});
  v.nodes[0].reserved = Cpus(2);
  v.nodes[1].reserved = Cpus(1);
  BundleDecision d = PlaceBundles(v, Bundles(2, 1), BundleStrategy::kStrictSpread, 0);
  EXPECT_FALSE(d.ok);
  EXPECT_FALSE(d.infeasible);
  v.nodes[1].alive = false;
  d = PlaceBundles(v, Bundles(2, 1), BundleStrategy::kStrictSpread, 0);
  EXPECT_TRUE(d.infeasible);
}

}  // namespace
}  // namespace ferry::scheduler
