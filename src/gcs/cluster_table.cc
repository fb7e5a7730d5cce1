#include "src/gcs/cluster_table.h"

#include "src/common/logging.h"

namespace ferry::gcs {

wire::NodeState ToState(const scheduler::NodeView& node) {
  wire::NodeState s;
  s.node = node.id;
  s.alive = node.alive;
  s.draining = node.draining;
  s.total = node.total;
  s.available = node.available;
  s.reserved = node.reserved;
  s.queued = node.queued;
  s.actors = node.actors;
  return s;
}

bool ApplyStates(scheduler::ClusterView& view, std::unordered_map<NodeId, size_t>& index,
                 const std::vector<wire::NodeState>& states) {
  bool freed = false;
  for (const wire::NodeState& s : states) {
    auto it = index.find(s.node);
    if (it == index.end()) {
      it = index.emplace(s.node, view.nodes.size()).first;
      view.nodes.emplace_back();
      view.nodes.back().id = s.node;
      freed = true;
    }
    scheduler::NodeView& n = view.nodes[it->second];
    if (!n.alive && s.alive) continue;  // the dead stay dead
    freed |= !n.available.Contains(s.available) || !n.total.Contains(s.total);
    n.alive = s.alive;
    n.draining = s.draining;
    n.total = s.total;
    n.available = s.available;
    n.reserved = s.reserved;
    n.queued = s.queued;
    n.actors = s.actors;
  }
  return freed;
}

ClusterTable::ClusterTable(EventLoop* loop, transport::Messenger* messenger,
                           std::chrono::milliseconds period)
    : loop_(loop), messenger_(messenger), period_(period) {}

void ClusterTable::AddNode(NodeId id, ResourceSet total) {
  if (index_.count(id) != 0) return;
  index_[id] = view_.nodes.size();
  scheduler::NodeView n;
  n.id = id;
  n.available = total;
  n.total = std::move(total);
  view_.nodes.push_back(std::move(n));
  Changed(id);
  Freed();
}

void ClusterTable::SendFullView(NodeId to) {
  std::vector<wire::NodeState> states;
  states.reserve(view_.nodes.size());
  for (const scheduler::NodeView& n : view_.nodes) states.push_back(ToState(n));
  messenger_->Send(to, static_cast<uint16_t>(wire::MsgType::kClusterView),
                   wire::EncodeNodeStates(states));
}

void ClusterTable::Start() {
  if (timer_ == 0) timer_ = loop_->AddTimer(period_, [this] { Flush(); });
}

void ClusterTable::Stop() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
}

scheduler::NodeView* ClusterTable::Find(NodeId id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &view_.nodes[it->second];
}

bool ClusterTable::Alive(NodeId id) {
  scheduler::NodeView* n = Find(id);
  return n != nullptr && n->alive;
}

void ClusterTable::Reserve(NodeId node, const ResourceSet& r, int actors) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr) return;
  n->reserved.Add(r);
  n->actors += actors;
  Changed(node);
}

void ClusterTable::Unreserve(NodeId node, const ResourceSet& r, int actors) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr) return;
  n->reserved.Subtract(r);
  n->actors = std::max(0, n->actors - actors);
  Changed(node);
  Freed();
}

void ClusterTable::MarkDead(NodeId node) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr || !n->alive) return;
  n->alive = false;
  Changed(node);
}

void ClusterTable::MarkDraining(NodeId node) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr || !n->alive || n->draining) return;
  n->draining = true;
  Changed(node);
}

void ClusterTable::AddCapacity(NodeId node, const ResourceSet& capacity) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr) return;
  n->total.Add(capacity);
  n->available.Add(capacity);
  Changed(node);
  Freed();
}

void ClusterTable::RemoveCapacity(NodeId node, const ResourceSet& capacity) {
  scheduler::NodeView* n = Find(node);
  if (n == nullptr) return;
  for (const auto& [name, units] : capacity.items()) {
    n->total.SetUnits(name, 0);
    n->available.SetUnits(name, 0);
    n->reserved.SetUnits(name, 0);
  }
  Changed(node);
}

void ClusterTable::HandleReport(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::NodeState> states;
  Status st = wire::DecodeNodeStates(msg, &states);
  if (st.ok() && (states.size() != 1 || states[0].node != from))
    st = DataLossError("a resource report carries exactly one entry, the sender's own");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ResourceReport from " << from << ": "
                                  << st.ToString();
    return;
  }
  scheduler::NodeView* n = Find(from);
  if (n == nullptr || !n->alive) return;
  const wire::NodeState& s = states[0];
  bool freed = !n->available.Contains(s.available) || !n->total.Contains(s.total);
  n->total = s.total;
  n->available = s.available;
  n->queued = s.queued;
  Changed(from);
  if (freed) Freed();
}

void ClusterTable::Freed() {
  if (freed_posted_) return;
  freed_posted_ = true;
  loop_->Post([this] {
    freed_posted_ = false;
    for (auto& fn : on_freed_) fn();
  });
}

void ClusterTable::Flush() {
  if (dirty_.empty()) return;
  std::vector<wire::NodeState> states;
  states.reserve(dirty_.size());
  for (NodeId id : dirty_)
    if (scheduler::NodeView* n = Find(id)) states.push_back(ToState(*n));
  dirty_.clear();
  const std::string bytes = wire::EncodeNodeStates(states);
  for (const scheduler::NodeView& n : view_.nodes)
    if (n.alive) messenger_->Send(n.id, static_cast<uint16_t>(wire::MsgType::kClusterView), bytes);
}

}  // namespace ferry::gcs
