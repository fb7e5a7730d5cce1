// Fault-tolerance scenarios, run under ferry-mpirun with worker ranks SIGKILLed mid-run.
//   chaos sweep [KILLS]  two-stage sweep: 600 simulations, each a 1 MiB object, then 600
//                        scoring tasks taking two of them. KILLS ("2,4") are worker ranks the
//                        driver's harness kills: the first once 200 simulations are done, the
//                        next once half the scores are in. Prints "sweep: ok" when the
//                        results equal those computed locally without the cluster.
//   chaos exhausted      a task with no retries on a rank that dies: ObjectLostError names the
//                        task, the node and the cause.
//   chaos owner          a ref borrowed from a task's Put whose node dies: OwnerDiedError.
//   chaos actor          a named actor with a restart left, its node killed: calls go on on a
//                        new incarnation, found by name, WasCurrentActorRestarted() true.
//   chaos actor-lost     an actor call's result (no lineage) lost with its node:
//                        ObjectLostError saying why it cannot be rebuilt.
//   chaos chain          a -> b -> c on one rank, the driver keeping only c; the rank dies:
//                        c is rebuilt by re-running b and a first (lineage, recursively).
//                        With FERRY_MAX_LINEAGE_BYTES too small to keep it, c is lost with an
//                        ObjectLostError that says so ("chain: lineage dropped").
//   chaos exit-kill      a worker is killed just before the driver shuts down: the shutdown
//                        waits for its death to be declared, and the job still exits 0.
//   chaos head           the driver dies: every other rank exits non-zero naming the head.
// The harness kills by pid, asking each victim rank for its pid first.
#include <ferry/ferry.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kWords = (1 << 20) / sizeof(uint64_t);  // 1 MiB per simulation

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

}  // namespace

int Pid() { return static_cast<int>(getpid()); }

// A stand-in simulation: 1 MiB of state from its parameter, a few milliseconds of work.
std::vector<uint64_t> Simulate(int i) {
  std::vector<uint64_t> state(kWords);
  uint64_t x = Mix(static_cast<uint64_t>(i) + 1);
  for (int round = 0; round < 4; ++round)
    for (size_t k = 0; k < kWords; ++k) state[k] = x = Mix(x + state[k] + k);
  return state;
}

std::vector<uint64_t> Step(const std::vector<uint64_t>& in) {
  std::vector<uint64_t> out(in.size());
  for (size_t k = 0; k < in.size(); ++k) out[k] = Mix(in[k] + k);
  return out;
}

uint64_t Score(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  uint64_t s = 0;
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) s += Mix(a[k] ^ b[k]);
  return s;
}

// Ends its own rank (unless it is the driver's), like a node lost mid-task.
int Die(int code) {
  if (ferry::GetCurrentNodeId() != ferry::NodeId(0)) kill(getpid(), SIGKILL);
  return code;
}

class Counter {
 public:
  static Counter* Create(int start) { return new Counter(start); }
  int Add(int n) {
    value_ += n;
    return value_;
  }
  bool Restarted() { return ferry::WasCurrentActorRestarted(); }
  int Pid() { return static_cast<int>(getpid()); }
  std::vector<uint64_t> Big(int n) { return std::vector<uint64_t>(kWords, static_cast<uint64_t>(n)); }

 private:
  explicit Counter(int start) : value_(start) {}
  int value_;
};

ferry::ObjectRef<std::vector<uint64_t>> ShareRef(int n) { return ferry::Put(std::vector<uint64_t>(kWords, static_cast<uint64_t>(n))); }

FERRY_REMOTE(Pid, Simulate, Step, Score, Die, ShareRef, Counter::Create, &Counter::Add,
             &Counter::Restarted, &Counter::Pid, &Counter::Big);

namespace {

int PidOf(ferry::NodeId node) {
  return *ferry::Get(ferry::Task(Pid).SetNodeAffinity(node, /*soft=*/false).Remote());
}

ferry::NodeId NodeOfRank(int rank) {
  for (const ferry::NodeInfo& n : ferry::GetNodes())
    if (static_cast<int>(n.rank) == rank) return n.id;
  std::fprintf(stderr, "chaos: no rank %d in this cluster\n", rank);
  std::exit(2);
}

void KillRank(int rank, int pid) {
  std::printf("chaos: killing rank %d (pid %d)\n", rank, pid);
  std::fflush(stdout);
  kill(pid, SIGKILL);
}

void WaitDeclaredDead(int rank) {
  for (int i = 0; i < 600; ++i) {
    for (const ferry::NodeInfo& n : ferry::GetNodes())
      if (static_cast<int>(n.rank) == rank && !n.alive) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("chaos: rank %d was not declared dead within 30 s\n", rank);
  std::exit(4);
}

void PrintRecovery(const char* what) {
  ferry::internal::LocalStats s = ferry::internal::GetLocalStats();
  std::printf("%s: %llu task attempt(s) retried, %llu rebuild(s) of lost objects\n", what,
              static_cast<unsigned long long>(s.tasks_retried),
              static_cast<unsigned long long>(s.objects_rebuilt));
}

std::vector<int> ParseRanks(const char* s) {
  std::vector<int> out;
  while (s != nullptr && *s != '\0') {
    out.push_back(std::atoi(s));
    s = std::strchr(s, ',');
    if (s != nullptr) ++s;
  }
  return out;
}

int Sweep(const std::vector<int>& victims, int n) {
  std::vector<int> pids;
  for (int r : victims) pids.push_back(PidOf(NodeOfRank(r)));
  auto start = std::chrono::steady_clock::now();
  std::vector<ferry::ObjectRef<std::vector<uint64_t>>> sims;
  for (int i = 0; i < n; ++i) sims.push_back(ferry::Task(Simulate).Remote(i));
  size_t next_victim = 0;
  if (next_victim < victims.size()) {
    ferry::Wait(sims, n / 3, -1);
    KillRank(victims[next_victim], pids[next_victim]);
    ++next_victim;
  }
  std::vector<ferry::ObjectRef<uint64_t>> scores;
  for (int i = 0; i < n; ++i) scores.push_back(ferry::Task(Score).Remote(sims[i], sims[(i + 1) % n]));
  std::vector<uint64_t> got;
  for (int i = 0; i < n; ++i) {
    if (i == n / 2 && next_victim < victims.size()) {
      KillRank(victims[next_victim], pids[next_victim]);
      ++next_victim;
    }
    got.push_back(*ferry::Get(scores[i]));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // What a run without any failure computes, here, without the cluster.
  std::vector<std::vector<uint64_t>> local;
  for (int i = 0; i < n; ++i) local.push_back(Simulate(i));
  int wrong = 0;
  for (int i = 0; i < n; ++i)
    if (got[i] != Score(local[i], local[(i + 1) % n])) ++wrong;
  std::printf("sweep: %d simulations, %d scores, %zu rank(s) killed, %.2f s, %d wrong\n", n, n,
              victims.size(), secs, wrong);
  PrintRecovery("sweep");
  if (wrong == 0) std::printf("sweep: ok\n");
  return wrong == 0 ? 0 : 1;
}

int Exhausted() {
  ferry::NodeId victim = NodeOfRank(2);
  auto ref = ferry::Task(Die).SetMaxRetries(0).SetNodeAffinity(victim, /*soft=*/true).Remote(1);
  try {
    (void)ferry::Get(ref);
    std::printf("exhausted: no error\n");
    return 1;
  } catch (const ferry::ObjectLostError& e) {
    std::printf("exhausted: ObjectLostError: %s\n", e.what());
  }
  // Later work runs on the survivors.
  int v = *ferry::Get(ferry::Task(Pid).Remote());
  std::printf("exhausted: ok (%d)\n", v > 0);
  return 0;
}

int Owner() {
  ferry::NodeId victim = NodeOfRank(2);
  int pid = PidOf(victim);
  auto outer = ferry::Task(ShareRef).SetNodeAffinity(victim, false).Remote(3);
  ferry::ObjectRef<std::vector<uint64_t>> inner = *ferry::Get(outer);
  KillRank(2, pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  try {
    (void)ferry::Get(inner, 60000);
    std::printf("owner: no error\n");
    return 1;
  } catch (const ferry::OwnerDiedError& e) {
    std::printf("owner: OwnerDiedError: %s\n", e.what());
  }
  std::printf("owner: ok\n");
  return 0;
}

int ActorRestart() {
  auto counter = ferry::Actor(Counter::Create)
                     .SetName("counter")
                     .SetMaxRestarts(1)
                     .SetMaxTaskRetries(1)
                     .SetNodeAffinity(NodeOfRank(2), /*soft=*/true)
                     .Remote(100);
  int before = *ferry::Get(counter.Task(&Counter::Add).Remote(1));
  int pid = *ferry::Get(counter.Task(&Counter::Pid).Remote());
  KillRank(2, pid);
  // Sent after the kill: resent to the new incarnation (max_task_retries 1).
  auto after = counter.Task(&Counter::Add).Remote(10);
  int value = *ferry::Get(after, 60000);
  auto found = ferry::GetActor<Counter>("counter");
  if (!found) {
    std::printf("actor: the name did not follow the restarted actor\n");
    return 1;
  }
  bool restarted = *ferry::Get(found->Task(&Counter::Restarted).Remote(), 60000);
  int new_pid = *ferry::Get(found->Task(&Counter::Pid).Remote(), 60000);
  std::printf("actor: before %d, after %d (state rebuilt by the factory), restarted %d, moved %d\n",
              before, value, restarted, new_pid != pid);
  if (before == 101 && value == 110 && restarted && new_pid != pid) std::printf("actor: ok\n");
  return 0;
}

int ActorLost() {
  auto counter = ferry::Actor(Counter::Create).SetNodeAffinity(NodeOfRank(2), false).Remote(0);
  auto big = counter.Task(&Counter::Big).Remote(5);
  ferry::Wait(std::vector<ferry::ObjectRef<std::vector<uint64_t>>>{big}, 1, -1);
  KillRank(2, *ferry::Get(counter.Task(&Counter::Pid).Remote()));
  try {
    (void)ferry::Get(big, 60000);
    std::printf("actor-lost: no error\n");
    return 1;
  } catch (const ferry::ObjectLostError& e) {
    std::printf("actor-lost: ObjectLostError: %s\n", e.what());
  }
  std::printf("actor-lost: ok\n");
  return 0;
}

int Chain() {
  ferry::NodeId victim = NodeOfRank(2);
  int pid = PidOf(victim);
  // All three are placed at once: half a CPU each lets them all fit on the victim's two.
  auto a = ferry::Task(Simulate).SetResource("CPU", 0.5).SetNodeAffinity(victim, true).Remote(1);
  auto b = ferry::Task(Step).SetResource("CPU", 0.5).SetNodeAffinity(victim, true).Remote(a);
  auto c = ferry::Task(Step).SetResource("CPU", 0.5).SetNodeAffinity(victim, true).Remote(b);
  ferry::Wait(std::vector<ferry::ObjectRef<std::vector<uint64_t>>>{c}, 1, -1);
  a = {};  // only c is held: a and b live on as lineage
  b = {};
  KillRank(2, pid);
  // Read c only once the death is known: before, a reader on this host that mapped the dead
  // rank's memory could still read it there, and nothing would be rebuilt.
  WaitDeclaredDead(2);
  std::vector<uint64_t> want = Step(Step(Simulate(1)));
  try {
    std::vector<uint64_t> got = *ferry::Get(c, 120000);
    std::printf("chain: rebuilt, %s\n", got == want ? "equal" : "DIFFERENT");
    PrintRecovery("chain");
    // c, then b and a, which it needs and which only lineage kept.
    const bool rebuilt = ferry::internal::GetLocalStats().objects_rebuilt == 3;
    if (got == want && rebuilt) std::printf("chain: ok\n");
    return got == want && rebuilt ? 0 : 1;
  } catch (const ferry::ObjectLostError& e) {
    std::printf("chain: ObjectLostError: %s\n", e.what());
    if (std::strstr(e.what(), "max_lineage_bytes") != nullptr)
      std::printf("chain: lineage dropped\n");
    return 3;
  }
}

}  // namespace

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "sweep";
  // Every worker has finished starting (it ran a task) before anything is killed: a rank still
  // connecting to one that dies fails its start-up instead of serving.
  for (const ferry::NodeInfo& n : ferry::GetNodes())
    if (n.rank != 0) (void)PidOf(n.id);
  int rc = 2;
  if (mode == "sweep") {
    rc = Sweep(ParseRanks(argc > 2 ? argv[2] : ""), argc > 3 ? std::atoi(argv[3]) : 600);
  } else if (mode == "exhausted") {
    rc = Exhausted();
  } else if (mode == "owner") {
    rc = Owner();
  } else if (mode == "actor") {
    rc = ActorRestart();
  } else if (mode == "actor-lost") {
    rc = ActorLost();
  } else if (mode == "chain") {
    rc = Chain();
  } else if (mode == "exit-kill") {
    KillRank(3, PidOf(NodeOfRank(3)));
    std::printf("exit-kill: shutting down\n");
    rc = 0;
  } else if (mode == "head") {
    std::printf("head: killing the driver\n");
    std::fflush(stdout);
    kill(getpid(), SIGKILL);
  } else {
    std::fprintf(stderr, "chaos: unknown mode '%s'\n", mode.c_str());
  }
  std::fflush(stdout);
  ferry::Shutdown();
  return rc;
}
