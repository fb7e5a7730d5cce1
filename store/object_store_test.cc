#include "store/object_store.h"

#include <gtest/gtest.h>

#include <cstring>

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
    auto s = ObjectStore::Create({NodeId(0), "ferry-store-test", kCapacity}, transport_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  static constexpr uint64_t kCapacity = 1 << 20;
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

TEST_F(ObjectStoreTest, ObjectsThatDoNotFitStayOnTheHeapRegistered) {
  ASSERT_TRUE(store_->Seal(Id(1), Bytes(kCapacity * 2, 8), true).ok());
  const StoredObject* obj = store_->Find(Id(1));
  ASSERT_NE(obj, nullptr);
  EXPECT_FALSE(store_->arena()->Contains(obj->data.data()));
  EXPECT_NE(obj->registration, nullptr);
  EXPECT_EQ(store_->stats().heap_objects, 1u);
  auto loc = store_->LocationOf(Id(1));
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->address, obj->registration->address());
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
