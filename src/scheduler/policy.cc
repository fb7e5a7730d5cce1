#include "src/scheduler/policy.h"

#include <algorithm>
#include <limits>

namespace ferry::scheduler {
namespace {

// What the caller estimates `node` can take now of `name`: the smaller of what the node
// reported free and its total less reservations and the caller's own in-flight demand.
int64_t FreeUnits(const NodeView& node, ResourceId name) {
  const int64_t own = node.total.Units(name) - node.reserved.Units(name) - node.inflight.Units(name);
  return std::min(own, node.available.Units(name));
}


// Utilisation of the most used resource the demand names once the task is placed; resources
// the node has none of are skipped (the caller checked fit).
double Utilisation(const NodeView& node, const ResourceSet& demand) {
  double worst = 0;
  for (const auto& [name, need] : demand.items()) {
    const int64_t t = node.total.Units(name);
    if (t <= 0) continue;
    const double used = static_cast<double>(t - FreeUnits(node, name) + need);
    worst = std::max(worst, used / static_cast<double>(t));
  }
  return worst;
}

// Utilisation from the caller's own in-flight work alone, once the task is placed.
double OwnUtilisation(const NodeView& node, const ResourceSet& demand) {
  double worst = 0;
  for (const auto& [name, need] : demand.items()) {
    const int64_t t = node.total.Units(name);
    if (t <= 0) continue;
    const double used = static_cast<double>(node.inflight.Units(name) + need);
    worst = std::max(worst, used / static_cast<double>(t));
  }
  return worst;
}

// Load of a node with no room: how far past its capacity its queue reaches.
double Backlog(const NodeView& node, const ResourceSet& demand) {
  double load = Utilisation(node, demand);
  const int64_t cpus = node.total.Units(kCpu);
  if (cpus > 0)
    load += static_cast<double>(node.queued * ResourceSet::kScale) / static_cast<double>(cpus);
  return load;
}

bool Feasible(const NodeView& node, const ResourceSet& demand) {
  return Accepts(node) && node.total.Contains(demand);
}

std::string NoNodeReason(const ClusterView& view, const ResourceSet& demand) {
  size_t alive = 0;
  for (const NodeView& n : view.nodes) alive += Accepts(n);
  return "no live node (of " + std::to_string(alive) + ") has " + demand.ToString() +
         " in total";
}

// The default policy over feasible nodes; `spread` ranks by plain utilisation without the
// local preference (SPREAD).
Decision Hybrid(const ClusterView& view, const ResourceSet& demand,
                const std::vector<std::pair<NodeId, uint64_t>>& arg_bytes, NodeId local,
                uint64_t rotate, const PolicyOptions& options, bool spread) {
  const size_t n = view.nodes.size();
  if (n == 0) return {Placement::kInfeasible, NodeId(), "the cluster has no nodes"};

  // Locality first: the node with the most argument bytes, when it has room.
  if (!spread && !arg_bytes.empty()) {
    NodeId best;
    uint64_t most = 0;
    for (const auto& [node, bytes] : arg_bytes)
      if (bytes > most) {
        most = bytes;
        best = node;
      }
    for (const NodeView& node : view.nodes) {
      if (node.id != best || !Feasible(node, demand)) continue;
      if (FitsNow(node, demand)) return {Placement::kPlaced, node.id, ""};
    }
  }

  const NodeView* pick = nullptr;
  double pick_score = std::numeric_limits<double>::infinity();
  bool pick_local = false;
  const NodeView* least = nullptr;
  double least_load = std::numeric_limits<double>::infinity();
  bool least_local = false;
  for (size_t k = 0; k < n; ++k) {
    const NodeView& node = view.nodes[(k + rotate) % n];
    if (!Feasible(node, demand)) continue;
    const bool is_local = !spread && node.id == local;
    if (FitsNow(node, demand)) {
      // SPREAD ranks by the caller's own work there, so that a burst spreads evenly even
      // while the nodes' reports lag behind.
      double score = spread ? OwnUtilisation(node, demand) : Utilisation(node, demand);
      if (!spread && score <= options.spread_threshold + 1e-9) score = 0;
      // Strictly better, or as good and local.
      if (score < pick_score - 1e-9 || (is_local && !pick_local && score <= pick_score + 1e-9)) {
        pick = &node;
        pick_score = score;
        pick_local = is_local;
      }
      continue;
    }
    if (pick != nullptr) continue;
    double load = Backlog(node, demand);
    if (load < least_load - 1e-9 || (is_local && !least_local && load <= least_load + 1e-9)) {
      least = &node;
      least_load = load;
      least_local = is_local;
    }
  }
  if (pick != nullptr) return {Placement::kPlaced, pick->id, ""};
  if (least != nullptr) return {Placement::kPlaced, least->id, ""};
  return {Placement::kInfeasible, NodeId(), NoNodeReason(view, demand)};
}

const NodeView* Find(const ClusterView& view, NodeId id) {
  for (const NodeView& n : view.nodes)
    if (n.id == id) return &n;
  return nullptr;
}

}  // namespace

bool FitsNow(const NodeView& node, const ResourceSet& demand) {
  for (const auto& [name, need] : demand.items())
    if (need > 0 && FreeUnits(node, name) < need) return false;
  return true;
}

ResourceSet FreeEstimate(const NodeView& node) {
  ResourceSet out;
  for (const auto& [name, units] : node.total.items()) out.SetUnits(name, FreeUnits(node, name));
  return out;
}

Decision PickNode(const ClusterView& view, const PlacementRequest& req, NodeId local,
                  uint64_t rotate, const PolicyOptions& options) {
  static const ResourceSet kNone;
  const ResourceSet& demand = req.demand != nullptr ? *req.demand : kNone;
  if (req.strategy == Strategy::kNodeAffinity) {
    const NodeView* node = Find(view, req.affinity_node);
    std::string why;
    if (node == nullptr) {
      why = req.affinity_node.ToString() + " is not a node of this cluster";
    } else if (!node->alive) {
      why = req.affinity_node.ToString() + " is dead";
    } else if (node->draining) {
      why = req.affinity_node.ToString() + " is leaving the cluster (draining)";
    } else if (!node->total.Contains(demand)) {
      why = req.affinity_node.ToString() + " has " + node->total.ToString() +
            " in total, short of " + node->total.Shortfall(demand);
    }
    if (why.empty()) {
      if (!req.soft || FitsNow(*node, demand)) return {Placement::kPlaced, node->id, ""};
    } else if (!req.soft) {
      return {Placement::kUnavailable, NodeId(), "hard node affinity: " + why};
    }
    return Hybrid(view, demand, req.arg_bytes, local, rotate, options, false);
  }
  return Hybrid(view, demand, req.arg_bytes, local, rotate, options,
                req.strategy == Strategy::kSpread);
}

Decision PickActorNode(const ClusterView& view, const PlacementRequest& req, uint64_t rotate) {
  static const ResourceSet kNone;
  const ResourceSet& demand = req.demand != nullptr ? *req.demand : kNone;
  auto room = [&demand](const NodeView& node) {
    ResourceSet left = node.total;
    left.Subtract(node.reserved);
    return Accepts(node) && left.Contains(demand);
  };
  if (req.strategy == Strategy::kNodeAffinity) {
    const NodeView* node = Find(view, req.affinity_node);
    if (node != nullptr && room(*node)) return {Placement::kPlaced, node->id, ""};
    if (!req.soft) {
      std::string why = node == nullptr   ? " is not a node of this cluster"
                        : !node->alive    ? " is dead"
                        : node->draining  ? " is leaving the cluster (draining)"
                                          : " has no " + demand.ToString() + " left unreserved";
      return {node != nullptr && Accepts(*node) && node->total.Contains(demand)
                  ? Placement::kInfeasible
                  : Placement::kUnavailable,
              NodeId(), "hard node affinity: " + req.affinity_node.ToString() + why};
    }
  }
  const size_t n = view.nodes.size();
  const NodeView* best = nullptr;
  for (size_t k = 0; k < n; ++k) {
    const NodeView& node = view.nodes[(k + rotate) % n];
    if (!room(node)) continue;
    if (best == nullptr || node.actors < best->actors) best = &node;
  }
  if (best == nullptr) {
    return {Placement::kInfeasible, NodeId(),
            "no live node has " + demand.ToString() + " not held by other actors or bundles"};
  }
  return {Placement::kPlaced, best->id, ""};
}

Decision PickSpillbackNode(const ClusterView& view, const ResourceSet& demand, NodeId self,
                           uint64_t rotate) {
  const size_t n = view.nodes.size();
  const NodeView* best = nullptr;
  double best_util = 0;
  for (size_t k = 0; k < n; ++k) {
    const NodeView& node = view.nodes[(k + rotate) % n];
    if (node.id == self || !Accepts(node) || !node.total.Contains(demand) || !FitsNow(node, demand))
      continue;
    double util = Utilisation(node, demand);
    if (best == nullptr || util < best_util - 1e-9) {
      best = &node;
      best_util = util;
    }
  }
  if (best == nullptr) return {Placement::kInfeasible, NodeId(), "no other node has room"};
  return {Placement::kPlaced, best->id, ""};
}

std::string GroupResourceName(std::string_view name, const PlacementGroupId& pg, int index) {
  std::string out(name);
  out += "_group_";
  if (index >= 0) out += std::to_string(index) + "_";
  out += pg.ToString();
  return out;
}

ResourceSet GroupDemand(const ResourceSet& demand, const PlacementGroupId& pg, int index) {
  ResourceSet out;
  for (const auto& [id, units] : demand.items())
    out.SetUnits(GroupResourceName(ResourceName(id), pg, index), units);
  out.SetUnits(GroupResourceName("bundle", pg, index), ResourceSet::kScale / 1000);
  return out;
}

ResourceSet BundleCapacity(const ResourceSet& bundle, const PlacementGroupId& pg, int index) {
  ResourceSet out;
  for (const auto& [id, units] : bundle.items()) {
    out.SetUnits(GroupResourceName(ResourceName(id), pg, index), units);
    out.SetUnits(GroupResourceName(ResourceName(id), pg, -1), units);
  }
  out.SetUnits(GroupResourceName("bundle", pg, index), 1000 * ResourceSet::kScale);
  out.SetUnits(GroupResourceName("bundle", pg, -1), 1000 * ResourceSet::kScale);
  return out;
}

namespace {

// Places `bundles` against `capacity` (per node, in view order); empty on failure.
std::vector<size_t> TryBundles(const ClusterView& view, std::vector<ResourceSet> capacity,
                               const std::vector<ResourceSet>& bundles, BundleStrategy strategy,
                               uint64_t rotate) {
  const size_t n = view.nodes.size();
  std::vector<size_t> order;
  for (size_t k = 0; k < n; ++k)
    if (Accepts(view.nodes[(k + rotate) % n])) order.push_back((k + rotate) % n);
  std::vector<size_t> out;
  if (strategy == BundleStrategy::kStrictPack || strategy == BundleStrategy::kPack) {
    ResourceSet sum;
    for (const ResourceSet& b : bundles) sum.Add(b);
    for (size_t i : order)
      if (capacity[i].Contains(sum)) return std::vector<size_t>(bundles.size(), i);
    if (strategy == BundleStrategy::kStrictPack) return {};
  }
  std::vector<int> used(n, 0);
  for (const ResourceSet& b : bundles) {
    size_t best = n;
    for (size_t i : order) {
      if (!capacity[i].Contains(b)) continue;
      if (strategy == BundleStrategy::kStrictSpread && used[i] > 0) continue;
      if (best == n) {
        best = i;
        continue;
      }
      // PACK: prefer a node already used; SPREAD: prefer the least used.
      bool better = strategy == BundleStrategy::kPack ? used[i] > used[best] : used[i] < used[best];
      if (better) best = i;
    }
    if (best == n) return {};
    capacity[best].Subtract(b);
    used[best]++;
    out.push_back(best);
  }
  return out;
}

}  // namespace

BundleDecision PlaceBundles(const ClusterView& view, const std::vector<ResourceSet>& bundles,
                            BundleStrategy strategy, uint64_t rotate) {
  BundleDecision d;
  if (bundles.empty()) {
    d.infeasible = true;
    d.reason = "a placement group needs at least one bundle";
    return d;
  }
  std::vector<ResourceSet> now, idle;
  for (const NodeView& node : view.nodes) {
    // What is neither reserved nor (as the node last reported) busy.
    ResourceSet left;
    for (const auto& [name, units] : node.total.items())
      left.SetUnits(name, std::min(units - node.reserved.Units(name), node.available.Units(name)));
    now.push_back(std::move(left));
    idle.push_back(node.total);
  }
  std::vector<size_t> placed = TryBundles(view, now, bundles, strategy, rotate);
  if (!placed.empty()) {
    d.ok = true;
    for (size_t i : placed) d.nodes.push_back(view.nodes[i].id);
    return d;
  }
  if (TryBundles(view, idle, bundles, strategy, rotate).empty()) {
    d.infeasible = true;
    d.reason = "the live nodes could not hold these bundles even when idle";
  } else {
    d.reason = "not enough unreserved resources now";
  }
  return d;
}

}  // namespace ferry::scheduler
