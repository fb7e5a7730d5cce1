#include "store/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry::store {

Result<std::shared_ptr<Arena>> Arena::Create(const std::string& name, uint64_t capacity) {
  capacity = capacity / ArenaAllocator::kAlignment * ArenaAllocator::kAlignment;
  if (capacity == 0) return InvalidArgumentError("object store arena of 0 bytes");
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  void* p = MAP_FAILED;
  if (fd >= 0) {
    if (ftruncate(fd, static_cast<off_t>(capacity)) != 0) {
      int err = errno;
      close(fd);
      return ResourceExhaustedError("cannot size the object store segment '" + name + "' to " +
                                    std::to_string(capacity) + " bytes: " + std::strerror(err));
    }
    p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  } else {
    // No memfd (very old kernel, seccomp): private memory still works, minus same-node mapping.
    p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
  if (p == MAP_FAILED) {
    int err = errno;
    if (fd >= 0) close(fd);
    return ResourceExhaustedError("cannot map the object store segment '" + name + "' of " +
                                  std::to_string(capacity) + " bytes: " + std::strerror(err));
  }
  return std::shared_ptr<Arena>(new Arena(fd, static_cast<uint8_t*>(p), capacity));
}

Arena::Arena(int fd, uint8_t* base, uint64_t capacity)
    : fd_(fd), base_(base), capacity_(capacity), alloc_(capacity) {}

Arena::~Arena() {
  munmap(base_, capacity_);
  if (fd_ >= 0) close(fd_);
}

Result<Buffer> Arena::Allocate(uint64_t size) {
  std::optional<uint64_t> offset;
  uint64_t used = 0, largest = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    offset = alloc_.Allocate(size);
    if (!offset) {
      used = alloc_.used();
      largest = alloc_.largest_free();
    }
  }
  if (!offset)
    return ResourceExhaustedError("object store full: " + std::to_string(size) +
                                  " bytes requested, " + std::to_string(used) + " of " +
                                  std::to_string(capacity_) + " bytes in use, largest free block " +
                                  std::to_string(largest) + " bytes");
  uint8_t* data = base_ + *offset;
  // The block goes back when the last Buffer sharing this keepalive is dropped. The arena
  // lives at least as long as its blocks.
  std::shared_ptr<const void> keep(
      data, [self = shared_from_this(), off = *offset](const void*) { self->Free(off); });
  return Buffer(std::move(keep), data, size);
}

void Arena::Free(uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  alloc_.Free(offset);
}

uint64_t Arena::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alloc_.used();
}

uint64_t Arena::largest_free() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alloc_.largest_free();
}

}  // namespace ferry::store
