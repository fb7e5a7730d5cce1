// How values become bytes: Boost.Serialization binary archives without header or tracking,
// except contiguous vectors of trivially copyable elements, which are written as their raw
// bytes (out of band: never through an archive). Thread-safe (pure functions).
#pragma once

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/iostreams/device/array.hpp>
#include <boost/iostreams/device/back_inserter.hpp>
#include <boost/iostreams/stream.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ferry/errors.h"
#include "ferry/internal/buffer.h"
#include "ferry/view.h"

namespace ferry::internal {

template <typename T>
struct IsRawVector : std::false_type {};
template <typename U, typename A>
struct IsRawVector<std::vector<U, A>>
    : std::bool_constant<std::is_trivially_copyable_v<U> && !std::is_same_v<U, bool>> {};

inline constexpr unsigned kArchiveFlags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

// Scalars (integers, floating point, enums) travel as their bytes: an archive would cost more
// than the value. Every rank runs the same binary on little-endian hosts, so both sides agree.
template <typename T>
inline constexpr bool kIsRawScalar = std::is_arithmetic_v<T> || std::is_enum_v<T>;

template <typename T>
Buffer Serialize(const T& value) {
  if constexpr (kIsRawScalar<T>) {
    return Buffer::CopyOf(&value, sizeof(T));
  } else if constexpr (IsArrayView<T>::value) {
    return value.bytes();  // the same bytes as the vector it views
  } else if constexpr (IsRawVector<T>::value) {
    return Buffer::CopyOf(value.data(), value.size() * sizeof(typename T::value_type));
  } else {
    std::string out;
    {
      boost::iostreams::back_insert_device<std::string> sink(out);
      boost::iostreams::stream<boost::iostreams::back_insert_device<std::string>> os(sink);
      boost::archive::binary_oarchive oa(os, kArchiveFlags);
      oa << value;
    }
    return Buffer::FromString(std::move(out));
  }
}

// Like Serialize, but a raw vector handed over by value becomes the buffer itself (no copy).
template <typename T>
Buffer SerializeMove(T&& value) {
  using V = std::decay_t<T>;
  if constexpr (IsRawVector<V>::value && !std::is_lvalue_reference_v<T>) {
    return Buffer::Adopt(std::move(value));
  } else {
    return Serialize<V>(value);
  }
}

// Throws ferry::Error if the bytes do not hold a T.
template <typename T>
std::shared_ptr<T> Deserialize(const Buffer& bytes) {
  if constexpr (IsArrayView<T>::value) {
    try {
      return std::make_shared<T>(bytes);  // in place: no copy
    } catch (const std::invalid_argument& e) {
      throw Error(e.what());
    }
  } else if constexpr (kIsRawScalar<T>) {
    if (bytes.size() != sizeof(T))
      throw Error("ferry: object of " + std::to_string(bytes.size()) + " bytes is not a " +
                  std::to_string(sizeof(T)) + "-byte scalar");
    auto v = std::make_shared<T>();
    std::memcpy(v.get(), bytes.data(), sizeof(T));
    return v;
  } else if constexpr (IsRawVector<T>::value) {
    using U = typename T::value_type;
    if (bytes.size() % sizeof(U) != 0)
      throw Error("ferry: object of " + std::to_string(bytes.size()) +
                  " bytes is not a vector of " + std::to_string(sizeof(U)) + "-byte elements");
    // One pass over fresh memory (no zero-fill before the copy). The bytes may not be
    // aligned for U, so copy through memcpy-compatible byte iterators only when they are.
    const size_t n = bytes.size() / sizeof(U);
    auto v = std::make_shared<T>();
    v->reserve(n);
    if (bytes.size() >= (size_t{1} << 20)) PrefaultForWrite(v->data(), bytes.size());
    if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(U) == 0) {
      const U* first = reinterpret_cast<const U*>(bytes.data());
      v->assign(first, first + n);
    } else {
      v->resize(n);
      if (n != 0) std::memcpy(v->data(), bytes.data(), bytes.size());
    }
    return v;
  } else {
    auto v = std::make_shared<T>();
    try {
      boost::iostreams::array_source src(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      boost::iostreams::stream<boost::iostreams::array_source> is(src);
      boost::archive::binary_iarchive ia(is, kArchiveFlags);
      ia >> *v;
    } catch (const boost::archive::archive_exception& e) {
      throw Error(std::string("ferry: cannot decode object (") + e.what() +
                  "): the value's type differs from the one it was stored with");
    } catch (const std::ios_base::failure& e) {
      throw Error(std::string("ferry: cannot decode object: ") + e.what());
    }
    return v;
  }
}

}  // namespace ferry::internal
