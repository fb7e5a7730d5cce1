// Binary codec for control messages: little-endian fixed-width integers, length-prefixed byte
// strings, all reads bounds-checked. A Reader never reads past its input: a truncated or
// malformed message yields a DataLoss status naming what was being read. Thread-compatible.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "ferry/internal/buffer.h"
#include "src/common/status.h"

namespace ferry::wire {

// Wire format version; the first byte of every message. Bump on any layout change.
inline constexpr uint8_t kWireVersion = 5;
// Upper bound of one length-prefixed field, as a sanity check against garbage lengths.
inline constexpr uint64_t kMaxFieldBytes = uint64_t{1} << 40;

class Writer {
 public:
  Writer() { out_.reserve(128); }
  template <typename T>
  requires std::is_integral_v<T> || std::is_enum_v<T> || std::is_floating_point_v<T>
  void Put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    out_.append(b, sizeof(T));
  }
  void PutBytes(const void* data, size_t n) {
    Put<uint64_t>(n);
    out_.append(static_cast<const char*>(data), n);
  }
  void PutString(std::string_view s) { PutBytes(s.data(), s.size()); }
  void PutRaw(const void* data, size_t n) { out_.append(static_cast<const char*>(data), n); }
  size_t size() const { return out_.size(); }
  std::string Finish() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  explicit Reader(const internal::Buffer& b) : Reader(b.data(), b.size()) {}

  template <typename T>
  requires std::is_integral_v<T> || std::is_enum_v<T> || std::is_floating_point_v<T> Status
  Get(T* v, const char* what) {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return Truncated(what);
    std::memcpy(v, p_, sizeof(T));
    p_ += sizeof(T);
    return Status::Ok();
  }
  // Points `*data` into the input (no copy).
  Status GetBytes(const uint8_t** data, size_t* n, const char* what) {
    uint64_t len = 0;
    FERRY_RETURN_IF_ERROR(Get(&len, what));
    if (len > kMaxFieldBytes || len > static_cast<uint64_t>(end_ - p_)) return Truncated(what);
    *data = p_;
    *n = len;
    p_ += len;
    return Status::Ok();
  }
  Status GetString(std::string* s, const char* what) {
    const uint8_t* d = nullptr;
    size_t n = 0;
    FERRY_RETURN_IF_ERROR(GetBytes(&d, &n, what));
    s->assign(reinterpret_cast<const char*>(d), n);
    return Status::Ok();
  }
  // A count of following elements, each at least `min_elem_bytes` long: rejects counts the
  // remaining input cannot hold, so garbage never drives a huge allocation.
  Status GetCount(uint32_t* n, size_t min_elem_bytes, const char* what) {
    FERRY_RETURN_IF_ERROR(Get(n, what));
    if (min_elem_bytes != 0 && *n > remaining() / min_elem_bytes) return Truncated(what);
    return Status::Ok();
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  size_t offset_from(const uint8_t* base) const { return static_cast<size_t>(p_ - base); }
  bool done() const { return p_ == end_; }

 private:
  static Status Truncated(const char* what) {
    return DataLossError(std::string("malformed message: truncated or oversized field '") + what +
                         "'");
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace ferry::wire
