#include "store/allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace ferry::store {
namespace {

TEST(ArenaAllocator, AlignsEveryAllocation) {
  ArenaAllocator a(1 << 20);
  for (uint64_t size : {1, 63, 64, 65, 1000, 4096, 12345}) {
    auto off = a.Allocate(size);
    ASSERT_TRUE(off.has_value()) << size;
    EXPECT_EQ(*off % ArenaAllocator::kAlignment, 0u) << size;
  }
  EXPECT_EQ(a.used() % ArenaAllocator::kAlignment, 0u);
}

TEST(ArenaAllocator, ExhaustionFailsCleanlyAndFreeingRecovers) {
  ArenaAllocator a(64 * 10);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 10; ++i) offs.push_back(*a.Allocate(64));
  EXPECT_FALSE(a.Allocate(1).has_value());
  EXPECT_FALSE(a.Allocate(64 * 11).has_value());  // larger than the arena
  EXPECT_EQ(a.used(), a.capacity());
  a.Free(offs[3]);
  EXPECT_EQ(*a.Allocate(64), offs[3]);
}

TEST(ArenaAllocator, FreeingCoalescesNeighboursSoLargeBlocksFitAgain) {
  ArenaAllocator a(64 * 8);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 8; ++i) offs.push_back(*a.Allocate(64));
  // Free every other block: 4 free units, but no two adjacent.
  for (int i = 0; i < 8; i += 2) a.Free(offs[i]);
  EXPECT_EQ(a.largest_free(), 64u);
  EXPECT_FALSE(a.Allocate(128).has_value());  // fragmented
  for (int i = 1; i < 8; i += 2) a.Free(offs[i]);
  EXPECT_EQ(a.largest_free(), a.capacity());  // all merged back into one block
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(*a.Allocate(64 * 8), 0u);
}

TEST(ArenaAllocator, BestFitKeepsLargeBlocksForLargeRequests) {
  ArenaAllocator a(64 * 100);
  auto small_hole = *a.Allocate(64 * 2);
  auto keep1 = *a.Allocate(64);
  auto big_hole = *a.Allocate(64 * 50);
  auto keep2 = *a.Allocate(64);
  a.Free(small_hole);
  a.Free(big_hole);
  EXPECT_EQ(*a.Allocate(64), small_hole);  // the smallest block that fits
  EXPECT_EQ(*a.Allocate(64 * 50), big_hole);
  (void)keep1;
  (void)keep2;
}

TEST(ArenaAllocator, RandomWorkloadNeverOverlapsAndReturnsToEmpty) {
  const uint64_t cap = 1 << 22;
  ArenaAllocator a(cap);
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> live;  // offset, rounded size
  for (int step = 0; step < 20000; ++step) {
    if (!live.empty() && (rng() % 2 == 0 || live.size() > 200)) {
      size_t i = rng() % live.size();
      a.Free(live[i].first);
      live.erase(live.begin() + static_cast<long>(i));
      continue;
    }
    uint64_t size = 1 + rng() % 40000;
    auto off = a.Allocate(size);
    if (!off) continue;
    ASSERT_LE(*off + size, cap);
    live.emplace_back(*off, ArenaAllocator::RoundUp(size));
  }
  std::sort(live.begin(), live.end());
  for (size_t i = 1; i < live.size(); ++i)
    ASSERT_LE(live[i - 1].first + live[i - 1].second, live[i].first) << "overlapping blocks";
  for (auto& [off, size] : live) a.Free(off);
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.largest_free(), a.capacity());
}

}  // namespace
}  // namespace ferry::store
