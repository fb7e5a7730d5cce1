#include "src/scheduler/policy.h"

namespace ferry::scheduler {

Decision PickNode(const ClusterView& view, const PlacementRequest& req, NodeId local,
                  uint64_t rotate) {
  const size_t n = view.nodes.size();
  const NodeView* best_free = nullptr;
  double best_free_cpus = -1;
  const NodeView* least_loaded = nullptr;
  double least_load = 0;
  for (size_t k = 0; k < n; ++k) {
    const NodeView& node = view.nodes[(k + rotate) % n];
    if (!node.alive || node.total_cpus < req.cpus || node.total_cpus <= 0) {
      // Zero-CPU tasks may still go to a node without CPUs.
      if (!(node.alive && req.cpus == 0)) continue;
    }
    double free = node.total_cpus - node.reserved_cpus - node.used_cpus;
    if (node.id == local && free >= req.cpus && (req.cpus > 0 || free > 0))
      return {Placement::kPlaced, node.id};
    if (free >= req.cpus && free > best_free_cpus) {
      best_free = &node;
      best_free_cpus = free;
    }
    double busy = node.used_cpus + node.reserved_cpus;
    double load = node.total_cpus > 0 ? busy / node.total_cpus : busy;
    if (least_loaded == nullptr || load < least_load) {
      least_loaded = &node;
      least_load = load;
    }
  }
  if (best_free != nullptr) return {Placement::kPlaced, best_free->id};
  if (least_loaded != nullptr) return {Placement::kPlaced, least_loaded->id};
  return {Placement::kInfeasible, NodeId()};
}

Decision PickActorNode(const ClusterView& view, double cpus, uint64_t rotate) {
  const size_t n = view.nodes.size();
  const NodeView* best = nullptr;
  for (size_t k = 0; k < n; ++k) {
    const NodeView& node = view.nodes[(k + rotate) % n];
    if (!node.alive) continue;
    if (node.total_cpus - node.reserved_cpus < cpus - 1e-9) continue;
    if (best == nullptr || node.actors < best->actors) best = &node;
  }
  if (best == nullptr) return {Placement::kInfeasible, NodeId()};
  return {Placement::kPlaced, best->id};
}

}  // namespace ferry::scheduler
