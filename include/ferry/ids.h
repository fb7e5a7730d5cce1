// Strong identifiers shared by the public API and the runtime: NodeId, TaskId, ObjectId, ActorId.
// ObjectIds are deterministic (owner node + task sequence + return index) so that lineage can
// rebuild the same id. Plain value types; thread-compatible.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace ferry {

/// Identifies a node (one rank process) of the cluster. Comparable, hashable, printable.
class NodeId {
 public:
  constexpr NodeId() = default;
  constexpr explicit NodeId(uint32_t v) : v_(v) {}
  static constexpr NodeId Nil() { return NodeId(); }
  constexpr bool IsNil() const { return v_ == kNil; }
  constexpr uint32_t value() const { return v_; }
  std::string ToString() const { return IsNil() ? "node-nil" : "node-" + std::to_string(v_); }
  friend constexpr auto operator<=>(const NodeId&, const NodeId&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& v_;
  }

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  uint32_t v_ = kNil;
};

/// Identifies one task: the owner that submitted it and the owner's sequence number.
struct TaskId {
  NodeId owner;
  uint64_t seq = 0;
  std::string ToString() const;
  friend constexpr auto operator<=>(const TaskId&, const TaskId&) = default;
};

/// Identifies one immutable object: the task (or Put) that made it and the return index.
struct ObjectId {
  TaskId task;
  uint32_t index = 0;
  NodeId owner() const { return task.owner; }
  std::string ToString() const;
  friend constexpr auto operator<=>(const ObjectId&, const ObjectId&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& task.owner;
    ar& task.seq;
    ar& index;
  }
};

/// Identifies one actor: the id of the task that created it (its creator and sequence number).
/// The same id survives restarts. Comparable, hashable, printable, serializable.
struct ActorId {
  TaskId task;
  bool IsNil() const { return task.owner.IsNil(); }
  NodeId creator() const { return task.owner; }
  std::string ToString() const {
    return "actor-" + std::to_string(task.owner.value()) + "-" + std::to_string(task.seq);
  }
  friend constexpr auto operator<=>(const ActorId&, const ActorId&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& task.owner;
    ar& task.seq;
  }
};

/// Identifies one placement group: its creator and the creator's sequence number.
/// Comparable, hashable, printable, serializable.
struct PlacementGroupId {
  TaskId task;
  bool IsNil() const { return task.owner.IsNil(); }
  std::string ToString() const {
    return "pg-" + std::to_string(task.owner.value()) + "-" + std::to_string(task.seq);
  }
  friend constexpr auto operator<=>(const PlacementGroupId&, const PlacementGroupId&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& task.owner;
    ar& task.seq;
  }
};

inline std::ostream& operator<<(std::ostream& os, const NodeId& id) { return os << id.ToString(); }
inline std::ostream& operator<<(std::ostream& os, const PlacementGroupId& id) {
  return os << id.ToString();
}
inline std::ostream& operator<<(std::ostream& os, const ActorId& id) {
  return os << id.ToString();
}
inline std::ostream& operator<<(std::ostream& os, const TaskId& id) { return os << id.ToString(); }
inline std::ostream& operator<<(std::ostream& os, const ObjectId& id) {
  return os << id.ToString();
}

inline std::string TaskId::ToString() const {
  return "task-" + std::to_string(owner.value()) + "-" + std::to_string(seq);
}
inline std::string ObjectId::ToString() const {
  return "obj-" + std::to_string(task.owner.value()) + "-" + std::to_string(task.seq) + "-" +
         std::to_string(index);
}

}  // namespace ferry

template <>
struct std::hash<ferry::NodeId> {
  size_t operator()(const ferry::NodeId& id) const noexcept {
    return std::hash<uint32_t>()(id.value());
  }
};
template <>
struct std::hash<ferry::TaskId> {
  size_t operator()(const ferry::TaskId& id) const noexcept {
    return std::hash<uint64_t>()(id.seq * 0x9E3779B97F4A7C15ull ^ id.owner.value());
  }
};
template <>
struct std::hash<ferry::ObjectId> {
  size_t operator()(const ferry::ObjectId& id) const noexcept {
    return std::hash<ferry::TaskId>()(id.task) * 31 + id.index;
  }
};
template <>
struct std::hash<ferry::ActorId> {
  size_t operator()(const ferry::ActorId& id) const noexcept {
    return std::hash<ferry::TaskId>()(id.task);
  }
};
template <>
struct std::hash<ferry::PlacementGroupId> {
  size_t operator()(const ferry::PlacementGroupId& id) const noexcept {
    return std::hash<ferry::TaskId>()(id.task) ^ 0x5bd1e995u;
  }
};
