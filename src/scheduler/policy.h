// Placement policy: pure functions over a ClusterView snapshot. No I/O, no clocks, no state:
// the caller (the owner) keeps the view and its own in-flight accounting.
// This is the simple CPU-slot policy: pack onto the local node while it has free CPUs, else
// the node with the most free CPUs, else the least loaded node that could ever run the task.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ferry/ids.h"

namespace ferry::scheduler {

struct NodeView {
  NodeId id;
  bool alive = true;
  double total_cpus = 0;
  // CPUs the owner believes are taken by its own tasks on that node.
  double used_cpus = 0;
  // CPUs held by live actors there (published by the GCS), unavailable to tasks.
  double reserved_cpus = 0;
  // Live actors hosted there (the GCS's own count, for actor placement).
  int actors = 0;
};

struct ClusterView {
  std::vector<NodeView> nodes;
};

struct PlacementRequest {
  double cpus = 1.0;
};

enum class Placement { kPlaced, kInfeasible };

struct Decision {
  Placement outcome = Placement::kInfeasible;
  NodeId node;
};

// Picks a node for `req`. `local` is the submitting node; `rotate` breaks ties between equally
// free nodes so that a burst of submissions spreads instead of piling on the first node.
Decision PickNode(const ClusterView& view, const PlacementRequest& req, NodeId local,
                  uint64_t rotate);

// Picks a node for an actor that holds `cpus` for its lifetime: among live nodes with that many
// CPUs not yet held by other actors, the one hosting the fewest actors, so that actors spread
// across ranks (zero-CPU actors too). Ties go to the first in `rotate` order.
Decision PickActorNode(const ClusterView& view, double cpus, uint64_t rotate);

}  // namespace ferry::scheduler
