// ObjectRef<T>: a reference to an immutable object in the cluster, produced by Task().Remote()
// or Put(). Copies are cheap and share one local handle; the object is freed when no reference
// is left. Serializable: a ref may travel inside task arguments and values.
// Thread-safe to copy and destroy from any thread.
#pragma once

#include <boost/serialization/split_member.hpp>
#include <cstdint>
#include <memory>

#include "ferry/ids.h"
#include "ferry/internal/runtime_hooks.h"
#include "ferry/internal/serialization.h"

namespace ferry {

template <typename T>
class ObjectRef;

template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref);
template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref, int64_t timeout_ms);

/// A future-like reference. Example:
///   ferry::ObjectRef<int> r = ferry::Task(Plus).Remote(1, 2);
///   int v = *r.Get();
template <typename T>
class ObjectRef {
 public:
  using ValueType = T;
  ObjectRef() = default;
  explicit ObjectRef(std::shared_ptr<internal::RefHandle> h) : h_(std::move(h)) {}

  /// The object's id. REQUIRES: a non-empty ref.
  const ObjectId& ID() const { return h_->id(); }
  bool IsNil() const { return h_ == nullptr; }
  /// Same as ferry::Get(*this).
  auto Get() const { return ferry::Get(*this); }
  auto Get(int64_t timeout_ms) const { return ferry::Get(*this, timeout_ms); }

  const std::shared_ptr<internal::RefHandle>& handle() const { return h_; }

  friend bool operator==(const ObjectRef& a, const ObjectRef& b) {
    if (a.h_ == nullptr || b.h_ == nullptr) return a.h_ == b.h_;
    return a.ID() == b.ID();
  }

  template <class Archive>
  void save(Archive& ar, unsigned /*version*/) const {
    bool nil = IsNil();
    ar& nil;
    if (!nil) {
      ObjectId id = ID();
      ar& id;
      if (internal::RefCapture* c = internal::RefCapture::Current()) c->Add(h_);
    }
  }
  template <class Archive>
  void load(Archive& ar, unsigned /*version*/) {
    bool nil = true;
    ar& nil;
    if (nil) {
      h_.reset();
      return;
    }
    ObjectId id;
    ar& id;
    h_ = internal::AdoptRef(id);
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  std::shared_ptr<internal::RefHandle> h_;
};

namespace internal {
template <typename T>
struct IsObjectRef : std::false_type {};
template <typename T>
struct IsObjectRef<ObjectRef<T>> : std::true_type {};
}  // namespace internal

}  // namespace ferry
