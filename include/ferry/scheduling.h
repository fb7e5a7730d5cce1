// Scheduling: strategies, placement groups and the cluster introspection API.
//
//   auto pg = ferry::CreatePlacementGroup({"sim", {{{"CPU", 1}}, {{"CPU", 1}}},
//                                          ferry::PlacementStrategy::STRICT_SPREAD});
//   if (!pg.Wait(30)) ...;                                    // reserved on two nodes
//   auto r = ferry::Task(Step).SetPlacementGroup(pg, 0).Remote(x);
//   ferry::RemovePlacementGroup(pg.GetID());
//
// Included by <ferry/ferry.h>.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/runtime_hooks.h"

namespace ferry {

/// How a task or actor without node affinity or placement group is placed.
enum class SchedulingStrategy {
  /// Pack onto the submitting node until it is half busy, then spread; prefer the node that
  /// holds most of the task's argument bytes.
  DEFAULT,
  /// Round-robin over the nodes with room, ignoring where the caller runs.
  SPREAD,
};

/// How the bundles of a placement group are laid out.
enum class PlacementStrategy {
  PACK,           // as few nodes as possible (best effort)
  SPREAD,         // as many nodes as possible (best effort)
  STRICT_PACK,    // all on one node, or wait
  STRICT_SPREAD,  // each on a different node, or wait
};

enum class PlacementGroupState { PENDING, CREATED, REMOVED };

struct PlacementGroupCreationOptions {
  std::string name;  // optional; unique among live groups
  std::vector<std::unordered_map<std::string, double>> bundles;
  PlacementStrategy strategy = PlacementStrategy::PACK;
};

/// A handle on a placement group. Copyable; a default-constructed one is empty.
class PlacementGroup {
 public:
  PlacementGroup() = default;
  PlacementGroup(PlacementGroupId id, PlacementGroupCreationOptions options)
      : id_(id), options_(std::move(options)) {}

  const PlacementGroupId& GetID() const { return id_; }
  const std::string& GetName() const { return options_.name; }
  const std::vector<std::unordered_map<std::string, double>>& GetBundles() const {
    return options_.bundles;
  }
  PlacementStrategy GetStrategy() const { return options_.strategy; }
  bool IsEmpty() const { return id_.IsNil(); }

  /// Asks the head for the group's current state (REMOVED for a group it no longer knows).
  PlacementGroupState GetState() const {
    return static_cast<PlacementGroupState>(internal::PlacementGroupStateOf(id_));
  }
  /// Waits until every bundle is reserved. Returns false if `timeout_seconds` passed first;
  /// throws TaskUnschedulableError if the group was removed (or never existed).
  bool Wait(double timeout_seconds) const {
    return internal::WaitPlacementGroup(id_, timeout_seconds);
  }

 private:
  PlacementGroupId id_;
  PlacementGroupCreationOptions options_;
};

/// Asks the head to reserve the bundles (two-phase, all or nothing). Returns at once; the
/// group stays PENDING until it fits. Throws std::invalid_argument for no bundles, an empty or
/// negative resource, or a name already in use.
PlacementGroup CreatePlacementGroup(const PlacementGroupCreationOptions& options);
/// Releases the reservation and kills the group's actors. Returns at once (the head removes
/// it before it handles any later request of this process). Removing twice is harmless.
void RemovePlacementGroup(const PlacementGroupId& id);
/// The live group of that name; an empty handle if there is none.
PlacementGroup GetPlacementGroup(const std::string& name);
PlacementGroup GetPlacementGroupById(const PlacementGroupId& id);
std::vector<PlacementGroup> GetAllPlacementGroups();

struct NodeInfo {
  NodeId id;
  bool alive = true;
  uint32_t rank = 0;
  std::string hostname;
  int pid = 0;  // of the node's process
  std::map<std::string, double> resources;  // what the node offers in total
};

/// The node the caller runs on (the driver's, or the node running the task or actor).
NodeId GetCurrentNodeId();
/// Every node of the cluster, as this process's view knows it (refreshed by the head's
/// broadcasts every resource_report_ms).
std::vector<NodeInfo> GetNodes();
/// Asks the head to drain `node`: nothing new is placed there, queued tasks go back to their
/// owners (no retry spent), running ones finish (for at most drain_grace_ms), the primary
/// copies of objects it holds move to their owners, and the node leaves the cluster (its
/// process exits 0). Returns at once; GetNodes() shows it dead once it left. Throws
/// ferry::Error for the head or a node that is not alive.
void DrainNode(const NodeId& node, const std::string& reason = "requested through DrainNode");
/// Sum of every live node's resources.
std::map<std::string, double> GetClusterResources();
/// Sum of what live nodes reported free (no fresher than resource_report_ms).
std::map<std::string, double> GetAvailableResources();
/// The CUDA device ordinals assigned to the calling task or actor (empty elsewhere): pass
/// them to cudaSetDevice.
std::vector<int> GetGpuIds();

namespace internal {

/// The placement setters shared by Task(...) and Actor(...) builders (CRTP: each returns the
/// builder). The builder copies `scheduling_` into its call options when it submits.
template <typename Derived>
class SchedulingSetters {
 public:
  /// SPREAD: round-robin over nodes with room instead of packing near the caller.
  Derived& SetSchedulingStrategy(SchedulingStrategy strategy) {
    scheduling_.strategy = strategy == SchedulingStrategy::SPREAD ? 1 : 0;
    return static_cast<Derived&>(*this);
  }
  /// Run on `node`. Hard (soft = false): only there; if that node is dead or too small, the
  /// result is a TaskUnschedulableError naming it. Soft: prefer it while it has room.
  Derived& SetNodeAffinity(NodeId node, bool soft = false) {
    if (node.IsNil()) throw std::invalid_argument("ferry: SetNodeAffinity: nil node id");
    scheduling_.strategy = 2;
    scheduling_.affinity_node = node;
    scheduling_.soft = soft;
    return static_cast<Derived&>(*this);
  }
  /// Run inside bundle `bundle_index` of `group` (-1: any of its bundles), on the resources
  /// the group reserved. Waits while the group is pending.
  Derived& SetPlacementGroup(const PlacementGroup& group, int bundle_index = -1) {
    if (group.IsEmpty()) throw std::invalid_argument("ferry: SetPlacementGroup: empty group");
    if (bundle_index < -1 || bundle_index >= static_cast<int>(group.GetBundles().size()))
      throw std::invalid_argument("ferry: SetPlacementGroup: bundle index " +
                                  std::to_string(bundle_index) + " out of range (the group has " +
                                  std::to_string(group.GetBundles().size()) + " bundles)");
    scheduling_.placement_group = group.GetID();
    scheduling_.bundle_index = bundle_index;
    return static_cast<Derived&>(*this);
  }

 protected:
  SchedulingOptions scheduling_;
};

}  // namespace internal

/// A task of this process that no node can run yet: it waits for a node that can.
struct InfeasibleTask {
  TaskId id;
  std::string name;
  std::map<std::string, double> resources;
  std::string reason;
};
std::vector<InfeasibleTask> GetInfeasibleTasks();

}  // namespace ferry
