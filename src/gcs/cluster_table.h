// ClusterTable: the GCS's view of every node. Totals and free resources come from each
// raylet's reports; what actors and placement-group bundles reserve comes from the GCS's own
// placements (ahead of the reports that will reflect them). Changed entries are broadcast to
// every live node at most once per period, so owners and raylets place work against a view
// that is at most a period or two old; nobody asks the head before placing a task.
// Confined to the event loop thread of the head.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
#include "src/scheduler/policy.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"

namespace ferry::gcs {

class ClusterTable {
 public:
  ClusterTable(EventLoop* loop, transport::Messenger* messenger,
               std::chrono::milliseconds period);

  // A node that joined (or one known at start): broadcast with the next changes, and what
  // waits for resources tries again.
  void AddNode(NodeId id, ResourceSet total);
  // Sends the whole view to `to` (a node that just joined knows nothing of the others' load).
  void SendFullView(NodeId to);
  void Start();
  void Stop();

  const scheduler::ClusterView& view() const { return view_; }
  scheduler::NodeView* Find(NodeId id);
  bool Alive(NodeId id);

  // Actors and bundles placed (or gone) there; `actors` counts hosted actors.
  void Reserve(NodeId node, const ResourceSet& r, int actors);
  void Unreserve(NodeId node, const ResourceSet& r, int actors);
  void MarkDead(NodeId node);
  // Nothing new is placed there any more (it is leaving).
  void MarkDraining(NodeId node);
  // A committed placement-group bundle adds the group's own resources to its node; removing
  // the group takes them away again.
  void AddCapacity(NodeId node, const ResourceSet& capacity);
  void RemoveCapacity(NodeId node, const ResourceSet& capacity);
  // A raylet's report of its totals, free resources and queue.
  void HandleReport(NodeId from, const internal::Buffer& msg);
  // `fn` runs (on the loop, after the change) whenever resources may have been freed, so that
  // pending actors and groups try again.
  void OnFreed(std::function<void()> fn) { on_freed_.push_back(std::move(fn)); }

 private:
  void Changed(NodeId node) { dirty_.insert(node); }
  void Freed();
  void Flush();

  EventLoop* const loop_;
  transport::Messenger* const messenger_;
  const std::chrono::milliseconds period_;
  scheduler::ClusterView view_;
  std::unordered_map<NodeId, size_t> index_;
  std::set<NodeId> dirty_;
  std::vector<std::function<void()>> on_freed_;
  bool freed_posted_ = false;
  uint64_t timer_ = 0;
};

// The entry of `node` as sent in kClusterView / kResourceReport.
wire::NodeState ToState(const scheduler::NodeView& node);
// Applies received entries to `view` (adding unknown nodes), keeping the owner's own in-flight
// demand. Returns whether a node gained free resources or came alive.
bool ApplyStates(scheduler::ClusterView& view, std::unordered_map<NodeId, size_t>& index,
                 const std::vector<wire::NodeState>& states);

}  // namespace ferry::gcs
