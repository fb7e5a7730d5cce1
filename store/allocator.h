// ArenaAllocator: hands out 64-byte aligned ranges of a fixed-size arena by offset. Best fit
// over a free list kept by address (to coalesce neighbours on free) and by size (to find the
// smallest block that fits). It knows nothing of memory: the arena maps the offsets.
// Thread-compatible (the arena serializes access).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace ferry::store {

class ArenaAllocator {
 public:
  static constexpr uint64_t kAlignment = 64;

  explicit ArenaAllocator(uint64_t capacity);

  // The offset of a new range of at least `size` bytes (a multiple of kAlignment, at least one
  // unit), or nothing if no free block is large enough.
  std::optional<uint64_t> Allocate(uint64_t size);
  // REQUIRES: `offset` came from Allocate and was not freed since.
  void Free(uint64_t offset);

  uint64_t capacity() const { return capacity_; }
  uint64_t used() const { return used_; }
  size_t allocations() const { return allocated_.size(); }
  // The largest request that would succeed now.
  uint64_t largest_free() const;
  static uint64_t RoundUp(uint64_t size) {
    if (size == 0) size = 1;
    return (size + kAlignment - 1) / kAlignment * kAlignment;
  }

 private:
  void AddFree(uint64_t offset, uint64_t size);
  void RemoveFree(uint64_t offset, uint64_t size);

  const uint64_t capacity_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint64_t> free_by_offset_;          // offset -> size
  std::set<std::pair<uint64_t, uint64_t>> free_by_size_;  // (size, offset)
  std::map<uint64_t, uint64_t> allocated_;               // offset -> size
};

}  // namespace ferry::store
