// Buffer: an immutable byte range plus whatever keeps it alive (a heap block, a store object,
// a received message). Copies share the bytes. Thread-safe to share once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace ferry::internal {

// Faults in the pages of [p, p + n) for writing in one system call (where the kernel offers
// it), which is several times cheaper than taking one fault per page while filling them.
// Best effort: does nothing where unsupported.
void PrefaultForWrite(void* p, size_t n);

class Buffer {
 public:
  Buffer() = default;
  Buffer(std::shared_ptr<const void> keepalive, const uint8_t* data, size_t size)
      : keep_(std::move(keepalive)), data_(data), size_(size) {}

  // A new buffer of `size` uninitialised bytes that the caller fills through mutable_data()
  // before sharing it. Large buffers are mapped with their pages populated up front: taking
  // one page fault per 4 KiB page while filling costs several times more.
  static Buffer Allocate(size_t size);
  // Takes over a vector's storage: no copy.
  template <typename U>
  static Buffer Adopt(std::vector<U>&& v) {
    auto holder = std::make_shared<std::vector<U>>(std::move(v));
    const auto* p = reinterpret_cast<const uint8_t*>(holder->data());
    size_t n = holder->size() * sizeof(U);
    return Buffer(std::shared_ptr<const void>(holder, p), p, n);
  }
  static Buffer CopyOf(const void* data, size_t size) {
    Buffer b = Allocate(size);
    if (size != 0) std::memcpy(b.mutable_data(), data, size);
    return b;
  }
  static Buffer FromString(std::string s) {
    auto holder = std::make_shared<std::string>(std::move(s));
    const auto* p = reinterpret_cast<const uint8_t*>(holder->data());
    size_t n = holder->size();
    return Buffer(std::shared_ptr<const void>(holder, p), p, n);
  }

  const uint8_t* data() const { return data_; }
  // Only for the creator of a fresh buffer, before it is shared.
  uint8_t* mutable_data() { return const_cast<uint8_t*>(data_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Buffer Slice(size_t offset, size_t len) const { return Buffer(keep_, data_ + offset, len); }
  const std::shared_ptr<const void>& keepalive() const { return keep_; }

 private:
  std::shared_ptr<const void> keep_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ferry::internal
