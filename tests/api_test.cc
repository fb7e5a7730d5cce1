// The public API in embedded mode (one process, no launcher).
#include <ferry/ferry.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int Plus(int a, int b) { return a + b; }
std::string Greet(std::string who) { return "hello " + who; }
void Nothing() {}
int Fails(int x) { throw std::out_of_range("index " + std::to_string(x) + " is out of range"); }
int Sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int64_t SumVector(std::vector<int64_t> v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}
std::vector<double> MakeVector(int n) { return std::vector<double>(static_cast<size_t>(n), 0.5); }
double SumDoubles(std::vector<double> v) { return std::accumulate(v.begin(), v.end(), 0.0); }
int Fib(int n) {
  if (n < 2) return n;
  auto a = ferry::Task(Fib).Remote(n - 1);
  auto b = ferry::Task(Fib).Remote(n - 2);
  return *ferry::Get(a) + *ferry::Get(b);
}
int Scale(int x) { return 2 * x; }
double Scale(double x) { return 3 * x; }
int NotRegistered(int x) { return x; }
int GetInside(ferry::ObjectRef<int> ref) { return *ferry::Get(ref) + 1; }
double SumView(ferry::ArrayView<double> v) { return std::accumulate(v.begin(), v.end(), 0.0); }
// Where the task saw its argument's bytes.
uint64_t AddressOf(ferry::ArrayView<double> v) { return reinterpret_cast<uint64_t>(v.data()); }

// Throws on its first `failures` calls (counted across retries), then returns the call count.
std::atomic<int> g_flaky_calls{0};
int Flaky(int failures) {
  int call = ++g_flaky_calls;
  if (call <= failures) throw std::runtime_error("flaky failure " + std::to_string(call));
  return call;
}

FERRY_REMOTE(Plus, Greet, Nothing, Fails, Sleepy, SumVector, MakeVector, SumDoubles, Fib,
             GetInside, SumView, AddressOf, Flaky);
FERRY_REMOTE(FERRY_FUNC(Scale, int), FERRY_FUNC(Scale, double));

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    ferry::Config cfg;
    cfg.num_cpus = 2;
    int argc = 0;
    char** argv = nullptr;
    ferry::Init(cfg, argc, argv);
  }
  void TearDown() override { ferry::Shutdown(); }
};

TEST_F(Api, RemoteReturnsTheResult) {
  EXPECT_TRUE(ferry::IsInitialized());
  auto r = ferry::Task(Plus).Remote(1, 2);
  EXPECT_EQ(*ferry::Get(r), 3);
  EXPECT_EQ(*r.Get(), 3);
  EXPECT_EQ(*ferry::Task(Greet).Remote(std::string("ferry")).Get(), "hello ferry");
  ferry::Get(ferry::Task(Nothing).Remote());
}

TEST_F(Api, ObjectRefArgumentsChain) {
  auto a = ferry::Task(Plus).Remote(1, 2);
  auto b = ferry::Task(Plus).Remote(a, 10);
  auto c = ferry::Task(Plus).Remote(b, b);
  EXPECT_EQ(*ferry::Get(c), 26);
  auto p = ferry::Put(41);
  EXPECT_EQ(*ferry::Get(ferry::Task(Plus).Remote(p, 1)), 42);
}

TEST_F(Api, PutAndGetLargeVectorsOutOfBand) {
  std::vector<int64_t> v(100000);
  std::iota(v.begin(), v.end(), 0);
  auto ref = ferry::Put(v);
  EXPECT_EQ(*ferry::Get(ref), v);
  EXPECT_EQ(*ferry::Get(ferry::Task(SumVector).Remote(ref)), int64_t{100000} * 99999 / 2);
  auto big = ferry::Task(MakeVector).Remote(1 << 20);
  EXPECT_DOUBLE_EQ(*ferry::Get(ferry::Task(SumDoubles).Remote(big)), 0.5 * (1 << 20));
}

TEST_F(Api, TaskExceptionsCarryTypeMessageTaskAndNode) {
  auto r = ferry::Task(Fails).SetName("lookup").Remote(7);
  try {
    ferry::Get(r);
    FAIL() << "no exception";
  } catch (const ferry::TaskError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("std::out_of_range"), std::string::npos) << what;
    EXPECT_NE(what.find("index 7 is out of range"), std::string::npos) << what;
    EXPECT_NE(what.find("lookup"), std::string::npos) << what;
    EXPECT_NE(what.find("node-0"), std::string::npos) << what;
  }
  // A task whose argument failed fails with the upstream message.
  auto downstream = ferry::Task(Plus).Remote(r, 1);
  try {
    ferry::Get(downstream);
    FAIL() << "no exception";
  } catch (const ferry::TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("index 7 is out of range"), std::string::npos);
  }
}

TEST_F(Api, RetryExceptionsRunsTheTaskAgainUntilItSucceeds) {
  g_flaky_calls = 0;
  auto r = ferry::Task(Flaky).SetRetryExceptions().SetMaxRetries(3).Remote(2);
  EXPECT_EQ(*ferry::Get(r), 3);  // two failures, then the third attempt
  EXPECT_EQ(ferry::internal::GetLocalStats().tasks_retried, 2u);
}

TEST_F(Api, ExceptionsAreNotRetriedUnlessAsked) {
  g_flaky_calls = 0;
  auto r = ferry::Task(Flaky).SetMaxRetries(3).Remote(1);
  EXPECT_THROW(ferry::Get(r), ferry::TaskError);
  EXPECT_EQ(g_flaky_calls.load(), 1);
}

TEST_F(Api, SpentExceptionRetriesRaiseTheLastAttemptsError) {
  g_flaky_calls = 0;
  auto r = ferry::Task(Flaky).SetRetryExceptions(true).SetMaxRetries(2).Remote(10);
  try {
    ferry::Get(r);
    FAIL() << "no exception";
  } catch (const ferry::TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("flaky failure 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(g_flaky_calls.load(), 3);  // the first attempt and two retries
  EXPECT_THROW(ferry::Task(Flaky).SetMaxRetries(-2), std::invalid_argument);
}

TEST_F(Api, GetAndWaitTimeOut) {
  auto slow = ferry::Task(Sleepy).Remote(1500);
  EXPECT_THROW(ferry::Get(slow, 50), ferry::TimeoutError);
  auto fast = ferry::Task(Plus).Remote(2, 2);
  std::vector<ferry::ObjectRef<int>> refs = {slow, fast};
  auto w = ferry::Wait(refs, 1, 5000);
  ASSERT_EQ(w.ready.size(), 1u);
  EXPECT_EQ(w.ready[0], fast);
  ASSERT_EQ(w.unready.size(), 1u);
  auto w0 = ferry::Wait(refs, 2, 10);
  EXPECT_EQ(w0.unready.size(), 1u);
  EXPECT_EQ(*ferry::Get(slow), 1500);
  EXPECT_THROW(ferry::Wait(refs, 3, 10), std::invalid_argument);
}

TEST_F(Api, GetOfManyKeepsOrder) {
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 1000; ++i) refs.push_back(ferry::Task(Plus).Remote(i, i));
  auto values = ferry::Get(refs);
  ASSERT_EQ(values.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(*values[i], 2 * i);
}

TEST_F(Api, NestedTasksDoNotDeadlockOnFewCpus) {
  EXPECT_EQ(*ferry::Get(ferry::Task(Fib).Remote(12)), 144);
}

TEST_F(Api, RefsPassedInsideValuesCanBeFetched) {
  auto inner = ferry::Put(9);
  EXPECT_EQ(*ferry::Get(ferry::Task(GetInside).Remote(inner)), 10);
}

TEST_F(Api, OverloadsPickedWithFerryFunc) {
  EXPECT_EQ(*ferry::Get(ferry::Task(FERRY_FUNC(Scale, int)).Remote(4)), 8);
  EXPECT_DOUBLE_EQ(*ferry::Get(ferry::Task(FERRY_FUNC(Scale, double)).Remote(1.5)), 4.5);
}

TEST_F(Api, UnregisteredFunctionThrowsNotCrashes) {
  EXPECT_THROW(ferry::Task(NotRegistered).Remote(1), ferry::FunctionNotFoundError);
}

TEST_F(Api, BadResourceRequestsThrowAtTheCall) {
  EXPECT_THROW(ferry::Task(Plus).SetResource("", 1), std::invalid_argument);
  EXPECT_THROW(ferry::Task(Plus).SetResource("CPU", -1), std::invalid_argument);
  EXPECT_THROW(ferry::Task(Plus).SetResource("CPU", std::nan("")), std::invalid_argument);
  auto r = ferry::Task(Plus).SetResource("CPU", 0.5).SetMaxRetries(2).SetName("half").Remote(1, 1);
  EXPECT_EQ(*ferry::Get(r), 2);
}

TEST_F(Api, TenThousandTasks) {
  std::vector<ferry::ObjectRef<int>> refs;
  refs.reserve(10000);
  for (int i = 0; i < 10000; ++i) refs.push_back(ferry::Task(Plus).Remote(i, 1));
  auto values = ferry::Get(refs);
  long sum = 0;
  for (auto& v : values) sum += *v;
  EXPECT_EQ(sum, 10000L * 9999 / 2 + 10000);
}

TEST(ApiLifecycle, UseBeforeInitThrows) {
  EXPECT_FALSE(ferry::IsInitialized());
  EXPECT_THROW(ferry::Put(1), ferry::RuntimeError);
  ferry::Shutdown();  // harmless when not initialized
}

TEST(ApiLifecycle, InitTwiceThrows) {
  ferry::Init();
  EXPECT_THROW(ferry::Init(), ferry::RuntimeError);
  ferry::Shutdown();
  EXPECT_FALSE(ferry::IsInitialized());
}

}  // namespace

namespace {

// Polls the local stats until `pred` holds or 10 s pass.
template <typename Pred>
bool EventuallyStats(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(ferry::internal::GetLocalStats())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST_F(Api, DroppedRefsFreeOwnerEntriesAndStoreCopies) {
  auto base = ferry::internal::GetLocalStats();
  {
    std::vector<ferry::ObjectRef<double>> sums;
    for (int i = 0; i < 50; ++i) {
      auto big = ferry::Task(MakeVector).Remote(100000);  // 800 KB: kept in the store
      sums.push_back(ferry::Task(SumDoubles).Remote(big));
    }
    auto put = ferry::Put(std::vector<double>(200000, 1.0));
    for (auto& s : ferry::Get(sums)) EXPECT_DOUBLE_EQ(*s, 50000.0);
    auto during = ferry::internal::GetLocalStats();
    EXPECT_GE(during.store_objects, base.store_objects + 1);  // at least the Put is stored
    EXPECT_GE(during.owned_objects, base.owned_objects + 51);
  }
  // Every handle is gone: the owner forgets the objects and the store drops every copy.
  EXPECT_TRUE(EventuallyStats([&](const ferry::internal::LocalStats& s) {
    return s.owned_objects == base.owned_objects && s.store_objects == base.store_objects &&
           s.store_bytes == base.store_bytes && s.pending_tasks == 0;
  }));
  auto after = ferry::internal::GetLocalStats();
  EXPECT_EQ(after.store_bytes, base.store_bytes);
  EXPECT_EQ(after.owned_objects, base.owned_objects);
}

TEST_F(Api, ViewsReadStoredArraysInPlace) {
  auto base = ferry::internal::GetLocalStats();
  std::vector<double> src(1 << 20);
  std::iota(src.begin(), src.end(), 0.0);
  auto ref = ferry::Put(src);
  src[0] = -1;  // Put copied the caller's vector before returning
  {
    ferry::ArrayView<double> a = ferry::GetView(ref);
    ferry::ArrayView<double> b = ferry::GetView(ref);
    ASSERT_EQ(a.size(), size_t{1} << 20);
    EXPECT_EQ(a.data(), b.data()) << "each view copied the object";
    EXPECT_EQ(a[0], 0.0);
    EXPECT_EQ(a[12345], 12345.0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
    auto stats = ferry::internal::GetLocalStats();
    EXPECT_GE(stats.store_pinned_objects, 1u);
    EXPECT_GE(stats.store_arena_used, base.store_arena_used + (8u << 20));
    // A task taking an ArrayView reads the stored bytes where they are.
    EXPECT_EQ(*ferry::Task(AddressOf).Remote(ref).Get(), reinterpret_cast<uint64_t>(a.data()));
    EXPECT_DOUBLE_EQ(*ferry::Task(SumView).Remote(ref).Get(), 549755289600.0);
    // A plain vector argument works for a view parameter too.
    EXPECT_DOUBLE_EQ(*ferry::Task(SumView).Remote(std::vector<double>(10, 1.5)).Get(), 15.0);
  }
  ref = ferry::ObjectRef<std::vector<double>>();
  // Views and refs dropped: the arena block is free again.
  EXPECT_TRUE(EventuallyStats([&](const ferry::internal::LocalStats& s) {
    return s.store_arena_used == base.store_arena_used && s.store_pinned_objects == 0;
  }));
}

TEST_F(Api, ObjectListingSaysWhereEachObjectIs) {
  auto big = ferry::Put(std::vector<double>(100000, 1.0));
  auto small = ferry::Put(7);
  auto slow = ferry::Task(Sleepy).Remote(300);
  std::map<ferry::ObjectId, ferry::internal::ObjectStats> by_id;
  for (auto& o : ferry::internal::ListLocalObjects()) by_id[o.id] = o;
  ASSERT_EQ(by_id.count(big.ID()), 1u);
  EXPECT_EQ(by_id[big.ID()].state, "in_store");
  EXPECT_EQ(by_id[big.ID()].size, 800000u);
  EXPECT_TRUE(by_id[big.ID()].owned && by_id[big.ID()].stored && by_id[big.ID()].primary);
  EXPECT_EQ(by_id[big.ID()].locations, std::vector<ferry::NodeId>{ferry::NodeId(0)});
  EXPECT_EQ(by_id[small.ID()].state, "inline");
  EXPECT_EQ(by_id[slow.ID()].state, "pending");
  ferry::Get(slow);
}

TEST_F(Api, AnArgumentStaysAliveWhileATaskNeedsIt) {
  // Both CPUs busy, so the consumer can only start after the producer's handle is gone.
  auto slow_dep = ferry::Task(Sleepy).Remote(200);
  auto slow_dep2 = ferry::Task(Sleepy).Remote(200);
  ferry::ObjectRef<double> sum;
  {
    auto big = ferry::Put(std::vector<double>(100000, 2.0));
    sum = ferry::Task(SumDoubles).Remote(big);  // big's handle dies before the task runs
  }
  EXPECT_DOUBLE_EQ(*ferry::Get(sum), 200000.0);
  EXPECT_EQ(*ferry::Get(slow_dep), 200);
  EXPECT_EQ(*ferry::Get(slow_dep2), 200);
}

}  // namespace

namespace {

TEST(ApiLifecycle, EmbeddedInitFailureThrowsAndLeavesFerryUsable) {
  ferry::Config bad;
  bad.transport = "nonsense";
  int argc = 0;
  char** argv = nullptr;
  try {
    ferry::Init(bad, argc, argv);
    FAIL() << "Init accepted an unknown transport";
  } catch (const ferry::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown transport 'nonsense'"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(ferry::IsInitialized());
  ferry::Init();
  EXPECT_EQ(*ferry::Get(ferry::Task(Plus).Remote(2, 3)), 5);
  ferry::Shutdown();
}

TEST(ApiLifecycle, BadConfigurationNamesTheSetting) {
  ferry::Config cfg;
  std::vector<std::string> args = {"app", "--ferry-no-such-knob=1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = 2;
  char** av = argv.data();
  try {
    ferry::Init(cfg, argc, av);
    FAIL() << "Init accepted an unknown flag";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_knob"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ferry::IsInitialized());
}

}  // namespace

namespace {

std::atomic<int> g_running{0};  // tasks inside Gather now
std::atomic<int> g_arrived{0};  // tasks that entered Gather since the test began
std::atomic<int> g_peak{0};     // most tasks inside Gather at once

// Waits (bounded) until `want` tasks have arrived, so `want` tasks must run at the same time
// for every one of them to see `want` arrivals; returns the arrivals it saw.
int Gather(int want) {
  int now = ++g_running;
  ++g_arrived;
  int peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (g_arrived.load() < want && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int seen = g_arrived.load();
  --g_running;
  return seen;
}
FERRY_REMOTE(Gather);

TEST_F(Api, FractionalCpuRequestsShareACpu) {
  // The fixture's node has 2 CPUs: four half-CPU tasks all run at the same time.
  g_peak = 0;
  g_arrived = 0;
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 4; ++i) refs.push_back(ferry::Task(Gather).SetResource("CPU", 0.5).Remote(4));
  for (auto& seen : ferry::Get(refs)) EXPECT_EQ(*seen, 4);
  EXPECT_EQ(g_peak.load(), 4);
}

TEST_F(Api, WholeCpuRequestsAreLimitedByTheNodesCpus) {
  g_peak = 0;
  g_arrived = 0;
  std::vector<ferry::ObjectRef<int>> refs;
  // Each waits for a partner, so two at a time finish; never more than 2 run at once.
  for (int i = 0; i < 4; ++i) refs.push_back(ferry::Task(Gather).Remote(2));
  ferry::Get(refs);
  EXPECT_EQ(g_peak.load(), 2);
}

}  // namespace
