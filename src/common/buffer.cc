#include "ferry/internal/buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace ferry::internal {
namespace {

constexpr size_t kMapThreshold = size_t{1} << 20;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

}  // namespace

void PrefaultForWrite(void* p, size_t n) {
  const uintptr_t page = 4096;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

Buffer Buffer::Allocate(size_t size) {
  if (size >= kMapThreshold) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    std::shared_ptr<const void> mapping(
        p, [size](const void* q) { munmap(const_cast<void*>(q), size); });
    const auto* data = static_cast<const uint8_t*>(p);
    return Buffer(std::move(mapping), data, size);
  }
  std::shared_ptr<uint8_t[]> block(new uint8_t[size == 0 ? 1 : size]);
  const uint8_t* p = block.get();
  return Buffer(std::shared_ptr<const void>(block, p), p, size);
}

}  // namespace ferry::internal
