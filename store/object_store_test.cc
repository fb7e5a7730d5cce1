#include "store/object_store.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <string>

#include "src/transport/inproc/inproc_transport.h"

namespace ferry::store {
namespace {

Buffer Bytes(size_t n, uint8_t fill) {
  Buffer b = Buffer::Allocate(n);
  std::memset(b.mutable_data(), fill, n);
  return b;
}
ObjectId Id(uint64_t seq) { return ObjectId{TaskId{NodeId(0), seq}, 0}; }

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = transport::InprocTransport::Create({0});
    ASSERT_TRUE(t.ok());
    transport_ = std::move(t).value();
    spill_dir_ = ::testing::TempDir() + "ferry-store-test-" + std::to_string(getpid());
    auto s = ObjectStore::Create({NodeId(0), "ferry-store-test", kCapacity, spill_dir_},
                                 transport_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    rmdir(spill_dir_.c_str());  // empty once every object was freed
  }
  static constexpr uint64_t kCapacity = 1 << 20;
  std::string spill_dir_;
  std::unique_ptr<transport::InprocTransport> transport_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(ObjectStoreTest, SealedObjectsLiveInTheArenaAlignedAndReadable) {
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(1000, 7), true).ok());
  auto got = store_->Get(Id(1));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(store_->arena()->Contains(got->data()));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(got->data()) % 64, 0u);
  EXPECT_EQ(got->data()[999], 7);
  auto loc = store_->LocationOf(Id(1));
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->size, 1000u);
  EXPECT_EQ(loc->node, NodeId(0));
  // Sealing again keeps the first copy: objects are immutable.
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(1000, 9), true).ok());
  EXPECT_EQ(store_->Get(Id(1))->data()[0], 7);
}

TEST_F(ObjectStoreTest, AReaderPinsTheBlockPastErase) {
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(4096, 3), true).ok());
  Buffer reader = *store_->Get(Id(1));
  EXPECT_EQ(store_->stats().pinned_objects, 1u);
  store_->Erase(Id(1));
  EXPECT_EQ(store_->stats().objects, 0u);
  EXPECT_GE(store_->stats().arena_used, 4096u);  // still held by the reader
  EXPECT_EQ(reader.data()[4095], 3);
  reader = Buffer();
  EXPECT_EQ(store_->stats().arena_used, 0u);
}

TEST_F(ObjectStoreTest, FullArenaEvictsUnpinnedSecondaryCopiesOldestFirst) {
  const size_t chunk = kCapacity / 4;
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(chunk, 1), /*primary=*/true).ok());
  ASSERT_TRUE(store_->Seal(Id(2), Bytes(chunk, 2), /*primary=*/false).ok());
  ASSERT_TRUE(store_->Seal(Id(3), Bytes(chunk, 3), /*primary=*/false).ok());
  ASSERT_TRUE(store_->Seal(Id(4), Bytes(chunk, 4), /*primary=*/false).ok());
  Buffer pin = *store_->Get(Id(2));  // 2 is pinned; 3 is older than 4 otherwise
  (void)store_->Get(Id(4));
  ASSERT_TRUE(store_->Seal(Id(5), Bytes(chunk, 5), /*primary=*/true).ok());
  EXPECT_NE(store_->Find(Id(1)), nullptr) << "a primary copy was evicted";
  EXPECT_NE(store_->Find(Id(2)), nullptr) << "a pinned copy was evicted";
  EXPECT_EQ(store_->Find(Id(3)), nullptr) << "the least recently used copy stayed";
  EXPECT_NE(store_->Find(Id(4)), nullptr);
  EXPECT_TRUE(store_->arena()->Contains(store_->Find(Id(5))->data.data()));
  EXPECT_EQ(store_->stats().evicted_objects, 1u);
}

TEST_F(ObjectStoreTest, AnObjectLargerThanTheArenaIsRefusedWithTheSizes) {
  Status st = store_->Seal(Id(1), Bytes(kCapacity * 2, 8), true);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find(std::to_string(kCapacity * 2) + " bytes"), std::string::npos);
  EXPECT_NE(st.message().find(std::to_string(kCapacity)), std::string::npos);
  EXPECT_FALSE(store_->Allocate(kCapacity + 1).ok());
}

TEST_F(ObjectStoreTest, FullArenaSpillsPrimariesAndRestoresThemOnRead) {
  const size_t chunk = kCapacity / 4;
  // Three times the arena in primary copies: the older ones go to disk.
  for (uint64_t i = 1; i <= 12; ++i)
    ASSERT_TRUE(store_->Seal(Id(i), Bytes(chunk, static_cast<uint8_t>(i)), true).ok()) << i;
  StoreStats s = store_->stats();
  EXPECT_EQ(s.objects, 12u);
  EXPECT_GE(s.spilled_objects, 8u);
  EXPECT_LE(s.arena_used, kCapacity);
  EXPECT_EQ(s.heap_objects, 0u);
  // Every object reads back intact, restored (spilling others) when needed.
  for (uint64_t i = 1; i <= 12; ++i) {
    auto got = store_->Read(Id(i));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), chunk);
    EXPECT_EQ(got->data()[0], i);
    EXPECT_EQ(got->data()[chunk - 1], i);
  }
  EXPECT_GE(store_->stats().restore_count, 8u);
  // Freeing removes the files too.
  for (uint64_t i = 1; i <= 12; ++i) store_->Erase(Id(i));
  EXPECT_EQ(store_->stats().arena_used, 0u);
  EXPECT_EQ(store_->stats().spilled_objects, 0u);
}

TEST(ObjectStoreSpill, ASpillDirectoryThatCannotBeWrittenIsAClearError) {
  auto t = transport::InprocTransport::Create({0});
  ASSERT_TRUE(t.ok());
  auto s = ObjectStore::Create({NodeId(0), "ferry-store-test", 1 << 20, "/proc/ferry-no-spill"},
                               t->get());
  ASSERT_TRUE(s.ok());
  ObjectStore& store = **s;
  ASSERT_TRUE(store.Seal(Id(1), Bytes(1 << 19, 1), true).ok());
  ASSERT_TRUE(store.Seal(Id(2), Bytes(1 << 19, 2), true).ok());
  Status st = store.Seal(Id(3), Bytes(1 << 19, 3), true);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/proc/ferry-no-spill"), std::string::npos) << st.ToString();
  // Nothing already stored was lost.
  EXPECT_EQ(store.Get(Id(1))->data()[0], 1);
  EXPECT_EQ(store.Get(Id(2))->data()[0], 2);
}

TEST_F(ObjectStoreTest, PinnedObjectsAreNeverSpilled) {
  const size_t chunk = kCapacity / 2;
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(chunk, 1), true).ok());
  ASSERT_TRUE(store_->Seal(Id(2), Bytes(chunk, 2), true).ok());
  Buffer pin1 = *store_->Get(Id(1));
  Buffer pin2 = *store_->Get(Id(2));
  // No room and nothing unpinned: the new object waits on the heap instead of failing.
  ASSERT_TRUE(store_->Seal(Id(3), Bytes(chunk, 3), true).ok());
  EXPECT_EQ(store_->stats().spilled_objects, 0u);
  EXPECT_EQ(store_->stats().heap_objects, 1u);
  EXPECT_EQ(pin1.data()[0], 1);
  EXPECT_EQ(pin2.data()[0], 2);
}

TEST_F(ObjectStoreTest, AllocatedBlocksAreSealedInPlace) {
  Buffer block = *store_->Allocate(5000);
  std::memset(block.mutable_data(), 4, 5000);
  const uint8_t* where = block.data();
  ASSERT_TRUE(store_->Seal(Id(1), block, false).ok());
  EXPECT_EQ(store_->Get(Id(1))->data(), where);  // no copy
  Buffer copied = ObjectStore::CopyIntoArena(store_->arena(), Bytes(300, 6));
  EXPECT_TRUE(store_->arena()->Contains(copied.data()));
  EXPECT_EQ(copied.data()[299], 6);
}

}  // namespace
}  // namespace ferry::store
