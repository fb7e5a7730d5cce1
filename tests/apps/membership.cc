// Join and leave at run time. The harness (tests/membership/cluster.sh) starts the driver with
// a join listener, then starts processes of this same binary with FERRY_ADDRESS: those join as
// raylets (ferry::Init never returns in them) and exit when the cluster shuts down or they
// leave.
//   membership join N        waits for N joiners (each offers the custom resource "joiner"),
//                            runs 200 tasks that need it and checks each joiner ran some;
//                            prints "join: ok" and how soon after joining the last one ran
//                            work.
//   membership drain N api   waits for N joiners, starts 240 tasks whose results (256 KiB) stay
//   membership drain N signal  in the executing node's store, and once 80 are done drains the
//   membership drain N kill
//                            first joiner (DrainNode, or SIGTERM to its process). Checks every
//                            result, that no retry was spent, that the results it held were
//                            taken over by the driver, and that it left; prints "drain: ok".
//                            "kill" SIGKILLs it instead: the baseline a drain is measured
//                            against (retries and rebuilds, nothing checked but the results).
//   membership walltime N    waits for N joiners and keeps them busy (batches of 40 tasks whose
//                            results stay where they ran) until one of them leaves, after the
//                            harness had Slurm send it the walltime signal once "walltime:
//                            ready" is printed; then checks every result and that nothing was
//                            retried or lost; prints "walltime: ok".
//   membership autoscale N   a cluster of the driver alone whose autoscaler (FERRY_AUTOSCALER_*
//                            from the harness) starts nodes: 300 tasks of 30 ms make it grow
//                            to N workers, every result is checked, then idle workers must be
//                            drained until none is left; prints "autoscale: ok".
#include <ferry/ferry.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void Fail(const std::string& what) {
  std::printf("membership: FAILED: %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

std::vector<ferry::NodeInfo> LiveJoiners() {
  std::vector<ferry::NodeInfo> out;
  for (const ferry::NodeInfo& n : ferry::GetNodes())
    if (n.alive && n.rank != 0) out.push_back(n);
  return out;
}

// The live joiners once there are `n`, within 60 s.
std::vector<ferry::NodeInfo> AwaitJoiners(size_t n) {
  const auto start = Clock::now();
  while (Since(start) < 60) {
    std::vector<ferry::NodeInfo> live = LiveJoiners();
    if (live.size() >= n) return live;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Fail("only " + std::to_string(LiveJoiners().size()) + " of " + std::to_string(n) +
       " joiners arrived within 60 s");
}

}  // namespace

uint32_t WhereAmI() { return ferry::GetCurrentNodeId().value(); }
FERRY_REMOTE(WhereAmI);

// 256 KiB that depend on `i` only: large enough to stay in the executing node's store.
std::vector<uint64_t> Expected(int i) {
  std::vector<uint64_t> v(32768);
  uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t& w : v) w = x = x * 6364136223846793005ull + 1442695040888963407ull;
  return v;
}

std::vector<uint64_t> Produce(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return Expected(i);
}
FERRY_REMOTE(Produce);

int Join(size_t joiners) {
  std::vector<ferry::NodeInfo> live = AwaitJoiners(joiners);
  const auto joined = Clock::now();
  std::printf("join: %zu joiner(s) are members\n", live.size());
  std::vector<ferry::ObjectRef<uint32_t>> refs;
  for (int i = 0; i < 200; ++i)
    refs.push_back(ferry::Task(WhereAmI).SetResource("joiner", 0.01).Remote());
  std::map<uint32_t, int> ran;
  double first_s = -1;
  for (auto& r : refs) {
    ran[*ferry::Get(r)]++;
    if (first_s < 0) first_s = Since(joined);
  }
  for (const ferry::NodeInfo& n : live) {
    if (ran[n.id.value()] == 0)
      Fail("joiner " + n.id.ToString() + " (pid " + std::to_string(n.pid) + ") ran no task");
    std::printf("join: %s (%s, pid %d) ran %d task(s)\n", n.id.ToString().c_str(),
                n.hostname.c_str(), n.pid, ran[n.id.value()]);
  }
  std::printf("join: first result %.3f s after the last joiner became a member\n", first_s);
  std::printf("join: ok\n");
  return 0;
}

int Drain(size_t joiners, const std::string& how) {
  std::vector<ferry::NodeInfo> live = AwaitJoiners(joiners);
  const ferry::NodeInfo victim = live.front();
  std::vector<ferry::ObjectRef<std::vector<uint64_t>>> refs;
  for (int i = 0; i < 240; ++i) refs.push_back(ferry::Task(Produce).Remote(i));
  std::vector<ferry::ObjectRef<std::vector<uint64_t>>> first(refs.begin(), refs.begin() + 80);
  if (ferry::Wait(first, 80, 120000).ready.size() != 80) Fail("80 results did not come in 120 s");
  std::printf("drain: 80 results in; draining %s (pid %d) by %s\n",
              victim.id.ToString().c_str(), victim.pid, how.c_str());
  std::fflush(stdout);
  const auto start = Clock::now();
  if (how == "signal") {
    if (kill(victim.pid, SIGTERM) != 0) Fail("kill(SIGTERM) failed");
  } else if (how == "kill") {  // the baseline: the same node lost instead of leaving
    if (kill(victim.pid, SIGKILL) != 0) Fail("kill(SIGKILL) failed");
  } else {
    ferry::DrainNode(victim.id, "the test asked");
  }
  for (int i = 0; i < 240; ++i) {
    if (*ferry::Get(refs[i]) != Expected(i)) Fail("result " + std::to_string(i) + " is wrong");
  }
  std::printf("drain: all 240 results in %.3f s after the request\n", Since(start));
  // It is gone once every node's view says so.
  while (true) {
    bool alive = false;
    for (const ferry::NodeInfo& n : ferry::GetNodes()) alive |= n.id == victim.id && n.alive;
    if (!alive) break;
    if (Since(start) > 60) Fail(victim.id.ToString() + " did not leave within 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double left_s = Since(start);
  // Every result again, now that the node is gone: nothing was lost with it.
  for (int i = 0; i < 240; ++i) {
    if (*ferry::Get(refs[i]) != Expected(i))
      Fail("result " + std::to_string(i) + " is wrong after the node left");
  }
  ferry::internal::LocalStats s = ferry::internal::GetLocalStats();
  std::printf("drain: %s left %.3f s after the request; retried %llu, handed back %llu, "
              "taken over %llu, rebuilt %llu\n",
              victim.id.ToString().c_str(), left_s,
              static_cast<unsigned long long>(s.tasks_retried),
              static_cast<unsigned long long>(s.tasks_handed_back),
              static_cast<unsigned long long>(s.objects_taken_over),
              static_cast<unsigned long long>(s.objects_rebuilt));
  if (how == "kill") {
    std::printf("drain: killed (baseline), nothing checked\n");
    return 0;
  }
  if (s.tasks_retried != 0) Fail("a graceful leave spent retries");
  if (s.objects_rebuilt != 0) Fail("a graceful leave lost objects that had to be rebuilt");
  if (s.objects_taken_over == 0) Fail("the leaving node handed over no object");
  std::printf("drain: ok\n");
  return 0;
}

int Walltime(size_t joiners) {
  std::vector<ferry::NodeInfo> live = AwaitJoiners(joiners);
  std::vector<ferry::ObjectRef<std::vector<uint64_t>>> refs;
  const auto start = Clock::now();
  bool told = false;
  while (LiveJoiners().size() == live.size()) {
    if (Since(start) > 120) Fail("no node left within 120 s");
    std::vector<ferry::ObjectRef<std::vector<uint64_t>>> batch;
    for (int k = 0; k < 40; ++k) {
      batch.push_back(ferry::Task(Produce).Remote(static_cast<int>(refs.size())));
      refs.push_back(batch.back());
    }
    if (ferry::Wait(batch, 40, 120000).ready.size() != 40) Fail("a batch took over 120 s");
    if (!told) {
      std::printf("walltime: ready\n");
      std::fflush(stdout);
      told = true;
    }
  }
  std::printf("walltime: a node left after %zu tasks, %.2f s\n", refs.size(), Since(start));
  for (size_t i = 0; i < refs.size(); ++i) {
    if (*ferry::Get(refs[i]) != Expected(static_cast<int>(i)))
      Fail("result " + std::to_string(i) + " is wrong");
  }
  ferry::internal::LocalStats s = ferry::internal::GetLocalStats();
  std::printf("walltime: retried %llu, handed back %llu, taken over %llu, rebuilt %llu\n",
              static_cast<unsigned long long>(s.tasks_retried),
              static_cast<unsigned long long>(s.tasks_handed_back),
              static_cast<unsigned long long>(s.objects_taken_over),
              static_cast<unsigned long long>(s.objects_rebuilt));
  if (s.tasks_retried != 0 || s.objects_rebuilt != 0) Fail("the leave lost work");
  std::printf("walltime: ok\n");
  return 0;
}

int Slow(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  return 3 * i + 1;
}
FERRY_REMOTE(Slow);

int Autoscale(size_t want) {
  const auto start = Clock::now();
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 300; ++i) refs.push_back(ferry::Task(Slow).Remote(i));
  size_t most = 0;
  double grown_s = -1;
  for (int i = 0; i < 300; ++i) {
    do {
      most = std::max(most, LiveJoiners().size());
      if (grown_s < 0 && most >= want) grown_s = Since(start);
    } while (ferry::Wait(std::vector<ferry::ObjectRef<int>>{refs[i]}, 1, 50).ready.empty());
    if (*ferry::Get(refs[i]) != 3 * i + 1) Fail("result " + std::to_string(i) + " is wrong");
  }
  most = std::max(most, LiveJoiners().size());
  std::printf("autoscale: 300 results right in %.2f s; at most %zu worker(s) (reached %zu after "
              "%.2f s)\n",
              Since(start), most, want, grown_s);
  if (most != want) Fail("expected the cluster to grow to " + std::to_string(want) + " workers");
  const auto idle = Clock::now();
  while (!LiveJoiners().empty()) {
    if (Since(idle) > 90) Fail("idle workers were not drained within 90 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("autoscale: every worker left %.2f s after the work ended\n", Since(idle));
  ferry::internal::LocalStats s = ferry::internal::GetLocalStats();
  if (s.tasks_retried != 0) Fail("scaling spent retries");
  std::printf("autoscale: ok\n");
  return 0;
}

int main(int argc, char** argv) {
  ferry::Init(argc, argv);  // joiners serve in here and exit
  const std::string mode = argc > 1 ? argv[1] : "";
  const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1;
  int rc = 2;
  if (mode == "join") {
    rc = Join(n);
  } else if (mode == "walltime") {
    rc = Walltime(n);
  } else if (mode == "autoscale") {
    rc = Autoscale(n);
  } else if (mode == "drain") {
    rc = Drain(n, argc > 3 ? argv[3] : "api");
  } else {
    std::fprintf(stderr, "usage: membership join N | drain N api|signal|kill | walltime N | autoscale N\n");
  }
  std::fflush(stdout);
  ferry::Shutdown();
  return rc;
}
