// ArrayView<T>: a read-only view of a stored array (an object made from a std::vector<T> of
// trivially copyable T), read in place: no copy, no decode. While any copy of the view lives,
// the object's bytes stay pinned in the store. Thread-safe to share.
//
//   auto ref = ferry::Put(std::vector<double>(1 << 27, 1.0));   // 1 GiB in the store
//   ferry::ArrayView<double> v = ferry::GetView(ref);            // no copy
//   double first = v[0];
//
// A task parameter may be an ArrayView<T>: pass it an ObjectRef<std::vector<T>> and the body
// reads the argument where the runtime put it (in the store of the rank running the task).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ferry/internal/buffer.h"

namespace ferry {

template <typename T>
class ArrayView {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool>,
                "ArrayView<T> needs a trivially copyable element type (not bool)");

 public:
  using value_type = T;
  ArrayView() = default;
  // Views `bytes` as an array of T; bytes that are not aligned for T are copied once.
  // Throws std::invalid_argument if their size is not a multiple of sizeof(T).
  explicit ArrayView(internal::Buffer bytes) {
    if (bytes.size() % sizeof(T) != 0)
      throw std::invalid_argument("ferry::ArrayView: object of " + std::to_string(bytes.size()) +
                                  " bytes is not an array of " + std::to_string(sizeof(T)) +
                                  "-byte elements");
    if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(T) != 0)
      bytes = internal::Buffer::CopyOf(bytes.data(), bytes.size());
    bytes_ = std::move(bytes);
  }

  const T* data() const { return reinterpret_cast<const T*>(bytes_.data()); }
  size_t size() const { return bytes_.size() / sizeof(T); }
  bool empty() const { return size() == 0; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  const T& operator[](size_t i) const { return data()[i]; }
  std::vector<T> ToVector() const { return std::vector<T>(begin(), end()); }
  const internal::Buffer& bytes() const { return bytes_; }

 private:
  internal::Buffer bytes_;
};

namespace internal {
template <typename T>
struct IsArrayView : std::false_type {};
template <typename T>
struct IsArrayView<ArrayView<T>> : std::true_type {};
}  // namespace internal

}  // namespace ferry
