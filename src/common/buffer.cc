#include "ferry/internal/buffer.h"

#include <sys/mman.h>

#include <new>

namespace ferry::internal {
namespace {

constexpr size_t kMapThreshold = size_t{1} << 20;

}  // namespace

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
