// The object store end to end. The same binary runs embedded and under mpirun (see
// tests/CMakeLists.txt), with a small store (FERRY_OBJECT_STORE_MEMORY=64 MiB per rank) so
// that pressure, spilling and refusal are reached quickly.
#include <ferry/ferry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

namespace {

constexpr uint64_t kStore = 64ull << 20;

std::vector<uint64_t> Fill(uint64_t n, uint64_t seed) {
  std::vector<uint64_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
  return v;
}
uint64_t Sum(ferry::ArrayView<uint64_t> v) { return std::accumulate(v.begin(), v.end(), 0ull); }
uint64_t SumOf(uint64_t n, uint64_t seed) {
  uint64_t s = 0;
  for (uint64_t x : Fill(n, seed)) s += x;
  return s;
}
std::vector<uint8_t> Huge(uint64_t n) { return std::vector<uint8_t>(n, 1); }

// One per rank: reports that rank's store.
struct Probe {
  static Probe* Create() { return new Probe(); }
  int Pid() { return static_cast<int>(getpid()); }
  std::vector<uint64_t> Stats() {
    auto s = ferry::internal::GetLocalStats();
    return {s.store_objects, s.store_bytes, s.store_arena_used, s.store_pinned_objects,
            s.store_capacity, s.store_spill_count, s.store_restore_count};
  }
};

using Refs = std::vector<ferry::ObjectRef<std::vector<uint64_t>>>;

// Reads refs that arrived inside a value.
uint64_t SumAll(Refs refs) {
  uint64_t s = 0;
  for (auto& r : refs) {
    auto v = ferry::Get(r);  // (not in the range-for: the shared_ptr must outlive the loop)
    for (uint64_t x : *v) s += x;
  }
  return s;
}
uint64_t SumNested(ferry::ObjectRef<Refs> holder) { return SumAll(*ferry::Get(holder)); }
// Objects owned by the rank running the task, returned inside a value and as a bare ref.
Refs MakeRefs(uint64_t n) { return {ferry::Put(Fill(n, 5)), ferry::Task(Fill).Remote(n, 6)}; }
ferry::ObjectRef<std::vector<uint64_t>> MakeRef(uint64_t n) { return ferry::Put(Fill(n, 7)); }

// Passes borrowed refs on to another task, then returns before reading them itself.
uint64_t Relay(Refs refs) { return *ferry::Task(SumAll).Remote(refs).Get(); }

// Keeps borrowed refs past the call that brought them.
struct Keeper {
  Refs kept;
  static Keeper* Create() { return new Keeper(); }
  static Keeper* With(Refs refs) { return new Keeper{std::move(refs)}; }
  int Keep(Refs refs) {
    kept = std::move(refs);
    return static_cast<int>(kept.size());
  }
  uint64_t Sum() { return SumAll(kept); }
  int Pid() { return static_cast<int>(getpid()); }
};

FERRY_REMOTE(Fill, Sum, Huge, Probe::Create, &Probe::Pid, &Probe::Stats, SumNested, SumAll,
             Relay, MakeRefs, MakeRef, Keeper::Create, Keeper::With, &Keeper::Keep, &Keeper::Sum, &Keeper::Pid);

size_t Ranks() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size != nullptr ? static_cast<size_t>(std::atoi(size)) : 1;
}

// A probe on every rank (zero-CPU actors spread one per rank while none other lives).
std::vector<ferry::ActorHandle<Probe>> Probes() {
  std::vector<ferry::ActorHandle<Probe>> probes;
  for (size_t i = 0; i < Ranks(); ++i)
    probes.push_back(ferry::Actor(Probe::Create).SetResource("CPU", 0).Remote());
  std::set<int> pids;
  for (auto& p : probes) pids.insert(*p.Task(&Probe::Pid).Remote().Get());
  EXPECT_EQ(pids.size(), Ranks()) << "the probes did not land one per rank";
  return probes;
}

std::vector<std::vector<uint64_t>> AllStats(std::vector<ferry::ActorHandle<Probe>>& probes) {
  std::vector<std::vector<uint64_t>> out;
  for (auto& p : probes) out.push_back(*p.Task(&Probe::Stats).Remote().Get());
  return out;
}

TEST(Objects, ThreeTimesTheStoreSpillsAndEveryChecksumHolds) {
  // 48 objects of 4 MiB on each rank's worth of store: 3x the capacity of the whole cluster.
  const uint64_t n = (4ull << 20) / 8;
  const int count = static_cast<int>(3 * Ranks() * kStore / (4ull << 20));
  std::vector<ferry::ObjectRef<std::vector<uint64_t>>> refs;
  for (int i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      refs.push_back(ferry::Task(Fill).Remote(n, static_cast<uint64_t>(i)));
    } else {
      refs.push_back(ferry::Put(Fill(n, static_cast<uint64_t>(i))));
    }
  }
  // Read twice, in place and by tasks anywhere, so objects are spilled and restored.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<ferry::ObjectRef<uint64_t>> sums;
    for (auto& r : refs) sums.push_back(ferry::Task(Sum).Remote(r));
    for (int i = 0; i < count; ++i)
      ASSERT_EQ(*sums[i].Get(), SumOf(n, static_cast<uint64_t>(i))) << "object " << i;
  }
  for (int i = 0; i < count; i += 7) {
    ferry::ArrayView<uint64_t> v = ferry::GetView(refs[i]);
    ASSERT_EQ(v.size(), n);
    EXPECT_EQ(v[n - 1], Fill(n, static_cast<uint64_t>(i))[n - 1]);
  }
  // The driver's own store spilled some of its Puts, and says so per object.
  size_t spilled_here = 0;
  for (const auto& o : ferry::internal::ListLocalObjects()) {
    if (o.state == "spilled") {
      spilled_here++;
      EXPECT_EQ(o.size, 4u << 20);
      EXPECT_TRUE(o.stored && o.primary && o.owned);
    }
  }
  EXPECT_GT(spilled_here, 0u);
  auto probes = Probes();
  uint64_t spilled = 0;
  for (auto& s : AllStats(probes)) {
    EXPECT_LE(s[2], kStore) << "a rank's arena grew past its capacity";
    spilled += s[5];
  }
  EXPECT_GT(spilled, 0u) << "3x the store fit without spilling?";
  for (auto& p : probes) p.Kill();
}

TEST(Objects, AHundredThousandObjectsCreatedAndDroppedLeaveNoTrace) {
  auto probes = Probes();
  auto base = AllStats(probes);
  for (int round = 0; round < 100; ++round) {
    std::vector<ferry::ObjectRef<std::vector<uint64_t>>> refs;
    for (int i = 0; i < 1000; ++i) {
      // Small ones live with their owner; every 50th is large and goes to a store.
      uint64_t n = i % 50 == 0 ? 20000 : 4;
      refs.push_back(i % 2 ? ferry::Put(Fill(n, static_cast<uint64_t>(i)))
                           : ferry::Task(Fill).Remote(n, static_cast<uint64_t>(i)));
    }
    ferry::Wait(refs, static_cast<int>(refs.size()), -1);
  }
  // Every reference is gone: each rank's store returns to where it started.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<std::vector<uint64_t>> now;
  do {
    now = AllStats(probes);
    bool back = true;
    for (size_t r = 0; r < now.size(); ++r)
      back &= now[r][0] == base[r][0] && now[r][1] == base[r][1] && now[r][2] == base[r][2];
    if (back) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  for (size_t r = 0; r < now.size(); ++r) {
    EXPECT_EQ(now[r][0], base[r][0]) << "objects left on rank " << r;
    EXPECT_EQ(now[r][1], base[r][1]) << "bytes left on rank " << r;
    EXPECT_EQ(now[r][2], base[r][2]) << "arena bytes left on rank " << r;
  }
  for (auto& p : probes) p.Kill();
}

// Objects this process owns, pending or not.
size_t Owned() { return ferry::internal::GetLocalStats().owned_objects; }

bool OwnedBackTo(size_t base) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Owned() != base && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return Owned() == base;
}

TEST(Objects, RefsInsideAPutLiveAsLongAsThePut) {
  const size_t base = Owned();
  const uint64_t n = 100000;  // 800 KB: stored, not inline
  ferry::ObjectRef<Refs> holder;
  {
    Refs inner = {ferry::Put(Fill(n, 1)), ferry::Task(Fill).Remote(n, 2)};
    holder = ferry::Put(inner);
  }  // the driver's own handles on the inner objects are gone
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(*ferry::Task(SumNested).Remote(holder).Get(), SumOf(n, 1) + SumOf(n, 2));
  holder = ferry::ObjectRef<Refs>();
  EXPECT_TRUE(OwnedBackTo(base)) << Owned() << " objects still owned, " << base << " before";
}

TEST(Objects, BorrowersKeepRefsAliveAfterTheOwnerDropsThem) {
  const size_t base = Owned();
  const uint64_t n = 100000;
  // A keeper on another rank than the driver's (when there is one): a real borrower.
  std::vector<ferry::ActorHandle<Keeper>> keepers;
  for (size_t i = 0; i < Ranks(); ++i)
    keepers.push_back(ferry::Actor(Keeper::Create).SetResource("CPU", 0).Remote());
  ferry::ActorHandle<Keeper> keeper = keepers[0];
  for (auto& k : keepers)
    if (*k.Task(&Keeper::Pid).Remote().Get() != getpid()) keeper = k;
  for (auto& k : keepers)
    if (!(k == keeper)) k.Kill();
  {
    Refs refs = {ferry::Put(Fill(n, 3)), ferry::Task(Fill).Remote(n, 4)};
    EXPECT_EQ(*keeper.Task(&Keeper::Keep).Remote(refs).Get(), 2);
    // Borrowed refs passed on by a task that returns at once.
    EXPECT_EQ(*ferry::Task(Relay).Remote(refs).Get(), SumOf(n, 3) + SumOf(n, 4));
  }
  // The driver holds nothing now; the keeper still reads both objects.
  EXPECT_EQ(*keeper.Task(&Keeper::Sum).Remote().Get(), SumOf(n, 3) + SumOf(n, 4));
  keeper.Kill();
  EXPECT_TRUE(OwnedBackTo(base)) << Owned() << " objects still owned, " << base << " before";
}

TEST(Objects, RefsInAFactorysArgumentsLiveWithTheActor) {
  const size_t base = Owned();
  const uint64_t n = 100000;
  ferry::ActorHandle<Keeper> keeper;
  {
    Refs refs = {ferry::Put(Fill(n, 8)), ferry::Task(Fill).Remote(n, 9)};
    keeper = ferry::Actor(Keeper::With).SetResource("CPU", 0).SetMaxRestarts(1).Remote(refs);
  }
  EXPECT_EQ(*keeper.Task(&Keeper::Sum).Remote().Get(), SumOf(n, 8) + SumOf(n, 9));
  keeper.Kill(false);  // the factory runs again, with the same refs
  EXPECT_EQ(*keeper.Task(&Keeper::Sum).Remote().Get(), SumOf(n, 8) + SumOf(n, 9));
  keeper.Kill();
  EXPECT_TRUE(OwnedBackTo(base)) << Owned() << " objects still owned, " << base << " before";
}

TEST(Objects, RefsReturnedFromATaskOutliveIt) {
  const uint64_t n = 100000;
  for (int i = 0; i < 4; ++i) {
    Refs refs = *ferry::Task(MakeRefs).Remote(n).Get();  // the task's own handles are gone
    ASSERT_EQ(refs.size(), 2u);
    EXPECT_EQ(SumAll(refs), SumOf(n, 5) + SumOf(n, 6));
    ferry::ObjectRef<std::vector<uint64_t>> one = *ferry::Task(MakeRef).Remote(n).Get();
    EXPECT_EQ(*ferry::Task(Sum).Remote(one).Get(), SumOf(n, 7));
  }
}

TEST(Objects, ManyReadersOfOneObject) {
  const uint64_t n = (16ull << 20) / 8;
  auto big = ferry::Put(Fill(n, 99));
  std::vector<ferry::ObjectRef<uint64_t>> sums;
  for (int i = 0; i < 32; ++i) sums.push_back(ferry::Task(Sum).Remote(big));
  const uint64_t want = SumOf(n, 99);
  for (auto& s : ferry::Get(sums)) EXPECT_EQ(*s, want);
}

TEST(Objects, TooLargeForTheStoreIsRefusedWithTheSizes) {
  std::vector<uint8_t> huge(kStore + 4096, 1);
  try {
    ferry::Put(huge);
    FAIL() << "a Put larger than the store was accepted";
  } catch (const ferry::ObjectStoreFullError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(std::to_string(huge.size()) + " bytes"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(kStore)), std::string::npos) << what;
  }
  // A task whose result cannot fit fails with the same error, and the cluster goes on.
  EXPECT_THROW(ferry::Task(Huge).Remote(kStore + 4096).Get(), ferry::ObjectStoreFullError);
  EXPECT_EQ(*ferry::Task(Sum).Remote(std::vector<uint64_t>{1, 2, 3}).Get(), 6u);
}

}  // namespace
