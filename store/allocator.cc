#include "store/allocator.h"

#include <cstdio>
#include <cstdlib>

namespace ferry::store {

ArenaAllocator::ArenaAllocator(uint64_t capacity)
    : capacity_(capacity / kAlignment * kAlignment) {
  if (capacity_ > 0) AddFree(0, capacity_);
}

void ArenaAllocator::AddFree(uint64_t offset, uint64_t size) {
  free_by_offset_.emplace(offset, size);
  free_by_size_.emplace(size, offset);
}

void ArenaAllocator::RemoveFree(uint64_t offset, uint64_t size) {
  free_by_offset_.erase(offset);
  free_by_size_.erase({size, offset});
}

std::optional<uint64_t> ArenaAllocator::Allocate(uint64_t size) {
  if (size > capacity_) return std::nullopt;
  const uint64_t need = RoundUp(size);
  auto it = free_by_size_.lower_bound({need, 0});
  if (it == free_by_size_.end()) return std::nullopt;
  const auto [block_size, offset] = *it;
  RemoveFree(offset, block_size);
  if (block_size > need) AddFree(offset + need, block_size - need);
  allocated_.emplace(offset, need);
  used_ += need;
  return offset;
}

void ArenaAllocator::Free(uint64_t offset) {
  auto it = allocated_.find(offset);
  if (it == allocated_.end()) {
    // A double free would corrupt the free lists: stop here rather than hand memory out twice.
    std::fprintf(stderr, "ferry: arena free of offset %llu that is not allocated\n",
                 static_cast<unsigned long long>(offset));
    std::abort();
  }
  uint64_t size = it->second;
  allocated_.erase(it);
  used_ -= size;
  // Coalesce with the free neighbours on both sides.
  auto next = free_by_offset_.lower_bound(offset);
  if (next != free_by_offset_.end() && next->first == offset + size) {
    uint64_t next_size = next->second;
    RemoveFree(next->first, next_size);
    size += next_size;
  }
  auto prev = free_by_offset_.lower_bound(offset);
  if (prev != free_by_offset_.begin()) {
    --prev;
    if (prev->first + prev->second == offset) {
      uint64_t prev_offset = prev->first;
      uint64_t prev_size = prev->second;
      RemoveFree(prev_offset, prev_size);
      offset = prev_offset;
      size += prev_size;
    }
  }
  AddFree(offset, size);
}

uint64_t ArenaAllocator::largest_free() const {
  return free_by_size_.empty() ? 0 : free_by_size_.rbegin()->first;
}

}  // namespace ferry::store
