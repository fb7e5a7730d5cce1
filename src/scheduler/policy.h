// Placement policy: pure functions over a ClusterView snapshot. No I/O, no clocks, no state:
// callers (owners placing tasks, the GCS placing actors and bundles, raylets spilling work
// back) keep the view and their own in-flight accounting.
//
// Default policy (Ray's hybrid policy): among live nodes whose total can ever hold the demand,
// prefer the node holding the most bytes of the task's arguments when it has room; otherwise
// the nodes with room are ranked by the utilisation of their most used demanded resource once
// the task is placed, utilisations at or under `spread_threshold` counting as zero, ties going
// to the local node and then round-robin. So work packs onto the local node until it is half
// busy, then spreads. With no room anywhere the task queues at the least loaded node.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ferry/ids.h"
#include "src/common/resources.h"

namespace ferry::scheduler {

struct NodeView {
  NodeId id;
  bool alive = true;
  // Leaving gracefully: alive, finishing what it runs, but nothing new is placed there.
  bool draining = false;
  ResourceSet total;
  // Free as the node last reported it (tasks of every owner, actors, bundles taken out).
  ResourceSet available;
  // Taken by actors and placement-group bundles, as the GCS placed them (ahead of reports).
  ResourceSet reserved;
  // Tasks queued there waiting for resources, as last reported.
  int64_t queued = 0;
  // Owner-side: the demand of this process's own tasks sent there and not completed.
  ResourceSet inflight;
  // Live actors hosted there (the GCS's count, for actor placement).
  int actors = 0;
};

// Whether new work may be placed on `node`.
inline bool Accepts(const NodeView& node) { return node.alive && !node.draining; }

struct ClusterView {
  std::vector<NodeView> nodes;
};

enum class Strategy : uint8_t { kDefault = 0, kSpread = 1, kNodeAffinity = 2 };

struct PlacementRequest {
  const ResourceSet* demand = nullptr;
  Strategy strategy = Strategy::kDefault;
  NodeId affinity_node;  // kNodeAffinity
  bool soft = false;     // kNodeAffinity: fall back to the default policy
  // Bytes of the task's ObjectRef arguments held on each node, as far as the caller knows.
  std::vector<std::pair<NodeId, uint64_t>> arg_bytes;
};

struct PolicyOptions {
  double spread_threshold = 0.5;
};

enum class Placement {
  kPlaced,
  kInfeasible,   // no live node could ever hold the demand: keep it pending
  kUnavailable,  // hard node affinity to a node that is dead, unknown or too small
};

struct Decision {
  Placement outcome = Placement::kInfeasible;
  NodeId node;
  std::string reason;  // set when not placed
};

// What `node` can take now, as the caller estimates it: the smaller of what the node reported
// free and its total less reservations and the caller's own in-flight demand.
ResourceSet FreeEstimate(const NodeView& node);

// Picks a node for a task. `local` is the caller's node; `rotate` varies between calls and
// breaks ties round-robin.
Decision PickNode(const ClusterView& view, const PlacementRequest& req, NodeId local,
                  uint64_t rotate, const PolicyOptions& options = {});

// Picks a node for an actor that holds `*req.demand` for its lifetime: among live nodes whose
// total less `reserved` (other actors and bundles) holds the demand, the one hosting the
// fewest actors, so actors spread over ranks (zero-resource actors too). Node affinity works
// as for tasks; SPREAD is what actors do by default.
Decision PickActorNode(const ClusterView& view, const PlacementRequest& req, uint64_t rotate);

// Where a raylet with no room for a queued task may forward it: the least utilised live node
// other than `self` that has room for it now, or kInfeasible when none has.
Decision PickSpillbackNode(const ClusterView& view, const ResourceSet& demand, NodeId self,
                           uint64_t rotate);

// Whether `node` has room for `demand` now, as FreeEstimate sees it.
bool FitsNow(const NodeView& node, const ResourceSet& demand);

// Placement groups: one node per bundle, all or nothing, against what each node has neither
// reserved nor busy (total less `reserved`, capped by its reported `available`).
enum class BundleStrategy : uint8_t { kPack = 0, kSpread = 1, kStrictPack = 2, kStrictSpread = 3 };
struct BundleDecision {
  bool ok = false;
  bool infeasible = false;  // could never be placed on the current nodes, even when idle
  std::vector<NodeId> nodes;  // per bundle, when ok
  std::string reason;
};
BundleDecision PlaceBundles(const ClusterView& view, const std::vector<ResourceSet>& bundles,
                            BundleStrategy strategy, uint64_t rotate);

// A committed bundle turns its resources into the group's own: bundle `index` of `pg` adds
// "<name>_group_<index>_<pg>" and "<name>_group_<pg>" for each of its resources, plus a
// "bundle_group_..." marker of 1000 so that tasks asking for nothing still land in the group.
// Tasks and actors of the group ask for the renamed resources (index -1: any bundle).
std::string GroupResourceName(std::string_view name, const PlacementGroupId& pg, int index);
ResourceSet GroupDemand(const ResourceSet& demand, const PlacementGroupId& pg, int index);
ResourceSet BundleCapacity(const ResourceSet& bundle, const PlacementGroupId& pg, int index);

}  // namespace ferry::scheduler
