// Whether a launch made one cluster of every task: `ranks N` checks that the cluster has N
// nodes, that a task pinned to each node runs there, and that a sum spread over the cluster is
// right, then prints "ranks: N nodes ok". Run as N separate one-rank clusters it fails.
#include <ferry/ferry.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

uint32_t WhereAmI() { return ferry::GetCurrentNodeId().value(); }
long Square(long x) { return x * x; }
FERRY_REMOTE(WhereAmI, Square);

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  const size_t want = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1;
  const std::vector<ferry::NodeInfo> nodes = ferry::GetNodes();
  if (nodes.size() != want) {
    std::printf("ranks: %zu nodes, wanted %zu\n", nodes.size(), want);
    return 1;
  }
  for (const ferry::NodeInfo& n : nodes) {
    const uint32_t ran_on = *ferry::Task(WhereAmI).SetNodeAffinity(n.id).Remote().Get();
    if (ran_on != n.id.value()) {
      std::printf("ranks: a task pinned to node %u ran on node %u\n", n.id.value(), ran_on);
      return 1;
    }
  }
  std::vector<ferry::ObjectRef<long>> refs;
  for (long i = 1; i <= 200; ++i)
    refs.push_back(
        ferry::Task(Square).SetSchedulingStrategy(ferry::SchedulingStrategy::SPREAD).Remote(i));
  long sum = 0;
  for (auto& r : refs) sum += *r.Get();
  if (sum != 200L * 201 * 401 / 6) {
    std::printf("ranks: sum of squares %ld\n", sum);
    return 1;
  }
  std::printf("ranks: %zu nodes ok\n", nodes.size());
  std::fflush(stdout);
  ferry::Shutdown();
  return 0;
}
