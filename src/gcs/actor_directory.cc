#include "src/gcs/actor_directory.h"

#include <algorithm>

#include "src/common/logging.h"
#include "src/gcs/cluster_table.h"

namespace ferry::gcs {
namespace {

constexpr uint16_t Type(wire::MsgType t) { return static_cast<uint16_t>(t); }

}  // namespace

ActorDirectory::ActorDirectory(EventLoop* loop, transport::Messenger* messenger,
                               ClusterTable* cluster)
    : loop_(loop), messenger_(messenger), cluster_(cluster) {}

size_t ActorDirectory::live_actors() const {
  return std::count_if(actors_.begin(), actors_.end(), [](const auto& kv) {
    return kv.second.state != wire::ActorState::kDead;
  });
}

bool ActorDirectory::Decode(NodeId from, const internal::Buffer& msg, wire::ActorEvent* ev,
                            const char* what) {
  if (Status st = wire::DecodeActorEvent(msg, ev); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed " << what << " message from " << from
                                  << ": " << st.ToString();
    return false;
  }
  return true;
}

void ActorDirectory::HandleRegister(NodeId from, const internal::Buffer& msg) {
  std::vector<wire::TaskSpec> specs;
  Status st = wire::DecodeTaskSpecs(msg, &specs);
  if (st.ok() && (specs.size() != 1 || specs[0].kind != wire::TaskKind::kActorCreation))
    st = DataLossError("an actor registration carries exactly one actor creation spec");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ActorRegister message from " << from
                                  << ": " << st.ToString();
    return;
  }
  wire::TaskSpec& spec = specs[0];
  const ActorId id = spec.actor;
  const wire::ActorOptions& o = *spec.actor_options;
  wire::ActorEvent reply;
  reply.request_id = o.request_id;
  reply.actor = id;
  if (actors_.count(id) != 0) {
    reply.message = id.ToString() + " is already registered";
    Reply(from, std::move(reply));
    return;
  }
  if (!o.name.empty()) {
    auto it = names_.find(NameKey(o.ns, o.name));
    if (it != names_.end()) {
      reply.message = "an actor named '" + o.name + "'" +
                      (o.ns.empty() ? "" : " in namespace '" + o.ns + "'") + " already exists (" +
                      it->second.ToString() + "); names are unique while their actor lives";
      Reply(from, std::move(reply));
      return;
    }
    names_[NameKey(o.ns, o.name)] = id;
  }
  Entry& e = actors_[id];
  e.demand = ResourceSet::FromPairs(spec.resources);
  e.subscribers.insert(from);
  e.spec = std::move(spec);
  if (reply.request_id != 0) {
    reply.flag = true;
    reply.state = e.state;
    Reply(from, std::move(reply));
  }
  Schedule(id);
}

namespace {
scheduler::PlacementRequest RequestFor(const wire::TaskSpec& spec, const ResourceSet& demand) {
  scheduler::PlacementRequest req{&demand};
  req.strategy = static_cast<scheduler::Strategy>(spec.strategy);
  req.affinity_node = spec.affinity_node;
  req.soft = spec.affinity_soft;
  return req;
}
}  // namespace

void ActorDirectory::Schedule(const ActorId& id) {
  Entry& e = actors_.at(id);
  scheduler::Decision d =
      scheduler::PickActorNode(cluster_->view(), RequestFor(e.spec, e.demand), rotate_++);
  if (d.outcome == scheduler::Placement::kUnavailable) {
    MarkDead(id, "it cannot be placed: " + d.reason);
    return;
  }
  if (d.outcome == scheduler::Placement::kInfeasible) {
    if (std::find(pending_.begin(), pending_.end(), id) == pending_.end()) {
      pending_.push_back(id);
      FERRY_LOG(WARNING) << id << " (" << e.spec.function << ") needs " << e.demand.ToString()
                         << " for its lifetime: " << d.reason
                         << "; it stays pending until a node has room";
    }
    return;
  }
  e.node = d.node;
  cluster_->Reserve(d.node, e.demand, 1);
  e.spec.actor_options->incarnation = e.incarnation;
  messenger_->Send(d.node, Type(wire::MsgType::kActorCreate), wire::EncodeTaskSpecs({e.spec}));
}

void ActorDirectory::TryPending() {
  std::deque<ActorId> waiting;
  waiting.swap(pending_);
  for (const ActorId& id : waiting) {
    auto it = actors_.find(id);
    if (it == actors_.end() || it->second.state == wire::ActorState::kDead ||
        !it->second.node.IsNil())
      continue;
    scheduler::Decision d = scheduler::PickActorNode(
        cluster_->view(), RequestFor(it->second.spec, it->second.demand), rotate_);
    if (d.outcome == scheduler::Placement::kInfeasible) {
      pending_.push_back(id);  // still no room; no second warning
      continue;
    }
    Schedule(id);
  }
}

void ActorDirectory::Release(Entry& e) {
  if (e.node.IsNil()) return;
  cluster_->Unreserve(e.node, e.demand, 1);
  e.node = NodeId();
}

void ActorDirectory::KillGroup(const PlacementGroupId& pg, const std::string& why) {
  std::vector<ActorId> victims;
  for (const auto& [id, e] : actors_)
    if (e.spec.placement_group == pg && e.state != wire::ActorState::kDead) victims.push_back(id);
  for (const ActorId& id : victims) {
    Entry& e = actors_.at(id);
    if (!e.node.IsNil() && cluster_->Alive(e.node)) {
      wire::ActorEvent destroy;
      destroy.actor = id;
      destroy.incarnation = e.incarnation;
      destroy.message = why;
      messenger_->Send(e.node, Type(wire::MsgType::kActorDestroy), wire::EncodeActorEvent(destroy));
    }
    Lost(id, why, /*allow_restart=*/false);
  }
}

void ActorDirectory::HandleCreated(NodeId from, const internal::Buffer& msg) {
  wire::ActorEvent ev;
  if (!Decode(from, msg, &ev, "ActorCreated")) return;
  auto it = actors_.find(ev.actor);
  if (it == actors_.end()) return;
  Entry& e = it->second;
  const bool creating =
      e.state == wire::ActorState::kPending || e.state == wire::ActorState::kRestarting;
  if (!creating || e.node != from || ev.incarnation != e.incarnation) return;  // stale
  if (ev.flag) {
    e.state = wire::ActorState::kAlive;
    Publish(ev.actor);
    return;
  }
  Release(e);
  MarkDead(ev.actor, ev.message);
  TryPending();
}

void ActorDirectory::Lost(const ActorId& id, const std::string& why, bool allow_restart) {
  Entry& e = actors_.at(id);
  Release(e);
  std::erase(pending_, id);
  const int max = e.spec.actor_options->max_restarts;
  if (allow_restart && (max == -1 || e.restarts_used < max)) {
    e.restarts_used++;
    e.incarnation++;
    e.state = wire::ActorState::kRestarting;
    e.death = why;
    FERRY_LOG(INFO) << id << " restarts (" << e.restarts_used << " of "
                    << (max == -1 ? std::string("unlimited") : std::to_string(max))
                    << "): " << why;
    Publish(id);
    Schedule(id);
  } else {
    MarkDead(id, why);
  }
  TryPending();
}

void ActorDirectory::MarkDead(const ActorId& id, const std::string& why) {
  Entry& e = actors_.at(id);
  e.state = wire::ActorState::kDead;
  e.death = why;
  e.node = NodeId();
  const wire::ActorOptions& o = *e.spec.actor_options;
  if (!o.name.empty()) {
    auto it = names_.find(NameKey(o.ns, o.name));
    if (it != names_.end() && it->second == id) names_.erase(it);
  }
  e.spec.args.clear();  // never re-run: drop the factory's arguments
  Publish(id);
}

void ActorDirectory::HandleSubscribe(NodeId from, const internal::Buffer& msg) {
  wire::ActorEvent ev;
  if (!Decode(from, msg, &ev, "ActorSubscribe")) return;
  auto it = actors_.find(ev.actor);
  if (it == actors_.end()) {
    wire::ActorEvent dead;
    dead.actor = ev.actor;
    dead.state = wire::ActorState::kDead;
    dead.message = ev.actor.ToString() + " is unknown to the GCS (never created in this cluster)";
    messenger_->Send(from, Type(wire::MsgType::kActorUpdate), wire::EncodeActorEvent(dead));
    return;
  }
  it->second.subscribers.insert(from);
  messenger_->Send(from, Type(wire::MsgType::kActorUpdate),
                   wire::EncodeActorEvent(EventFor(ev.actor, it->second)));
}

void ActorDirectory::HandleKill(NodeId from, const internal::Buffer& msg) {
  wire::ActorEvent ev;
  if (!Decode(from, msg, &ev, "ActorKill")) return;
  const bool no_restart = ev.flag;
  auto it = actors_.find(ev.actor);
  if (it == actors_.end()) {
    wire::ActorEvent reply;
    reply.request_id = ev.request_id;
    reply.actor = ev.actor;
    reply.message = ev.actor.ToString() + " is unknown to the GCS";
    Reply(from, std::move(reply));
    return;
  }
  Entry& e = it->second;
  if (e.state != wire::ActorState::kDead) {
    const std::string why = no_restart ? "it was killed by Kill() from " + from.ToString()
                                       : "it was killed by Kill(false) from " + from.ToString() +
                                             " to be restarted";
    if (!e.node.IsNil()) {
      wire::ActorEvent destroy;
      destroy.actor = ev.actor;
      destroy.incarnation = e.incarnation;
      destroy.message = why;
      messenger_->Send(e.node, Type(wire::MsgType::kActorDestroy),
                       wire::EncodeActorEvent(destroy));
    }
    Lost(ev.actor, why, !no_restart);
  }
  wire::ActorEvent reply = EventFor(ev.actor, actors_.at(ev.actor));
  reply.request_id = ev.request_id;
  Reply(from, std::move(reply));
}

void ActorDirectory::HandleExited(NodeId from, const internal::Buffer& msg) {
  wire::ActorEvent ev;
  if (!Decode(from, msg, &ev, "ActorExited")) return;
  auto it = actors_.find(ev.actor);
  if (it == actors_.end()) return;
  Entry& e = it->second;
  if (e.state == wire::ActorState::kDead || e.node != from || e.incarnation != ev.incarnation)
    return;
  Release(e);
  MarkDead(ev.actor, "it exited by calling ExitActor()");
  TryPending();
}

void ActorDirectory::HandleLookup(NodeId from, const internal::Buffer& msg) {
  wire::ActorEvent ev;
  if (!Decode(from, msg, &ev, "ActorLookup")) return;
  auto it = names_.find(NameKey(ev.ns, ev.name));
  if (it == names_.end()) {
    wire::ActorEvent reply;
    reply.request_id = ev.request_id;
    reply.message = "no live actor is named '" + ev.name + "'";
    Reply(from, std::move(reply));
    return;
  }
  Entry& e = actors_.at(it->second);
  e.subscribers.insert(from);
  wire::ActorEvent reply = EventFor(it->second, e);
  reply.request_id = ev.request_id;
  Reply(from, std::move(reply));
}

void ActorDirectory::OnNodeDead(NodeId node) {
  std::vector<ActorId> hosted, orphaned;
  for (auto& [id, e] : actors_) {
    e.subscribers.erase(node);
    if (e.state == wire::ActorState::kDead) continue;
    if (e.node == node) {
      hosted.push_back(id);
    } else if (id.creator() == node && !e.spec.actor_options->detached) {
      orphaned.push_back(id);
    }
  }
  for (const ActorId& id : hosted) {
    if (id.creator() == node && !actors_.at(id).spec.actor_options->detached) {
      Lost(id, "its creator and host " + node.ToString() + " died", false);
    } else {
      Lost(id, "its node " + node.ToString() + " died", true);
    }
  }
  for (const ActorId& id : orphaned) {
    Entry& e = actors_.at(id);
    if (!e.node.IsNil()) {
      wire::ActorEvent destroy;
      destroy.actor = id;
      destroy.incarnation = e.incarnation;
      destroy.message = "its creator " + node.ToString() + " died (the actor is not detached)";
      messenger_->Send(e.node, Type(wire::MsgType::kActorDestroy),
                       wire::EncodeActorEvent(destroy));
    }
    Lost(id, "its creator " + node.ToString() + " died (the actor is not detached)", false);
  }
}

wire::ActorEvent ActorDirectory::EventFor(const ActorId& id, const Entry& e) const {
  wire::ActorEvent ev;
  ev.actor = id;
  ev.state = e.state;
  ev.node = e.node;
  ev.incarnation = e.incarnation;
  ev.flag = true;
  ev.max_task_retries = e.spec.actor_options->max_task_retries;
  ev.name = e.spec.actor_options->name;
  ev.ns = e.spec.actor_options->ns;
  ev.class_name = e.spec.actor_options->class_name;
  ev.message = e.death;
  return ev;
}

void ActorDirectory::Publish(const ActorId& id) {
  const Entry& e = actors_.at(id);
  if (e.subscribers.empty()) return;
  std::string bytes = wire::EncodeActorEvent(EventFor(id, e));
  for (NodeId to : e.subscribers) messenger_->Send(to, Type(wire::MsgType::kActorUpdate), bytes);
}

void ActorDirectory::Reply(NodeId to, wire::ActorEvent ev) {
  messenger_->Send(to, Type(wire::MsgType::kActorReply), wire::EncodeActorEvent(ev));
}

}  // namespace ferry::gcs
