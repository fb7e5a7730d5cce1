// Arena: this rank's object memory, one shared-memory segment (a memfd named
// "ferry-<session>-rank-<N>", so it can never outlive the process, even on SIGKILL) carved by
// an ArenaAllocator into 64-byte aligned blocks. A block is handed out as a Buffer; the range
// returns to the arena when the last Buffer sharing it is gone, so a reader holding bytes keeps
// them pinned without any bookkeeping of its own. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ferry/internal/buffer.h"
#include "src/common/status.h"
#include "store/allocator.h"

namespace ferry::store {

using internal::Buffer;

class Arena : public std::enable_shared_from_this<Arena> {
 public:
  // Maps `capacity` bytes (rounded down to the allocator's alignment) named `name`. The pages
  // are not touched: memory is used as objects fill it.
  static Result<std::shared_ptr<Arena>> Create(const std::string& name, uint64_t capacity);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A writable block of `size` bytes (the caller fills it before sharing it), or
  // ResourceExhausted naming the sizes when no free range is large enough.
  Result<Buffer> Allocate(uint64_t size);
  bool Contains(const void* p) const {
    auto* q = static_cast<const uint8_t*>(p);
    return q >= base_ && q < base_ + capacity_;
  }
  uint64_t OffsetOf(const void* p) const {
    return static_cast<uint64_t>(static_cast<const uint8_t*>(p) - base_);
  }
  uint8_t* base() const { return base_; }
  uint64_t capacity() const { return capacity_; }
  int fd() const { return fd_; }
  uint64_t used() const;
  uint64_t largest_free() const;

 private:
  Arena(int fd, uint8_t* base, uint64_t capacity);
  void Free(uint64_t offset);

  // Immutable after construction.
  const int fd_;  // -1 when the arena is an anonymous private mapping (no memfd here)
  uint8_t* const base_;
  const uint64_t capacity_;

  mutable std::mutex mu_;
  ArenaAllocator alloc_;  // Guarded by mu_.
};

}  // namespace ferry::store
