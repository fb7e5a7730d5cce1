// Multi-rank behaviour, run under mpirun (see tests/CMakeLists.txt for -n and environment).
// One cluster for the whole binary: rank 0 runs the tests, the other ranks serve in Init.
#include <ferry/ferry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int Pid() { return static_cast<int>(getpid()); }
int Plus(int a, int b) { return a + b; }
uint64_t LocalChecksum(const std::vector<uint64_t>& v) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t x : v) h = (h ^ x) * 1099511628211ull;
  return h;
}
uint64_t Checksum(std::vector<uint64_t> v) { return LocalChecksum(v); }
uint64_t ChecksumView(ferry::ArrayView<uint64_t> v) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t x : v) h = (h ^ x) * 1099511628211ull;
  return h;
}
std::vector<uint64_t> Produce(uint64_t n, uint64_t seed) {
  std::vector<uint64_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = i * 2654435761u + seed;
  return v;
}
std::vector<int> Ints(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
int64_t SumInts(std::vector<int> v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }
std::vector<uint64_t> Extend(std::vector<uint64_t> v, uint64_t x) {
  v.push_back(x);
  return v;
}
int Throws(int code) { throw std::invalid_argument("bad parameter " + std::to_string(code)); }
int Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int Fib(int n) {
  if (n < 2) return n;
  auto a = ferry::Task(Fib).Remote(n - 1);
  auto b = ferry::Task(Fib).Remote(n - 2);
  return *ferry::Get(a) + *ferry::Get(b);
}
// A nested task whose result is produced on yet another rank and consumed here.
uint64_t RemoteChecksum(uint64_t n) {
  auto v = ferry::Task(Produce).Remote(n, 7);
  return *ferry::Get(ferry::Task(Checksum).Remote(v));
}

FERRY_REMOTE(ChecksumView);
FERRY_REMOTE(Pid, Plus, Checksum, Produce, Ints, SumInts, Extend, Throws, Sleep, Fib,
             RemoteChecksum);

TEST(Mpi, TasksRunOnOtherRanks) {
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 64; ++i) refs.push_back(ferry::Task(Pid).Remote());
  std::set<int> pids;
  for (auto& p : ferry::Get(refs)) pids.insert(*p);
  const char* head_cpus = std::getenv("FERRY_HEAD_CPUS");
  if (head_cpus != nullptr && std::string(head_cpus) == "0") {
    EXPECT_EQ(pids.count(getpid()), 0u) << "a task ran on the head although it offers no CPUs";
  }
  EXPECT_GE(pids.size(), 2u) << "64 tasks all ran in one process";
}

TEST(Mpi, PutOnDriverGetOnWorkers) {
  auto ints = ferry::Put(Ints(100000));
  std::vector<ferry::ObjectRef<int64_t>> sums;
  for (int i = 0; i < 8; ++i) sums.push_back(ferry::Task(SumInts).Remote(ints));
  for (auto& s : ferry::Get(sums)) EXPECT_EQ(*s, int64_t{100000} * 99999 / 2);
  EXPECT_EQ(*ferry::Get(ints), Ints(100000));
}

TEST(Mpi, LargeVectorRoundTripWithChecksums) {
  const uint64_t n = (256ull << 20) / sizeof(uint64_t);  // 256 MiB
  auto produced = ferry::Task(Produce).Remote(n, 3);     // made on a worker
  auto remote_sum = ferry::Task(Checksum).Remote(produced);
  auto local = ferry::Get(produced);  // fetched to the driver
  ASSERT_EQ(local->size(), n);
  EXPECT_EQ(LocalChecksum(*local), *ferry::Get(remote_sum));
  EXPECT_EQ(LocalChecksum(*local), LocalChecksum(Produce(n, 3)));
  // And the other way: a 256 MiB Put read by a worker, decoded and in place.
  auto put = ferry::Put(Produce(n, 5));
  EXPECT_EQ(*ferry::Get(ferry::Task(Checksum).Remote(put)), LocalChecksum(Produce(n, 5)));
  std::vector<ferry::ObjectRef<uint64_t>> views;
  for (int i = 0; i < 6; ++i) views.push_back(ferry::Task(ChecksumView).Remote(put));
  for (auto& v : ferry::Get(views)) EXPECT_EQ(*v, LocalChecksum(Produce(n, 5)));
  EXPECT_EQ(LocalChecksum(ferry::GetView(produced).ToVector()), LocalChecksum(*local));
}

TEST(Mpi, OneGibObjectMovesBetweenRanksIntact) {
  const uint64_t n = (1ull << 30) / sizeof(uint64_t);
  auto produced = ferry::Task(Produce).Remote(n, 11);   // made and stored on a worker
  auto remote = ferry::Task(ChecksumView).Remote(produced);  // read in place wherever it runs
  ferry::ArrayView<uint64_t> here = ferry::GetView(produced);  // fetched into the driver's store
  ASSERT_EQ(here.size(), n);
  uint64_t h = 1469598103934665603ull;
  for (uint64_t x : here) h = (h ^ x) * 1099511628211ull;
  EXPECT_EQ(h, *ferry::Get(remote));
  EXPECT_EQ(here[n - 1], (n - 1) * 2654435761u + 11);
}

TEST(Mpi, ChainsOfRefsAcrossRanks) {
  auto v = ferry::Task(Produce).Remote(uint64_t{10000}, 1);
  for (uint64_t i = 0; i < 20; ++i) v = ferry::Task(Extend).Remote(v, i);
  auto got = ferry::Get(v);
  ASSERT_EQ(got->size(), 10020u);
  EXPECT_EQ((*got)[10019], 19u);
  auto a = ferry::Task(Plus).Remote(1, 1);
  for (int i = 0; i < 50; ++i) a = ferry::Task(Plus).Remote(a, 1);
  EXPECT_EQ(*ferry::Get(a), 52);
}

TEST(Mpi, RemoteExceptionsCarryTheirMessageAndNode) {
  auto r = ferry::Task(Throws).SetName("validate").Remote(42);
  try {
    ferry::Get(r);
    FAIL() << "no exception";
  } catch (const ferry::TaskError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("std::invalid_argument"), std::string::npos) << what;
    EXPECT_NE(what.find("bad parameter 42"), std::string::npos) << what;
    EXPECT_NE(what.find("validate"), std::string::npos) << what;
    EXPECT_NE(what.find("node-"), std::string::npos) << what;
  }
  EXPECT_THROW(ferry::Get(ferry::Task(Plus).Remote(r, 1)), ferry::TaskError);
}

TEST(Mpi, GetAndWaitTimeouts) {
  auto slow = ferry::Task(Sleep).Remote(2000);
  EXPECT_THROW(ferry::Get(slow, 100), ferry::TimeoutError);
  std::vector<ferry::ObjectRef<int>> refs = {slow, ferry::Task(Plus).Remote(1, 2)};
  auto w = ferry::Wait(refs, 1, 10000);
  EXPECT_EQ(w.ready.size(), 1u);
  EXPECT_EQ(*ferry::Get(slow, 20000), 2000);
}

TEST(Mpi, NestedTasksAcrossRanks) {
  EXPECT_EQ(*ferry::Get(ferry::Task(Fib).Remote(10)), 55);
  const uint64_t n = 1 << 20;
  EXPECT_EQ(*ferry::Get(ferry::Task(RemoteChecksum).Remote(n)), LocalChecksum(Produce(n, 7)));
}

TEST(Mpi, TenThousandTasks) {
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 10000; ++i) refs.push_back(ferry::Task(Plus).Remote(i, 3));
  auto values = ferry::Get(refs);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(*values[i], i + 3);
}

}  // namespace
