// Actors, end to end. The same binary runs embedded (one process) and under mpirun (see
// tests/CMakeLists.txt): rank 0 runs the tests, the other ranks host actors and tasks.
#include <ferry/ferry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Counter {
  int64_t n = 0;
  std::vector<int> log;
  static Counter* Create(int64_t start) { return new Counter{start, {}}; }
  static Counter* FromVector(std::vector<int64_t> v) {
    int64_t s = 0;
    for (int64_t x : v) s += x;
    return new Counter{s, {}};
  }
  int64_t Add(int64_t x) { return n += x; }
  int64_t Value() const { return n; }
  int Append(int i) {
    log.push_back(i);
    return static_cast<int>(log.size()) - 1;
  }
  std::vector<int> Log() const { return log; }
  int64_t SumVector(std::vector<int64_t> v) {
    for (int64_t x : v) n += x;
    return n;
  }
  int Pid() { return static_cast<int>(getpid()); }
  bool Restarted() { return ferry::WasCurrentActorRestarted(); }
  int64_t Fail(int code) { throw std::domain_error("counter refused " + std::to_string(code)); }
  int64_t Exit() { ferry::ExitActor(); }
  int64_t Slow(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return n;
  }
};

struct Broken {
  static Broken* Create(std::string why) { throw std::runtime_error("cannot start: " + why); }
  int Ping() { return 1; }
};

// Records how many of its calls run at the same time.
struct Gauge {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  static Gauge* Create() { return new Gauge(); }
  int Busy(int ms) {
    int n = ++now;
    int m = max.load();
    while (n > m && !max.compare_exchange_weak(m, n)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    --now;
    return n;
  }
  int Max() const { return max.load(); }
};

// An actor that calls another one through a handle it was given.
struct Relay {
  static Relay* Create() { return new Relay(); }
  int64_t Forward(ferry::ActorHandle<Counter> c, int64_t x) {
    return *c.Task(&Counter::Add).Remote(x).Get();
  }
  ferry::ActorHandle<Counter> Spawn(int64_t start) {
    return ferry::Actor(Counter::Create).SetResource("CPU", 0).Remote(start);
  }
};

int64_t CallThrough(ferry::ActorHandle<Counter> c, int64_t x) {
  return *c.Task(&Counter::Add).Remote(x).Get();
}
ferry::ActorHandle<Counter> MakeCounter(int64_t start) {
  return ferry::Actor(Counter::Create).SetResource("CPU", 0).Remote(start);
}
int64_t AddByName(std::string name, int64_t x) {
  auto c = ferry::GetActor<Counter>(name);
  if (!c) return -1;
  return *c->Task(&Counter::Add).Remote(x).Get();
}
int64_t Three() { return 3; }
std::vector<int64_t> Big(int64_t n) { return std::vector<int64_t>(static_cast<size_t>(n), 1); }
int Pid() { return static_cast<int>(getpid()); }

FERRY_REMOTE(Counter::Create, Counter::FromVector, &Counter::Add, &Counter::Value,
             &Counter::Append, &Counter::Log, &Counter::SumVector, &Counter::Pid,
             &Counter::Restarted, &Counter::Fail, &Counter::Exit, &Counter::Slow);
FERRY_REMOTE(Broken::Create, &Broken::Ping, Gauge::Create, &Gauge::Busy, &Gauge::Max,
             Relay::Create, &Relay::Forward, &Relay::Spawn);
FERRY_REMOTE(CallThrough, MakeCounter, AddByName, Three, Big, Pid);

// Ranks in this cluster (the test runs with FERRY_NUM_CPUS=2: every rank offers 2 CPUs).
size_t Ranks() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size != nullptr ? static_cast<size_t>(std::atoi(size)) : 1;
}

// Zero-CPU actors, so tests never wait for CPUs held by other tests' actors.
ferry::ActorHandle<Counter> NewCounter(int64_t start) {
  return ferry::Actor(Counter::Create).SetResource("CPU", 0).Remote(start);
}

TEST(Actor, CallsFromOneCallerRunInOrder) {
  auto c = NewCounter(0);
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 2000; ++i) refs.push_back(c.Task(&Counter::Append).Remote(i));
  auto pos = ferry::Get(refs);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(*pos[i], i);
  std::vector<int> log = *c.Task(&Counter::Log).Remote().Get();
  ASSERT_EQ(log.size(), 2000u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(log[i], i);
  c.Kill();
}

TEST(Actor, StateLivesAcrossCalls) {
  auto c = NewCounter(10);
  c.Task(&Counter::Add).Remote(5);
  EXPECT_EQ(*c.Task(&Counter::Add).Remote(7).Get(), 22);
  EXPECT_EQ(*c.Task(&Counter::Value).SetName("read").Remote().Get(), 22);
  c.Kill();
}

TEST(Actor, ObjectRefArgumentsToCallsAndFactories) {
  auto c = ferry::Actor(Counter::Create).SetResource("CPU", 0).Remote(ferry::Put(int64_t{100}));
  EXPECT_EQ(*c.Task(&Counter::Add).Remote(ferry::Task(Three).Remote()).Get(), 103);
  // A large argument produced by a task (stored, not inline) and one from Put.
  auto big = ferry::Task(Big).Remote(int64_t{50000});
  EXPECT_EQ(*c.Task(&Counter::SumVector).Remote(big).Get(), 50103);
  EXPECT_EQ(*c.Task(&Counter::SumVector).Remote(ferry::Put(std::vector<int64_t>(20000, 2))).Get(),
            90103);
  auto v = ferry::Actor(Counter::FromVector).SetResource("CPU", 0).Remote(big);
  EXPECT_EQ(*v.Task(&Counter::Value).Remote().Get(), 50000);
  c.Kill();
  v.Kill();
}

TEST(Actor, HandlesTravelIntoTasksAndActorsAndBack) {
  auto c = NewCounter(0);
  EXPECT_EQ(*ferry::Task(CallThrough).Remote(c, int64_t{4}).Get(), 4);
  auto relay = ferry::Actor(Relay::Create).SetResource("CPU", 0).Remote();
  EXPECT_EQ(*relay.Task(&Relay::Forward).Remote(c, int64_t{6}).Get(), 10);
  EXPECT_EQ(*c.Task(&Counter::Value).Remote().Get(), 10);
  // Handles returned from a task and from an actor method call their actor.
  ferry::ActorHandle<Counter> made = *ferry::Task(MakeCounter).Remote(int64_t{40}).Get();
  EXPECT_EQ(*made.Task(&Counter::Add).Remote(2).Get(), 42);
  ferry::ActorHandle<Counter> spawned = *relay.Task(&Relay::Spawn).Remote(int64_t{7}).Get();
  EXPECT_EQ(*spawned.Task(&Counter::Add).Remote(1).Get(), 8);
  for (auto* h : {&c, &made, &spawned}) h->Kill();
  relay.Kill();
}

TEST(Actor, NamedLookupDuplicatesAndMissingNames) {
  auto c = ferry::Actor(Counter::Create).SetName("ledger").SetResource("CPU", 0).Remote(1);
  auto found = ferry::GetActor<Counter>("ledger");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->ID(), c.ID());
  EXPECT_EQ(*found->Task(&Counter::Add).Remote(1).Get(), 2);
  EXPECT_EQ(*ferry::Task(AddByName).Remote(std::string("ledger"), int64_t{3}).Get(), 5);
  try {
    ferry::Actor(Counter::Create).SetName("ledger").Remote(0);
    FAIL() << "a second live actor took the name";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'ledger' already exists"), std::string::npos)
        << e.what();
  }
  // The same name in another namespace is another actor.
  auto other = ferry::Actor(Counter::Create).SetName("ledger", "audit").SetResource("CPU", 0)
                   .Remote(100);
  EXPECT_EQ(*ferry::GetActor<Counter>("ledger", "audit")->Task(&Counter::Value).Remote().Get(),
            100);
  EXPECT_FALSE(ferry::GetActor<Counter>("no-such-actor").has_value());
  EXPECT_THROW(ferry::GetActor<Gauge>("ledger"), std::invalid_argument);
  // Dead actors free their names.
  c.Kill();
  EXPECT_FALSE(ferry::GetActor<Counter>("ledger").has_value());
  auto again = ferry::Actor(Counter::Create).SetName("ledger").SetResource("CPU", 0).Remote(9);
  EXPECT_EQ(*ferry::GetActor<Counter>("ledger")->Task(&Counter::Value).Remote().Get(), 9);
  again.Kill();
  other.Kill();
}

TEST(Actor, MethodExceptionFailsTheCallOnly) {
  auto c = NewCounter(1);
  auto r = c.Task(&Counter::Fail).Remote(7);
  try {
    ferry::Get(r);
    FAIL() << "no exception";
  } catch (const ferry::TaskError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("std::domain_error"), std::string::npos) << what;
    EXPECT_NE(what.find("counter refused 7"), std::string::npos) << what;
    EXPECT_NE(what.find("Counter::Fail"), std::string::npos) << what;
  }
  EXPECT_EQ(*c.Task(&Counter::Add).Remote(1).Get(), 2);
  c.Kill();
}

TEST(Actor, ConstructorExceptionKillsTheActorWithItsMessage) {
  auto b = ferry::Actor(Broken::Create).SetResource("CPU", 0).Remote(std::string("no licence"));
  for (int i = 0; i < 2; ++i) {
    try {
      b.Task(&Broken::Ping).Remote().Get();
      FAIL() << "a call on a broken actor succeeded";
    } catch (const ferry::ActorDiedError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("constructor threw"), std::string::npos) << what;
      EXPECT_NE(what.find("cannot start: no licence"), std::string::npos) << what;
    }
  }
}

TEST(Actor, KillWithoutRestart) {
  auto c = NewCounter(5);
  EXPECT_EQ(*c.Task(&Counter::Value).Remote().Get(), 5);
  c.Kill();
  try {
    c.Task(&Counter::Value).Remote().Get();
    FAIL() << "a killed actor answered";
  } catch (const ferry::ActorDiedError& e) {
    EXPECT_NE(std::string(e.what()).find("killed"), std::string::npos) << e.what();
  }
}

TEST(Actor, KillWithRestartRerunsTheFactory) {
  auto c = ferry::Actor(Counter::Create).SetResource("CPU", 0).SetMaxRestarts(1).Remote(3);
  EXPECT_EQ(*c.Task(&Counter::Add).Remote(10).Get(), 13);
  EXPECT_FALSE(*c.Task(&Counter::Restarted).Remote().Get());
  c.Kill(false);
  EXPECT_EQ(*c.Task(&Counter::Value).Remote().Get(), 3);  // fresh state
  EXPECT_TRUE(*c.Task(&Counter::Restarted).Remote().Get());
  c.Kill(false);  // no restarts left: it dies
  EXPECT_THROW(c.Task(&Counter::Value).Remote().Get(), ferry::ActorDiedError);
}

TEST(Actor, CallsLostToARestartAreResentWithMaxTaskRetries) {
  auto c = ferry::Actor(Counter::Create)
               .SetResource("CPU", 0)
               .SetMaxRestarts(1)
               .SetMaxTaskRetries(-1)
               .Remote(0);
  auto slow = c.Task(&Counter::Slow).Remote(500);
  std::vector<ferry::ObjectRef<int64_t>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(c.Task(&Counter::Add).Remote(1));
  c.Kill(false);
  ferry::Get(slow);  // it was running: it finishes on the old instance
  int64_t last = 0;
  for (auto& r : queued) last = std::max(last, *r.Get());
  EXPECT_EQ(*c.Task(&Counter::Value).Remote().Get(), last);
  EXPECT_TRUE(*c.Task(&Counter::Restarted).Remote().Get());
  c.Kill();
}

TEST(Actor, ExitActorEndsIt) {
  auto c = ferry::Actor(Counter::Create).SetName("quitter").SetResource("CPU", 0)
               .SetMaxRestarts(3).Remote(0);
  EXPECT_EQ(*c.Task(&Counter::Add).Remote(1).Get(), 1);
  try {
    c.Task(&Counter::Exit).Remote().Get();
    FAIL() << "ExitActor's call returned";
  } catch (const ferry::ActorDiedError& e) {
    EXPECT_NE(std::string(e.what()).find("ExitActor"), std::string::npos) << e.what();
  }
  // Not restarted, although restarts were left; the name is free.
  EXPECT_THROW(c.Task(&Counter::Value).Remote().Get(), ferry::ActorDiedError);
  EXPECT_FALSE(ferry::GetActor<Counter>("quitter").has_value());
  EXPECT_THROW(ferry::ExitActor(), ferry::RuntimeError);  // the driver is not an actor
}

TEST(Actor, MaxConcurrencyLetsCallsOverlap) {
  for (int concurrency : {3, 1}) {
    auto g = ferry::Actor(Gauge::Create).SetResource("CPU", 0).SetMaxConcurrency(concurrency)
                 .Remote();
    std::vector<ferry::ObjectRef<int>> refs;
    for (int i = 0; i < 3; ++i) refs.push_back(g.Task(&Gauge::Busy).Remote(1500));
    ferry::Get(refs);
    EXPECT_EQ(*g.Task(&Gauge::Max).Remote().Get(), concurrency);
    g.Kill();
  }
}

TEST(Actor, OthersKeepRunningWhileAMethodIsBusy) {
  auto busy = NewCounter(0);
  auto other = NewCounter(1);
  auto slow = busy.Task(&Counter::Slow).Remote(3000);
  EXPECT_EQ(*other.Task(&Counter::Add).Remote(1).Get(30000), 2);
  EXPECT_EQ(*ferry::Task(Three).Remote().Get(30000), 3);
  // Both answered while the slow call was still running.
  EXPECT_EQ(ferry::Wait(std::vector<ferry::ObjectRef<int64_t>>{slow}, 1, 100).unready.size(), 1u);
  ferry::Get(slow);
  busy.Kill();
  other.Kill();
}

TEST(Actor, AThousandActorsAcrossRanks) {
  std::vector<ferry::ActorHandle<Counter>> actors;
  for (int i = 0; i < 1000; ++i) actors.push_back(NewCounter(i));
  std::vector<ferry::ObjectRef<int64_t>> sums;
  std::vector<ferry::ObjectRef<int>> pids;
  for (auto& a : actors) {
    sums.push_back(a.Task(&Counter::Add).Remote(1));
    pids.push_back(a.Task(&Counter::Pid).Remote());
  }
  auto values = ferry::Get(sums);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(*values[i], i + 1);
  std::set<int> hosts;
  for (auto& p : ferry::Get(pids)) hosts.insert(*p);
  EXPECT_EQ(hosts.size(), Ranks()) << "actors did not spread over every rank";
  for (auto& a : actors) a.Kill();
}

TEST(Actor, ActorsHoldTheirCpusForLife) {
  // One 2-CPU actor per rank takes every CPU of the cluster ...
  std::vector<ferry::ActorHandle<Counter>> full;
  for (size_t i = 0; i < Ranks(); ++i)
    full.push_back(ferry::Actor(Counter::Create).SetResource("CPU", 2).Remote(0));
  std::set<int> hosts;
  for (auto& a : full) hosts.insert(*a.Task(&Counter::Pid).Remote().Get());
  EXPECT_EQ(hosts.size(), Ranks());
  // ... so a default actor (1 CPU) waits, and its calls with it, until one of them dies.
  auto waiting = ferry::Actor(Counter::Create).Remote(7);
  auto r = waiting.Task(&Counter::Value).Remote();
  EXPECT_EQ(ferry::Wait(std::vector<ferry::ObjectRef<int64_t>>{r}, 1, 300).ready.size(), 0u);
  full.back().Kill();
  EXPECT_EQ(*r.Get(30000), 7);
  waiting.Kill();
  for (size_t i = 0; i + 1 < full.size(); ++i) full[i].Kill();
}

TEST(Actor, BadUse) {
  ferry::ActorHandle<Counter> empty;
  EXPECT_THROW(empty.Task(&Counter::Value).Remote(), std::invalid_argument);
  EXPECT_THROW(ferry::Actor(Counter::Create).SetMaxConcurrency(0), std::invalid_argument);
  EXPECT_THROW(ferry::Actor(Counter::Create).SetName(""), std::invalid_argument);
  EXPECT_THROW(ferry::Actor(Counter::Create).SetResource("CPU", -1), std::invalid_argument);
}

}  // namespace
