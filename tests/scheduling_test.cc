// Scheduling, end to end: resources, strategies, locality, node affinity, placement groups,
// introspection. The same binary runs embedded and under mpirun with 4 ranks (see
// tests/CMakeLists.txt), where every rank offers 2 CPUs, the head none, and rank 2 also
// offers {"licenses": 2}. Tests that need more ranks than they get are skipped.
#include <ferry/ferry.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <sstream>
#include <unordered_map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Tasks running at once in this process, and the most seen.
std::atomic<int> g_running{0};

// Runs until `want` tasks of this process run at once (or 5 s pass); returns how many it saw.
int Gather(int want) {
  int now = ++g_running;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  int seen = now;
  while (std::chrono::steady_clock::now() < deadline) {
    seen = std::max(seen, g_running.load());
    if (seen >= want) break;
    std::this_thread::sleep_for(1ms);
  }
  std::this_thread::sleep_for(20ms);  // the others see us too
  --g_running;
  return seen;
}

// How many tasks of this process run at once while this one sleeps `ms`.
int Overlap(int ms) {
  int now = ++g_running;
  int seen = now;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    seen = std::max(seen, g_running.load());
    std::this_thread::sleep_for(1ms);
  }
  --g_running;
  return seen;
}

uint32_t WhereAmI() { return ferry::GetCurrentNodeId().value(); }

uint32_t SleepWhere(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return WhereAmI();
}

std::vector<double> Big(int64_t n) { return std::vector<double>(static_cast<size_t>(n), 1.5); }

uint32_t ConsumeWhere(ferry::ArrayView<double> v) {
  return v.size() > 0 ? WhereAmI() : 0xffffffffu;
}

std::vector<int> Gpus() { return ferry::GetGpuIds(); }

struct Pinned {
  static Pinned* Create() { return new Pinned(); }
  uint32_t Where() { return WhereAmI(); }
};

FERRY_REMOTE(Gather, Overlap, WhereAmI, SleepWhere, Big, ConsumeWhere, Gpus, Pinned::Create,
             &Pinned::Where);

size_t Ranks() { return ferry::GetNodes().size(); }

// Worker ranks (every rank but the head) that offer CPUs.
std::vector<ferry::NodeId> CpuNodes() {
  std::vector<ferry::NodeId> out;
  for (const ferry::NodeInfo& n : ferry::GetNodes()) {
    auto it = n.resources.find("CPU");
    if (n.alive && it != n.resources.end() && it->second >= 1) out.push_back(n.id);
  }
  return out;
}

TEST(Scheduling, IntrospectionDescribesTheCluster) {
  std::vector<ferry::NodeInfo> nodes = ferry::GetNodes();
  ASSERT_FALSE(nodes.empty());
  EXPECT_EQ(ferry::GetCurrentNodeId(), ferry::NodeId(0));
  double cpus = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(nodes[i].id, ferry::NodeId(static_cast<uint32_t>(i)));
    EXPECT_EQ(nodes[i].rank, i);
    EXPECT_TRUE(nodes[i].alive);
    EXPECT_FALSE(nodes[i].hostname.empty());
    cpus += nodes[i].resources.count("CPU") ? nodes[i].resources.at("CPU") : 0;
  }
  auto total = ferry::GetClusterResources();
  EXPECT_DOUBLE_EQ(total["CPU"], cpus);
  // Memory follows in each rank's first report.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ferry::GetClusterResources()["memory"] <= 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_GT(ferry::GetClusterResources()["memory"], 0);
  auto avail = ferry::GetAvailableResources();
  EXPECT_LE(avail["CPU"], total["CPU"]);
  // A task knows where it runs; the driver has no GPU ids.
  for (ferry::NodeId n : CpuNodes())
    EXPECT_EQ(*ferry::Task(WhereAmI).SetNodeAffinity(n).Remote().Get(), n.value());
  EXPECT_TRUE(ferry::GetGpuIds().empty());
  std::ostringstream os;
  os << nodes[0].id;
  EXPECT_EQ(os.str(), "node-0");
  EXPECT_EQ(std::hash<ferry::NodeId>()(ferry::NodeId(3)), std::hash<ferry::NodeId>()(ferry::NodeId(3)));
}

TEST(Scheduling, FractionalCpusShareOneCpu) {
  // Eight quarter-CPU tasks on one 2-CPU node run at once (whole-CPU tasks would run 2 by 2).
  ferry::NodeId node = CpuNodes().back();
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i)
    refs.push_back(ferry::Task(Gather).SetResource("CPU", 0.25).SetNodeAffinity(node).Remote(8));
  for (auto& r : refs) EXPECT_EQ(*r.Get(30000), 8);
  // And no more than the CPUs allow: 1.5-CPU tasks run one at a time on 2 CPUs.
  refs.clear();
  for (int i = 0; i < 3; ++i)
    refs.push_back(ferry::Task(Overlap).SetResource("CPU", 1.5).SetNodeAffinity(node).Remote(100));
  for (auto& r : refs) EXPECT_EQ(*r.Get(30000), 1);
}

TEST(Scheduling, CustomResourcesGoWhereTheyAreAndLimitConcurrency) {
  auto total = ferry::GetClusterResources();
  if (total["licenses"] < 2) GTEST_SKIP() << "no rank offers licenses";
  ferry::NodeId holder;
  for (const ferry::NodeInfo& n : ferry::GetNodes())
    if (n.resources.count("licenses")) holder = n.id;
  std::vector<ferry::ObjectRef<int>> busy;
  std::vector<ferry::ObjectRef<uint32_t>> where;
  for (int i = 0; i < 6; ++i) {
    busy.push_back(ferry::Task(Overlap).SetResource("licenses", 1).SetResource("CPU", 0).Remote(60));
    where.push_back(ferry::Task(WhereAmI).SetResource("licenses", 1).Remote());
  }
  for (auto& r : busy) EXPECT_LE(*r.Get(30000), 2);  // two licenses: two at a time
  for (auto& r : where) EXPECT_EQ(*r.Get(30000), holder.value());
}

TEST(Scheduling, InfeasibleWorkWaitsVisiblyAndIsNotLost) {
  auto r = ferry::Task(WhereAmI).SetResource("fpga", 1).Remote();
  EXPECT_TRUE(ferry::Wait(std::vector<ferry::ObjectRef<uint32_t>>{r}, 1, 300).ready.empty());
  bool listed = false;
  for (const ferry::InfeasibleTask& t : ferry::GetInfeasibleTasks()) {
    if (t.id != r.ID().task) continue;
    listed = true;
    EXPECT_EQ(t.name, "WhereAmI");
    EXPECT_DOUBLE_EQ(t.resources.at("fpga"), 1.0);
    EXPECT_NE(t.reason.find("fpga: 1"), std::string::npos) << t.reason;
  }
  EXPECT_TRUE(listed);
  // Other work is not held up by it.
  EXPECT_EQ(*ferry::Task(WhereAmI).SetNodeAffinity(CpuNodes().front()).Remote().Get(30000),
            CpuNodes().front().value());
}

// Every CPU of every node, reserved by one group.
ferry::PlacementGroup HoldEveryCpu(const std::string& name) {
  std::vector<std::unordered_map<std::string, double>> all;
  for (const ferry::NodeInfo& n : ferry::GetNodes()) {
    auto it = n.resources.find("CPU");
    if (n.alive && it != n.resources.end() && it->second > 0) all.push_back({{"CPU", it->second}});
  }
  return ferry::CreatePlacementGroup({name, all, ferry::PlacementStrategy::STRICT_SPREAD});
}

TEST(Scheduling, InfeasibleWorkRunsOnceResourcesAppear) {
  // A task of a group that cannot be placed yet waits (no node has the group's resources),
  // and runs once the group is placed and its resources appear in the cluster view.
  ferry::PlacementGroup blocker = HoldEveryCpu("blocker");
  ASSERT_TRUE(blocker.Wait(30));
  ferry::PlacementGroup late =
      ferry::CreatePlacementGroup({"late", {{{"CPU", 1}}}, ferry::PlacementStrategy::PACK});
  EXPECT_FALSE(late.Wait(0.2));
  auto r = ferry::Task(WhereAmI).SetPlacementGroup(late, 0).Remote();
  EXPECT_TRUE(ferry::Wait(std::vector<ferry::ObjectRef<uint32_t>>{r}, 1, 200).ready.empty());
  bool listed = false;
  for (const ferry::InfeasibleTask& t : ferry::GetInfeasibleTasks()) listed |= t.id == r.ID().task;
  EXPECT_TRUE(listed);
  ferry::RemovePlacementGroup(blocker.GetID());
  ASSERT_TRUE(late.Wait(30));
  EXPECT_LT(*r.Get(30000), Ranks());
  ferry::RemovePlacementGroup(late.GetID());
}

TEST(Scheduling, ArgumentsPullTasksToTheirBytes) {
  std::vector<ferry::NodeId> nodes = CpuNodes();
  if (nodes.size() < 2 || nodes.front() == ferry::NodeId(0)) GTEST_SKIP() << "needs 2 worker ranks";
  // 32 MiB made on the last worker rank; a task reading it goes there, not to the first.
  ferry::NodeId holder = nodes.back();
  auto big = ferry::Task(Big).SetNodeAffinity(holder).Remote(int64_t{4} << 20);
  ferry::Wait(std::vector<ferry::ObjectRef<std::vector<double>>>{big}, 1, 30000);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(*ferry::Task(ConsumeWhere).Remote(big).Get(30000), holder.value());
}

TEST(Scheduling, SpreadUsesEveryNode) {
  std::vector<ferry::NodeId> nodes = CpuNodes();
  if (nodes.size() < 3) GTEST_SKIP() << "needs 3 ranks with CPUs";
  std::vector<ferry::ObjectRef<uint32_t>> refs;
  for (size_t i = 0; i < nodes.size(); ++i)
    refs.push_back(ferry::Task(SleepWhere)
                       .SetSchedulingStrategy(ferry::SchedulingStrategy::SPREAD)
                       .Remote(100));
  std::set<uint32_t> used;
  for (auto& r : refs) used.insert(*r.Get(30000));
  EXPECT_EQ(used.size(), nodes.size());
}

TEST(Scheduling, NodeAffinityHardAndSoft) {
  std::vector<ferry::NodeId> nodes = CpuNodes();
  ferry::NodeId target = nodes.back();
  // Hard: there, even when it is busy.
  std::vector<ferry::ObjectRef<uint32_t>> refs;
  for (int i = 0; i < 6; ++i) refs.push_back(ferry::Task(SleepWhere).SetNodeAffinity(target).Remote(30));
  for (auto& r : refs) EXPECT_EQ(*r.Get(30000), target.value());
  // Soft: there while it has room (as the head's view says: wait for the reports).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ferry::GetAvailableResources()["CPU"] < ferry::GetClusterResources()["CPU"] &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(*ferry::Task(WhereAmI).SetNodeAffinity(target, true).Remote().Get(30000),
            target.value());
  // An unknown node: a clear error for hard affinity, anywhere for soft.
  auto lost = ferry::Task(WhereAmI).SetNodeAffinity(ferry::NodeId(99)).Remote();
  try {
    lost.Get(30000);
    ADD_FAILURE() << "hard affinity to node-99 ran";
  } catch (const ferry::TaskUnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("node-99"), std::string::npos) << e.what();
  }
  EXPECT_LT(*ferry::Task(WhereAmI).SetNodeAffinity(ferry::NodeId(99), true).Remote().Get(30000),
            Ranks());
  // Actors too.
  auto a = ferry::Actor(Pinned::Create).SetNodeAffinity(target).Remote();
  EXPECT_EQ(*a.Task(&Pinned::Where).Remote().Get(30000), target.value());
  a.Kill();
}

TEST(Scheduling, PlacementGroupStrategies) {
  std::vector<ferry::NodeId> nodes = CpuNodes();
  const int n = static_cast<int>(nodes.size());
  // STRICT_SPREAD: one bundle per node, each on its own node.
  std::vector<std::unordered_map<std::string, double>> bundles(n, {{"CPU", 1}});
  auto spread = ferry::CreatePlacementGroup({"spread", bundles, ferry::PlacementStrategy::STRICT_SPREAD});
  ASSERT_TRUE(spread.Wait(30));
  EXPECT_EQ(spread.GetState(), ferry::PlacementGroupState::CREATED);
  std::set<uint32_t> hosts;
  for (int i = 0; i < n; ++i) {
    uint32_t a = *ferry::Task(WhereAmI).SetPlacementGroup(spread, i).Remote().Get(30000);
    uint32_t b = *ferry::Task(WhereAmI).SetPlacementGroup(spread, i).Remote().Get(30000);
    EXPECT_EQ(a, b) << "bundle " << i << " moved";
    hosts.insert(a);
  }
  EXPECT_EQ(hosts.size(), static_cast<size_t>(n));
  ferry::RemovePlacementGroup(spread.GetID());
  EXPECT_EQ(spread.GetState(), ferry::PlacementGroupState::REMOVED);

  // STRICT_PACK: both bundles on one node.
  auto pack = ferry::CreatePlacementGroup(
      {"", {{{"CPU", 1}}, {{"CPU", 1}}}, ferry::PlacementStrategy::STRICT_PACK});
  ASSERT_TRUE(pack.Wait(30));
  EXPECT_EQ(*ferry::Task(WhereAmI).SetPlacementGroup(pack, 0).Remote().Get(30000),
            *ferry::Task(WhereAmI).SetPlacementGroup(pack, 1).Remote().Get(30000));
  ferry::RemovePlacementGroup(pack.GetID());

  // PACK and SPREAD are best effort: they are created whenever the bundles fit anywhere.
  for (auto strategy : {ferry::PlacementStrategy::PACK, ferry::PlacementStrategy::SPREAD}) {
    std::vector<std::unordered_map<std::string, double>> b(2 * n, {{"CPU", 0.25}});
    auto g = ferry::CreatePlacementGroup({"", b, strategy});
    ASSERT_TRUE(g.Wait(30));
    std::set<uint32_t> where;
    for (int i = 0; i < 2 * n; ++i)
      where.insert(*ferry::Task(WhereAmI)
                        .SetResource("CPU", 0.25)  // what the bundle holds
                        .SetPlacementGroup(g, i)
                        .Remote()
                        .Get(30000));
    if (strategy == ferry::PlacementStrategy::SPREAD) EXPECT_EQ(where.size(), static_cast<size_t>(n));
    if (strategy == ferry::PlacementStrategy::PACK) EXPECT_EQ(where.size(), 1u);
    ferry::RemovePlacementGroup(g.GetID());
  }
}

TEST(Scheduling, PlacementGroupsThatDoNotFitStayPending) {
  std::vector<ferry::NodeId> nodes = CpuNodes();
  std::vector<std::unordered_map<std::string, double>> bundles(nodes.size() + 1, {{"CPU", 1}});
  auto g = ferry::CreatePlacementGroup({"too-wide", bundles, ferry::PlacementStrategy::STRICT_SPREAD});
  EXPECT_FALSE(g.Wait(0.3));
  EXPECT_EQ(g.GetState(), ferry::PlacementGroupState::PENDING);
  EXPECT_EQ(ferry::GetPlacementGroup("too-wide").GetID(), g.GetID());
  ferry::RemovePlacementGroup(g.GetID());
  EXPECT_EQ(g.GetState(), ferry::PlacementGroupState::REMOVED);
  EXPECT_THROW(g.Wait(1), ferry::TaskUnschedulableError);
  EXPECT_TRUE(ferry::GetPlacementGroup("too-wide").IsEmpty());
}

TEST(Scheduling, PlacementGroupsReserveTheirResources) {
  // A group holding every CPU leaves none for other work.
  auto g = HoldEveryCpu("all");
  ASSERT_TRUE(g.Wait(30));
  auto outside = ferry::Task(WhereAmI).Remote();
  EXPECT_TRUE(ferry::Wait(std::vector<ferry::ObjectRef<uint32_t>>{outside}, 1, 300).ready.empty());
  auto inside = ferry::Task(WhereAmI).SetPlacementGroup(g).Remote();
  EXPECT_LT(*inside.Get(30000), Ranks());
  ferry::RemovePlacementGroup(g.GetID());
  EXPECT_LT(*outside.Get(30000), Ranks());  // the CPUs are back
}

TEST(Scheduling, RemovingAGroupKillsItsActors) {
  auto g = ferry::CreatePlacementGroup({"actors", {{{"CPU", 1}}}, ferry::PlacementStrategy::PACK});
  ASSERT_TRUE(g.Wait(30));
  auto a = ferry::Actor(Pinned::Create).SetPlacementGroup(g, 0).Remote();
  EXPECT_LT(*a.Task(&Pinned::Where).Remote().Get(30000), Ranks());
  auto all = ferry::GetAllPlacementGroups();
  bool found = false;
  for (const auto& p : all) found |= p.GetID() == g.GetID() && p.GetName() == "actors";
  EXPECT_TRUE(found);
  ferry::RemovePlacementGroup(g.GetID());  // asynchronous, as in Ray...
  EXPECT_EQ(g.GetState(), ferry::PlacementGroupState::REMOVED);  // ...and done by now
  try {
    a.Task(&Pinned::Where).Remote().Get(30000);
    ADD_FAILURE() << "the actor outlived its group";
  } catch (const ferry::ActorDiedError& e) {
    EXPECT_NE(std::string(e.what()).find("placement group"), std::string::npos) << e.what();
  }
  ferry::RemovePlacementGroup(g.GetID());  // twice is harmless
}

TEST(Scheduling, BadUse) {
  EXPECT_THROW(ferry::CreatePlacementGroup({"", {}, ferry::PlacementStrategy::PACK}),
               std::invalid_argument);
  EXPECT_THROW(ferry::CreatePlacementGroup({"", {{}}, ferry::PlacementStrategy::PACK}),
               std::invalid_argument);
  EXPECT_THROW(ferry::CreatePlacementGroup({"", {{{"CPU", -1}}}, ferry::PlacementStrategy::PACK}),
               std::invalid_argument);
  auto g = ferry::CreatePlacementGroup({"dup", {{{"CPU", 0.1}}}, ferry::PlacementStrategy::PACK});
  EXPECT_THROW(ferry::CreatePlacementGroup({"dup", {{{"CPU", 0.1}}}, ferry::PlacementStrategy::PACK}),
               std::invalid_argument);
  EXPECT_THROW(ferry::Task(WhereAmI).SetPlacementGroup(g, 1), std::invalid_argument);
  EXPECT_THROW(ferry::Task(WhereAmI).SetPlacementGroup(ferry::PlacementGroup()), std::invalid_argument);
  EXPECT_THROW(ferry::Task(WhereAmI).SetNodeAffinity(ferry::NodeId()), std::invalid_argument);
  ferry::RemovePlacementGroup(g.GetID());
}

}  // namespace
