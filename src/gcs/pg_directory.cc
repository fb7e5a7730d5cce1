#include "src/gcs/pg_directory.h"

#include "src/common/logging.h"
#include "src/scheduler/policy.h"

namespace ferry::gcs {
namespace {

constexpr uint16_t Type(wire::MsgType t) { return static_cast<uint16_t>(t); }

bool DecodeEvents(NodeId from, const internal::Buffer& msg, std::vector<wire::PgEvent>* out,
                  const char* what) {
  Status st = wire::DecodePgEvents(msg, out);
  if (st.ok() && out->size() != 1) st = DataLossError("expected exactly one placement group");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed " << what << " message from " << from
                                  << ": " << st.ToString();
    return false;
  }
  return true;
}

const char* StrategyName(uint8_t s) {
  switch (s) {
    case 0:
      return "PACK";
    case 1:
      return "SPREAD";
    case 2:
      return "STRICT_PACK";
    default:
      return "STRICT_SPREAD";
  }
}

}  // namespace

PgDirectory::PgDirectory(EventLoop* loop, transport::Messenger* messenger, ClusterTable* cluster,
                         ActorDirectory* actors)
    : loop_(loop), messenger_(messenger), cluster_(cluster), actors_(actors) {}

void PgDirectory::Reply(NodeId to, uint64_t request_id, bool ok, const std::string& message,
                        std::vector<wire::PgEvent> groups) {
  // The first entry is the answer's header; the groups follow.
  wire::PgEvent header;
  header.request_id = request_id;
  header.flag = ok;
  header.message = message;
  groups.insert(groups.begin(), std::move(header));
  messenger_->Send(to, Type(wire::MsgType::kPgReply), wire::EncodePgEvents(groups));
}

void PgDirectory::HandleCreate(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::PgEvent> events;
  if (!DecodeEvents(from, msg, &events, "PgCreate")) return;
  wire::PgEvent& ev = events[0];
  std::string error;
  if (ev.pg.IsNil() || ev.pg.task.owner != from) {
    error = "a placement group id must be the creator's own";
  } else if (groups_.count(ev.pg) != 0) {
    error = ev.pg.ToString() + " exists already";
  } else if (ev.bundles.empty()) {
    error = "a placement group needs at least one bundle";
  } else if (!ev.name.empty() && names_.count(ev.name) != 0) {
    error = "a placement group named '" + ev.name + "' exists already (" +
            names_.at(ev.name).ToString() + "); names are unique among live groups";
  }
  for (size_t i = 0; error.empty() && i < ev.bundles.size(); ++i)
    if (ev.bundles[i].empty()) error = "bundle " + std::to_string(i) + " asks for nothing";
  if (!error.empty()) {
    Reply(from, ev.request_id, false, error, {});
    return;
  }
  Group& g = groups_[ev.pg];
  const uint64_t request_id = ev.request_id;
  g.info = std::move(ev);
  g.info.request_id = 0;
  g.info.state = wire::PgState::kPending;
  g.info.nodes.clear();
  g.info.indices.clear();
  if (!g.info.name.empty()) names_[g.info.name] = g.info.pg;
  Reply(from, request_id, true, "", {g.info});
  Schedule(g);
}

void PgDirectory::SendToNode(wire::MsgType type, const Group& g, NodeId node) {
  wire::PgEvent ev;
  ev.request_id = g.round;
  ev.pg = g.info.pg;
  for (size_t i = 0; i < g.info.nodes.size(); ++i) {
    if (g.info.nodes[i] != node) continue;
    ev.indices.push_back(static_cast<int32_t>(i));
    ev.bundles.push_back(g.info.bundles[i]);
  }
  messenger_->Send(node, Type(type), wire::EncodePgEvents({ev}));
}

void PgDirectory::Schedule(Group& g) {
  if (g.round != 0 || g.info.state != wire::PgState::kPending) return;
  scheduler::BundleDecision d = scheduler::PlaceBundles(
      cluster_->view(), g.info.bundles, static_cast<scheduler::BundleStrategy>(g.info.strategy),
      rotate_++);
  if (!d.ok) {
    if (d.infeasible && !g.warned) {
      g.warned = true;
      FERRY_LOG(WARNING) << g.info.pg << " (" << StrategyName(g.info.strategy) << ", "
                         << g.info.bundles.size() << " bundles): " << d.reason
                         << "; it stays pending until nodes that can hold it join";
    }
    return;
  }
  g.info.nodes = d.nodes;
  for (size_t i = 0; i < g.info.nodes.size(); ++i)
    cluster_->Reserve(g.info.nodes[i], g.info.bundles[i], 0);
  g.round = next_round_++;
  g.awaiting = std::set<NodeId>(g.info.nodes.begin(), g.info.nodes.end());
  g.prepared.clear();
  g.refused = false;
  for (NodeId node : g.awaiting) SendToNode(wire::MsgType::kPgPrepare, g, node);
}

void PgDirectory::HandlePrepared(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::PgEvent> events;
  if (!DecodeEvents(from, msg, &events, "PgPrepared")) return;
  const wire::PgEvent& ev = events[0];
  auto it = groups_.find(ev.pg);
  if (it == groups_.end() || it->second.round == 0 || it->second.round != ev.request_id ||
      it->second.awaiting.count(from) == 0) {
    // A stale round (the group was removed or re-placed meanwhile): undo what it reserved.
    if (ev.flag) {
      wire::PgEvent release;
      release.pg = ev.pg;
      messenger_->Send(from, Type(wire::MsgType::kPgRelease), wire::EncodePgEvents({release}));
    }
    return;
  }
  Group& g = it->second;
  g.awaiting.erase(from);
  if (ev.flag) {
    g.prepared.insert(from);
  } else {
    g.refused = true;
    FERRY_LOG(INFO) << g.info.pg << ": " << from << " refused its bundles (" << ev.message
                    << "); the group waits for resources to free up";
  }
  if (g.awaiting.empty()) FinishRound(g);
}

void PgDirectory::FinishRound(Group& g) {
  g.round = 0;
  if (g.refused) {
    for (NodeId node : g.prepared)
      if (cluster_->Alive(node)) SendToNode(wire::MsgType::kPgRelease, g, node);
    for (size_t i = 0; i < g.info.nodes.size(); ++i)
      cluster_->Unreserve(g.info.nodes[i], g.info.bundles[i], 0);
    g.info.nodes.clear();
    g.prepared.clear();
    // Not at once: the view that chose those nodes is stale until they report again.
    g.not_before = std::chrono::steady_clock::now() + kRetryDelay;
    return;
  }
  for (NodeId node : g.prepared) SendToNode(wire::MsgType::kPgCommit, g, node);
  for (size_t i = 0; i < g.info.nodes.size(); ++i)
    cluster_->AddCapacity(g.info.nodes[i], scheduler::BundleCapacity(
                                               g.info.bundles[i], g.info.pg, static_cast<int>(i)));
  g.prepared.clear();
  g.info.state = wire::PgState::kCreated;
  FERRY_LOG(INFO) << g.info.pg << " created (" << StrategyName(g.info.strategy) << ", "
                  << g.info.bundles.size() << " bundles)";
  Answer(g);
  actors_->TryPending();  // actors waiting for the group's resources
}

void PgDirectory::ReleaseAll(Group& g, bool committed) {
  std::set<NodeId> nodes(g.info.nodes.begin(), g.info.nodes.end());
  for (NodeId node : nodes)
    if (cluster_->Alive(node)) {
      wire::PgEvent release;
      release.pg = g.info.pg;
      messenger_->Send(node, Type(wire::MsgType::kPgRelease), wire::EncodePgEvents({release}));
    }
  for (size_t i = 0; i < g.info.nodes.size(); ++i) {
    if (committed)
      cluster_->RemoveCapacity(g.info.nodes[i], scheduler::BundleCapacity(g.info.bundles[i],
                                                                         g.info.pg, static_cast<int>(i)));
    cluster_->Unreserve(g.info.nodes[i], g.info.bundles[i], 0);
  }
  g.info.nodes.clear();
  g.round = 0;
  g.awaiting.clear();
  g.prepared.clear();
}

void PgDirectory::HandleRemove(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::PgEvent> events;
  if (!DecodeEvents(from, msg, &events, "PgRemove")) return;
  const wire::PgEvent& ev = events[0];
  auto it = groups_.find(ev.pg);
  if (it != groups_.end() && it->second.info.state != wire::PgState::kRemoved) {
    Group& g = it->second;
    const bool committed = g.info.state == wire::PgState::kCreated;
    ReleaseAll(g, committed);
    g.info.state = wire::PgState::kRemoved;
    if (!g.info.name.empty()) names_.erase(g.info.name);
    actors_->KillGroup(g.info.pg, "its placement group " + g.info.pg.ToString() + " was removed");
    Answer(g);
    FERRY_LOG(INFO) << g.info.pg << " removed";
    groups_.erase(it);  // queries about it now say "unknown or removed"
  }
  Reply(from, ev.request_id, true, "", {});
}

void PgDirectory::HandleQuery(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::PgEvent> events;
  if (!DecodeEvents(from, msg, &events, "PgQuery")) return;
  const wire::PgEvent& ev = events[0];
  Group* target = nullptr;
  if (!ev.pg.IsNil()) {
    auto it = groups_.find(ev.pg);
    if (it != groups_.end()) target = &it->second;
  } else if (!ev.name.empty()) {
    auto n = names_.find(ev.name);
    if (n != names_.end()) target = &groups_.at(n->second);
  } else {
    std::vector<wire::PgEvent> all;
    for (const auto& [id, g] : groups_)
      if (g.info.state != wire::PgState::kRemoved) all.push_back(g.info);
    Reply(from, ev.request_id, true, "", std::move(all));
    return;
  }
  if (target == nullptr) {
    Reply(from, ev.request_id, false,
          ev.pg.IsNil() ? "no live placement group is named '" + ev.name + "'"
                        : ev.pg.ToString() + " is unknown or was removed",
          {});
    return;
  }
  if (ev.flag && target->info.state == wire::PgState::kPending) {
    target->waiters.emplace_back(from, ev.request_id);
    return;
  }
  Reply(from, ev.request_id, true, "", {target->info});
}

void PgDirectory::Answer(Group& g) {
  for (const auto& [to, request_id] : g.waiters) Reply(to, request_id, true, "", {g.info});
  g.waiters.clear();
}

void PgDirectory::OnNodeDead(NodeId node) {
  for (auto& [id, g] : groups_) {
    std::erase_if(g.waiters, [&](const auto& w) { return w.first == node; });
    if (g.round != 0 && g.awaiting.count(node) != 0) {
      g.awaiting.erase(node);
      g.refused = true;
      if (g.awaiting.empty()) FinishRound(g);
      continue;
    }
    if (g.info.state != wire::PgState::kCreated) continue;
    bool hit = false;
    for (NodeId n : g.info.nodes) hit |= n == node;
    if (!hit) continue;
    // Its bundles are placed again, all of them, with the same strategy.
    FERRY_LOG(WARNING) << id << " lost a bundle with " << node << "; placing the group again";
    ReleaseAll(g, /*committed=*/true);
    g.info.state = wire::PgState::kPending;
  }
  TryPending();
}

void PgDirectory::TryPending() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, g] : groups_)
    if (g.info.state == wire::PgState::kPending && g.round == 0 && now >= g.not_before)
      Schedule(g);
}

void PgDirectory::Start() {
  if (timer_ == 0) timer_ = loop_->AddTimer(kRetryDelay, [this] { TryPending(); });
}

void PgDirectory::Stop() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
}

}  // namespace ferry::gcs
