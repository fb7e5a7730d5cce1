#include "src/core/core_worker.h"

#include <algorithm>

#include "src/common/logging.h"
#include "src/gcs/cluster_table.h"

namespace ferry::core {

CoreWorker::CoreWorker(CoreOptions options, EventLoop* loop, transport::Messenger* messenger,
                       raylet::ObjectManager* objects, store::ObjectStore* store)
    : options_(options), loop_(loop), messenger_(messenger), objects_(objects), store_(store) {}

void CoreWorker::SetClusterView(scheduler::ClusterView view) {
  view_ = std::move(view);
  view_index_.clear();
  for (size_t i = 0; i < view_.nodes.size(); ++i) view_index_[view_.nodes[i].id] = i;
}

void CoreWorker::Submit(wire::TaskSpec&& spec, Holds&& holds) {
  loop_->Post([this, spec = std::move(spec), holds = std::move(holds)]() mutable {
    DoSubmit(std::move(spec), std::move(holds));
  });
}

void CoreWorker::Put(const ObjectId& id, Buffer value, Holds holds) {
  loop_->Post([this, id, value = std::move(value), holds = std::move(holds)]() mutable {
    Owned& obj = owned_[id];
    obj.local_refs += 1;
    obj.holds = std::move(holds);
    wire::ObjectValue v;
    if (static_cast<int64_t>(value.size()) <= options_.inline_threshold) {
      v.kind = wire::ObjectValue::Kind::kInline;
      v.data = std::move(value);
    } else {
      const size_t size = value.size();
      Result<wire::Location> loc = store_->SealPrimary(id, std::move(value));
      if (!loc.ok()) {
        v.kind = wire::ObjectValue::Kind::kError;
        v.error = {store::StoreErrorKind(loc.status()),
                   "Put of " + std::to_string(size) + " bytes failed: " + loc.status().message()};
      } else {
        v.kind = wire::ObjectValue::Kind::kLocation;
        v.location = std::move(loc).value();
      }
    }
    SetReady(id, std::move(v));
  });
}

void CoreWorker::AddLocalRef(const ObjectId& id) {
  loop_->Post([this, id] { AddRef(id); });
}

void CoreWorker::RemoveLocalRef(const ObjectId& id) {
  loop_->Post([this, id] { ReleaseRef(id); });
}

void CoreWorker::AddRef(const ObjectId& id) {
  if (id.owner() == options_.self) {
    auto it = owned_.find(id);
    if (it != owned_.end()) it->second.local_refs++;
    return;
  }
  if (borrowed_[id]++ != 0 || dead_.count(id.owner()) != 0) return;
  // A removal still waiting to be sent is simply cancelled: the owner never stopped counting
  // this process.
  if (auto it = std::find(deferred_removes_.begin(), deferred_removes_.end(), id);
      it != deferred_removes_.end()) {
    deferred_removes_.erase(it);
    return;
  }
  uint64_t req = next_request_.fetch_add(1, std::memory_order_relaxed);
  borrow_acks_[req] = id.owner();
  messenger_->Send(id.owner(), static_cast<uint16_t>(wire::MsgType::kAddBorrower),
                   wire::EncodeGetObject({req, id}));
}

void CoreWorker::ReleaseRef(const ObjectId& id) {
  if (id.owner() == options_.self) {
    auto it = owned_.find(id);
    if (it == owned_.end()) return;
    it->second.local_refs--;
    MaybeFree(id);
    return;
  }
  auto it = borrowed_.find(id);
  if (it == borrowed_.end() || --it->second != 0) return;
  borrowed_.erase(it);
  // Sent only once every registration this process made is acknowledged: a borrower it passed
  // the ref to must be known to the owner before this hold goes.
  deferred_removes_.push_back(id);
  if (BorrowsSettled()) SendRemoveBorrowers();
}

void CoreWorker::SendRemoveBorrowers() {
  std::unordered_map<NodeId, std::vector<ObjectId>> by_owner;
  for (const ObjectId& id : deferred_removes_)
    if (dead_.count(id.owner()) == 0) by_owner[id.owner()].push_back(id);
  deferred_removes_.clear();
  for (auto& [owner, ids] : by_owner)
    messenger_->Send(owner, static_cast<uint16_t>(wire::MsgType::kRemoveBorrower),
                     wire::EncodeFreeObjects(ids));
}

void CoreWorker::WhenBorrowsSettled(std::function<void()> cb) {
  if (BorrowsSettled()) {
    cb();
    return;
  }
  after_borrows_.push_back(std::move(cb));
}

void CoreWorker::HandleAddBorrower(NodeId from, const Buffer& msg) {
  wire::GetObjectRequest req;
  if (Status st = wire::DecodeGetObject(msg, &req); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed AddBorrower from " << from << ": "
                                  << st.ToString();
    return;
  }
  auto it = owned_.find(req.id);
  // An object freed already is not resurrected: the borrower's reads will say it is lost.
  if (it != owned_.end() && std::find(it->second.borrowers.begin(), it->second.borrowers.end(),
                                      from) == it->second.borrowers.end())
    it->second.borrowers.push_back(from);
  messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kBorrowerAck),
                   wire::EncodeGetObject(req));
}

void CoreWorker::HandleBorrowerAck(NodeId from, const Buffer& msg) {
  wire::GetObjectRequest req;
  if (Status st = wire::DecodeGetObject(msg, &req); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed BorrowerAck from " << from << ": "
                                  << st.ToString();
    return;
  }
  borrow_acks_.erase(req.request_id);
  if (!BorrowsSettled()) return;
  SendRemoveBorrowers();
  auto cbs = std::move(after_borrows_);
  after_borrows_.clear();
  for (auto& cb : cbs) cb();
}

void CoreWorker::HandleRemoveBorrower(NodeId from, const Buffer& msg) {
  std::vector<ObjectId> ids;
  if (Status st = wire::DecodeFreeObjects(msg, &ids); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed RemoveBorrower from " << from << ": "
                                  << st.ToString();
    return;
  }
  for (const ObjectId& id : ids) {
    auto it = owned_.find(id);
    if (it == owned_.end()) continue;
    std::erase(it->second.borrowers, from);
    MaybeFree(id);
  }
}

void CoreWorker::DoSubmit(wire::TaskSpec&& spec, Holds&& holds) {
  Owned& ret = owned_[spec.return_id];
  ret.local_refs += 1;
  ret.producing = true;
  Pending p;
  if (spec.kind != wire::TaskKind::kActorCall) p.demand = ResourceSet::FromPairs(spec.resources);
  p.actor_call = spec.kind == wire::TaskKind::kActorCall;
  p.holds = std::move(holds);
  for (const wire::TaskArg& a : spec.args) {
    if (a.kind != wire::TaskArg::Kind::kRef || a.ref.owner() != options_.self) continue;
    auto it = owned_.find(a.ref);
    if (it == owned_.end()) continue;  // freed already: the raylet's query will say so
    it->second.task_refs++;
    p.owned_args.push_back(a.ref);
  }
  Pending& slot = pending_[spec.id] = std::move(p);
  if (spec.kind == wire::TaskKind::kActorCall) {
    RouteActorCall(std::move(spec));
    return;
  }
  slot.retry_spec = std::make_shared<wire::TaskSpec>(spec);
  Place(std::move(spec), slot);
}

bool CoreWorker::RetryTask(Pending& p) {
  // A node that left gracefully lost nothing by failing: what it still had is placed again
  // without spending a retry (a task forwarded to it as it went, say).
  const bool spend = left_.count(p.node) == 0;
  if (!p.retry_spec || (spend && p.retry_spec->max_retries == 0)) return false;
  wire::TaskSpec& spec = *p.retry_spec;
  if (spend && spec.max_retries > 0) spec.max_retries--;
  spec.spillbacks = 0;
  if (auto it = view_index_.find(p.node); it != view_index_.end())
    view_.nodes[it->second].inflight.Subtract(p.demand);
  p.node = NodeId();
  (spend ? tasks_retried_ : tasks_handed_back_)++;
  // May end the task (nothing can run it now): `p` is not used after.
  Place(wire::TaskSpec(spec), p);
  return true;
}

void CoreWorker::Place(wire::TaskSpec&& spec, Pending& p) {
  scheduler::PlacementRequest req{&p.demand};
  req.strategy = static_cast<scheduler::Strategy>(spec.strategy);
  req.affinity_node = spec.affinity_node;
  req.soft = spec.affinity_soft;
  // Where the bytes of its arguments are, as far as this owner knows (its own objects).
  for (const ObjectId& arg : p.owned_args) {
    auto it = owned_.find(arg);
    if (it == owned_.end() || !it->second.ready ||
        it->second.value.kind != wire::ObjectValue::Kind::kLocation)
      continue;
    const uint64_t size = it->second.value.location.size;
    for (NodeId n : it->second.copies) {
      auto at = std::find_if(req.arg_bytes.begin(), req.arg_bytes.end(),
                             [&](const auto& e) { return e.first == n; });
      if (at == req.arg_bytes.end()) {
        req.arg_bytes.emplace_back(n, size);
      } else {
        at->second += size;
      }
    }
  }
  scheduler::Decision d = scheduler::PickNode(view_, req, options_.self, rotate_++);
  if (d.outcome == scheduler::Placement::kUnavailable) {
    FailTask(spec.id, wire::ErrorKind::kUnschedulable,
             "task '" + spec.name + "' cannot run: " + d.reason);
    return;
  }
  if (d.outcome == scheduler::Placement::kInfeasible) {
    if (!warned_infeasible_) {
      warned_infeasible_ = true;
      FERRY_LOG(WARNING) << "task '" << spec.name << "' needs " << p.demand.ToString() << ": "
                         << d.reason
                         << "; it stays pending until a node that can run it joins (further "
                            "such tasks are not logged; ferry::GetInfeasibleTasks() lists them)";
    }
    infeasible_.push_back(std::move(spec));
    infeasible_reasons_.push_back(std::move(d.reason));
    return;
  }
  p.node = d.node;
  if (auto it = view_index_.find(d.node); it != view_index_.end())
    view_.nodes[it->second].inflight.Add(p.demand);
  Enqueue(d.node, std::move(spec));
}

void CoreWorker::RetryInfeasible() {
  if (infeasible_.empty()) return;
  std::vector<wire::TaskSpec> waiting = std::move(infeasible_);
  infeasible_.clear();
  infeasible_reasons_.clear();
  for (wire::TaskSpec& spec : waiting) {
    auto it = pending_.find(spec.id);
    if (it != pending_.end()) Place(std::move(spec), it->second);  // else failed meanwhile
  }
}

std::vector<CoreWorker::Infeasible> CoreWorker::InfeasibleTasks() const {
  std::vector<Infeasible> out;
  for (size_t i = 0; i < infeasible_.size(); ++i) {
    const wire::TaskSpec& spec = infeasible_[i];
    out.push_back({spec.id, spec.name, ResourceSet::FromPairs(spec.resources),
                   infeasible_reasons_[i]});
  }
  return out;
}

void CoreWorker::ApplyClusterView(const std::vector<wire::NodeState>& states) {
  if (gcs::ApplyStates(view_, view_index_, states)) RetryInfeasible();
}

void CoreWorker::HandleTaskForwarded(NodeId from, const Buffer& msg) {
  std::vector<std::pair<TaskId, NodeId>> forwards;
  if (Status st = wire::DecodeForwards(msg, &forwards); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed TaskForwarded message from " << from
                                  << ": " << st.ToString();
    return;
  }
  for (const auto& [task, fwd_node] : forwards) {
    NodeId node = fwd_node;
    auto it = pending_.find(task);
    if (it == pending_.end()) continue;  // done
    if (it->second.node != from) {
      // Handed back by a node before the note of the raylet that forwarded it there came.
      if (node.IsNil()) early_handbacks_[task] = from;
      continue;
    }
    if (auto e = early_handbacks_.find(task); e != early_handbacks_.end()) {
      if (!node.IsNil() && e->second == node) node = NodeId();  // it is back already
      early_handbacks_.erase(e);
    }
    Pending& p = it->second;
    if (node.IsNil()) {
      // Handed back by a node that is leaving: placed again, and no retry is spent.
      if (!p.retry_spec) {
        FailTask(task, wire::ErrorKind::kObjectLost,
                 "task " + task.ToString() + " was handed back by " + from.ToString() +
                     ", which is leaving, and cannot be placed again");
        continue;
      }
      if (auto v = view_index_.find(p.node); v != view_index_.end()) {
        view_.nodes[v->second].inflight.Subtract(p.demand);
        // The head's word that it is draining may still be on its way: not there again.
        view_.nodes[v->second].draining = true;
      }
      p.node = NodeId();
      p.retry_spec->spillbacks = 0;
      tasks_handed_back_++;
      Place(wire::TaskSpec(*p.retry_spec), p);
      continue;
    }
    if (auto v = view_index_.find(p.node); v != view_index_.end())
      view_.nodes[v->second].inflight.Subtract(p.demand);
    p.node = node;
    if (auto v = view_index_.find(node); v != view_index_.end())
      view_.nodes[v->second].inflight.Add(p.demand);
    if (dead_.count(node) != 0 && !RetryTask(p))
      FailTask(task, wire::ErrorKind::kObjectLost,
               "task '" + (p.retry_spec ? p.retry_spec->name : std::string()) + "' (" +
                   task.ToString() + ") was lost: it was forwarded to " + node.ToString() +
                   ", which died, and it has no retries left");
  }
}

void CoreWorker::HandleHandOff(NodeId from, const Buffer& msg) {
  std::vector<ObjectId> ids;
  if (Status st = wire::DecodeFreeObjects(msg, &ids); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed HandOff from " << from << ": "
                                  << st.ToString();
    return;
  }
  struct Batch {
    size_t left = 0;
    std::vector<ObjectId> taken;
  };
  auto batch = std::make_shared<Batch>();
  batch->left = ids.size() + 1;  // +1: the loop below, so that the reply goes once at the end
  auto done_one = [this, from, batch] {
    if (--batch->left != 0) return;
    messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kHandOffDone),
                     wire::EncodeFreeObjects(batch->taken));
  };
  for (const ObjectId& id : ids) {
    auto it = owned_.find(id);
    if (it == owned_.end() || !it->second.ready ||
        it->second.value.kind != wire::ObjectValue::Kind::kLocation ||
        it->second.value.location.node != from) {
      done_one();  // freed, or its primary copy is elsewhere: nothing to take
      continue;
    }
    const wire::ObjectValue value = it->second.value;
    objects_->Materialize(id, value, [this, id, from, batch, done_one](const raylet::Resolved& r) {
      auto it = owned_.find(id);
      Result<wire::Location> loc = UnavailableError("not fetched");
      if (r.ok && store_->MakePrimary(id)) loc = store_->LocationOf(id);
      if (!loc.ok()) {
        FERRY_LOG(WARNING) << "could not take over " << id << " from " << from
                           << ", which is leaving: "
                           << (r.ok ? loc.status().ToString() : r.error.message)
                           << "; it will be rebuilt if it is needed";
      } else if (it != owned_.end() && it->second.value.kind == wire::ObjectValue::Kind::kLocation &&
                 it->second.value.location.node == from) {
        it->second.value.location = std::move(loc).value();
        std::erase(it->second.copies, from);
        if (std::find(it->second.copies.begin(), it->second.copies.end(), options_.self) ==
            it->second.copies.end())
          it->second.copies.push_back(options_.self);
        batch->taken.push_back(id);
        objects_taken_over_++;
      }
      done_one();
    });
  }
  done_one();
}

void CoreWorker::Enqueue(NodeId node, wire::TaskSpec&& spec) {
  auto& batch = outgoing_[node];
  if (batch.capacity() == 0) batch.reserve(64);  // a sent batch leaves an empty vector behind
  batch.push_back(std::move(spec));
  if (static_cast<int>(batch.size()) >= options_.max_batch) {
    SendSpecs(node, std::move(batch));
    batch.clear();
  } else if (!flush_posted_) {
    flush_posted_ = true;
    loop_->Post([this] { FlushSubmissions(); });
  }
}

void CoreWorker::FlushSubmissions() {
  flush_posted_ = false;
  for (auto& [node, batch] : outgoing_) {
    if (batch.empty()) continue;
    SendSpecs(node, std::move(batch));
    batch.clear();
  }
}

void CoreWorker::SendSpecs(NodeId node, std::vector<wire::TaskSpec> batch) {
  if (node == options_.self && local_raylet_) {
    local_raylet_(std::move(batch));  // same process: no encoding
    return;
  }
  messenger_->Send(node, static_cast<uint16_t>(wire::MsgType::kSubmitTasks),
                   wire::EncodeTaskSpecs(batch));
}

void CoreWorker::HandleTaskDone(NodeId from, const Buffer& msg) {
  std::vector<wire::TaskResult> results;
  if (Status st = wire::DecodeTaskResults(msg, &results); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed TaskDone message from " << from << ": "
                                  << st.ToString();
    return;
  }
  for (wire::TaskResult& r : results) {
    // An inline value decoded as a slice would keep the whole batch message alive for as long
    // as the object lives; values that are not most of the message get their own copy.
    if (r.value.kind == wire::ObjectValue::Kind::kInline && r.value.data.size() * 2 < msg.size())
      r.value.data = Buffer::CopyOf(r.value.data.data(), r.value.data.size());
  }
  HandleTaskResults(from, std::move(results));
}

void CoreWorker::HandleTaskResults(NodeId from, std::vector<wire::TaskResult> results) {
  // A node declared dead may still have completions in flight: its tasks were re-run or
  // failed already, and values it stored are gone.
  if (dead_.count(from) != 0) return;
  for (wire::TaskResult& r : results) {
    auto pit = pending_.find(r.task);
    if (pit == pending_.end()) {
      FERRY_LOG(WARNING) << "completion of unknown task " << r.task << " from " << from
                         << " ignored";
      continue;
    }
    if (pit->second.actor_call && r.value.kind == wire::ObjectValue::Kind::kError &&
        r.value.error.kind == wire::ErrorKind::kActorDied && RetryActorCall(pit->second))
      continue;  // resent once the actor is back
    if (!pit->second.actor_call && r.value.kind == wire::ObjectValue::Kind::kError &&
        r.value.error.kind == wire::ErrorKind::kTaskError && pit->second.retry_spec &&
        pit->second.retry_spec->retry_exceptions) {
      const std::string name = pit->second.retry_spec->name;
      if (RetryTask(pit->second)) {
        FERRY_LOG_RATE_LIMITED(WARNING) << "task '" << name << "' (" << r.task << ") threw on "
                                        << from << "; retrying it: " << r.value.error.message;
        continue;
      }
    }
    Pending p = std::move(pit->second);
    early_handbacks_.erase(pit->first);
    pending_.erase(pit);
    if (auto it = view_index_.find(p.node); it != view_index_.end())
      view_.nodes[it->second].inflight.Subtract(p.demand);
    auto oit = owned_.find(r.return_id);
    if (!r.contained.empty()) {
      // The result holds refs: take holds of our own for as long as the result lives, then
      // let the executing rank drop the ones it kept meanwhile.
      if (oit != owned_.end()) {
        for (const ObjectId& x : r.contained) AddRef(x);
        oit->second.nested = r.contained;
      }
      WhenBorrowsSettled([this, from, ret = r.return_id] {
        messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kReleaseResultRefs),
                         wire::EncodeFreeObjects({ret}));
      });
    }
    if (oit != owned_.end()) {
      oit->second.producing = false;
      // A value kept in a store may be lost with its node: keep the task as its lineage.
      if (r.value.kind == wire::ObjectValue::Kind::kLocation && p.retry_spec && !p.actor_call)
        RetainLineage(r.return_id, std::move(p.retry_spec));
      SetReady(r.return_id, std::move(r.value));
    } else if (r.value.kind == wire::ObjectValue::Kind::kLocation) {
      // Nobody holds the result any more: drop the stored copy at once.
      messenger_->Send(r.value.location.node, static_cast<uint16_t>(wire::MsgType::kFreeObjects),
                       wire::EncodeFreeObjects({r.return_id}));
    }
    ReleaseArgs(p.owned_args);
  }
}

void CoreWorker::SetReady(const ObjectId& id, wire::ObjectValue value) {
  auto it = owned_.find(id);
  if (it == owned_.end()) return;
  Owned& obj = it->second;
  obj.ready = true;
  obj.value = std::move(value);
  if (obj.value.kind == wire::ObjectValue::Kind::kLocation) {
    AddCopy(obj, obj.value.location.node);
  } else {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ready_[id] = obj.value.kind == wire::ObjectValue::Kind::kInline
                     ? Resolved::Value(obj.value.data)
                     : Resolved{false, {}, obj.value.error};
  }
  auto waiters = std::move(obj.remote_waiters);
  for (auto& [node, req] : waiters) ReplyObjectInfo(node, req, id, obj);
  auto cbs = std::move(obj.on_ready);
  for (auto& cb : cbs) cb();
  MaybeFree(id);
}

void CoreWorker::AddCopy(Owned& obj, NodeId node) {
  if (std::find(obj.copies.begin(), obj.copies.end(), node) == obj.copies.end())
    obj.copies.push_back(node);
}

void CoreWorker::WhenReady(const ObjectId& id, std::function<void()> cb) {
  if (id.owner() != options_.self) {
    // Borrowed: readiness is known once the owner answers (and the bytes are here).
    GetAsync(id, [cb = std::move(cb)](const Resolved&) { cb(); });
    return;
  }
  auto it = owned_.find(id);
  if (it == owned_.end() || it->second.ready) {
    cb();
    return;
  }
  it->second.on_ready.push_back(std::move(cb));
}

void CoreWorker::GetAsync(const ObjectId& id, ResolveCallback cb) {
  if (id.owner() != options_.self) {
    objects_->Resolve(id, std::move(cb));
    return;
  }
  auto it = owned_.find(id);
  if (it == owned_.end()) {
    cb(Resolved::Error(wire::ErrorKind::kObjectLost,
                       "object " + id.ToString() + " was freed (no reference to it was left)"));
    return;
  }
  if (!it->second.ready) {
    it->second.on_ready.push_back(
        [this, id, cb = std::move(cb)]() mutable { GetAsync(id, std::move(cb)); });
    return;
  }
  Owned& obj = it->second;
  bool remote = obj.value.kind == wire::ObjectValue::Kind::kLocation &&
                obj.value.location.node != options_.self;
  if (remote) AddCopy(obj, options_.self);  // the fetched copy is cached here
  objects_->Materialize(id, obj.value, std::move(cb));
}

void CoreWorker::HandleGetObject(NodeId from, const Buffer& msg) {
  wire::GetObjectRequest req;
  if (Status st = wire::DecodeGetObject(msg, &req); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed GetObject message from " << from << ": "
                                  << st.ToString();
    return;
  }
  auto it = owned_.find(req.id);
  if (it == owned_.end()) {
    wire::ObjectInfoReply reply;
    reply.request_id = req.request_id;
    reply.id = req.id;
    reply.value.kind = wire::ObjectValue::Kind::kError;
    reply.value.error = {wire::ErrorKind::kObjectLost,
                         "object " + req.id.ToString() + " is unknown to its owner " +
                             options_.self.ToString() + " (freed, or never created)"};
    messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kObjectInfo),
                     wire::EncodeObjectInfo(reply));
    return;
  }
  if (!it->second.ready) {
    it->second.remote_waiters.emplace_back(from, req.request_id);
    return;
  }
  ReplyObjectInfo(from, req.request_id, req.id, it->second);
}

void CoreWorker::ReplyObjectInfo(NodeId to, uint64_t request_id, const ObjectId& id, Owned& obj) {
  if (obj.value.kind == wire::ObjectValue::Kind::kLocation) AddCopy(obj, to);
  wire::ObjectInfoReply reply{request_id, id, obj.value};
  messenger_->Send(to, static_cast<uint16_t>(wire::MsgType::kObjectInfo),
                   wire::EncodeObjectInfo(reply));
}

void CoreWorker::MaybeFree(const ObjectId& id) {
  auto it = owned_.find(id);
  if (it == owned_.end()) return;
  Owned& obj = it->second;
  if (obj.local_refs > 0 || obj.task_refs > 0 || obj.producing || !obj.remote_waiters.empty() ||
      !obj.borrowers.empty())
    return;
  std::vector<ObjectId> nested;
  if (!obj.released) {
    if (obj.value.kind != wire::ObjectValue::Kind::kLocation) {
      std::lock_guard<std::mutex> lock(ready_mu_);
      ready_.erase(id);
    }
    for (NodeId node : obj.copies) {
      if (node == options_.self) {
        store_->Erase(id);
      } else if (dead_.count(node) == 0) {
        messenger_->Send(node, static_cast<uint16_t>(wire::MsgType::kFreeObjects),
                         wire::EncodeFreeObjects({id}));
      }
    }
    nested = std::move(obj.nested);
    obj.nested.clear();
  }
  if (obj.lineage_refs > 0 && obj.lineage) {
    // Nothing reads the value any more, but lineage that names it may have to rebuild it.
    obj.released = true;
    obj.ready = false;
    obj.value = {};
    obj.copies.clear();
  } else {
    if (obj.lineage) DropLineage(id, false);  // may free arguments, never `id` itself
    owned_.erase(id);
  }
  for (const ObjectId& x : nested) ReleaseRef(x);  // refs its value held
}

void CoreWorker::RetainLineage(const ObjectId& id, std::shared_ptr<const wire::TaskSpec> spec) {
  auto it = owned_.find(id);
  if (it == owned_.end()) return;
  Owned& obj = it->second;
  int64_t bytes = static_cast<int64_t>(sizeof(wire::TaskSpec) + spec->function.size() +
                                       spec->name.size());
  for (const wire::TaskArg& a : spec->args) {
    bytes += static_cast<int64_t>(sizeof(wire::TaskArg) + a.value.size());
    if (a.kind != wire::TaskArg::Kind::kRef || a.ref.owner() != options_.self) continue;
    if (auto ait = owned_.find(a.ref); ait != owned_.end()) ait->second.lineage_refs++;
  }
  for (const auto& r : spec->resources) bytes += static_cast<int64_t>(sizeof(r) + r.first.size());
  obj.lineage = std::move(spec);
  obj.lineage_bytes = bytes;
  obj.lineage_seq = ++lineage_seq_;
  obj.lineage_dropped = false;
  lineage_bytes_ += bytes;
  lineage_order_.emplace_back(id, obj.lineage_seq);
  TrimLineage();
}

void CoreWorker::DropLineage(const ObjectId& id, bool evicted) {
  auto it = owned_.find(id);
  if (it == owned_.end() || !it->second.lineage) return;
  std::shared_ptr<const wire::TaskSpec> spec = std::move(it->second.lineage);
  it->second.lineage.reset();
  lineage_bytes_ -= it->second.lineage_bytes;
  it->second.lineage_bytes = 0;
  it->second.lineage_dropped = evicted;
  for (const wire::TaskArg& a : spec->args) {
    if (a.kind != wire::TaskArg::Kind::kRef || a.ref.owner() != options_.self || a.ref == id)
      continue;
    auto ait = owned_.find(a.ref);
    if (ait == owned_.end()) continue;
    ait->second.lineage_refs--;
    MaybeFree(a.ref);
  }
}

void CoreWorker::TrimLineage() {
  while (lineage_bytes_ > options_.max_lineage_bytes && !lineage_order_.empty()) {
    auto [id, seq] = lineage_order_.front();
    lineage_order_.pop_front();
    auto it = owned_.find(id);
    if (it == owned_.end() || !it->second.lineage || it->second.lineage_seq != seq) continue;
    DropLineage(id, /*evicted=*/true);
    MaybeFree(id);  // a released object kept only for its lineage goes now
  }
  // Stale entries (objects freed or re-run since) must not pile up behind live ones.
  if (lineage_order_.size() > 2 * owned_.size() + 64) {
    std::erase_if(lineage_order_, [&](const auto& e) {
      auto it = owned_.find(e.first);
      return it == owned_.end() || !it->second.lineage || it->second.lineage_seq != e.second;
    });
  }
}

bool CoreWorker::NeedsRebuild(const Owned& obj) const {
  if (obj.producing) return false;
  if (obj.released) return true;
  return obj.ready && obj.value.kind == wire::ObjectValue::Kind::kLocation &&
         dead_.count(obj.value.location.node) != 0;
}

bool CoreWorker::Reconstruct(const ObjectId& id, const std::string& cause) {
  auto it = owned_.find(id);
  if (it == owned_.end()) return false;
  Owned& obj = it->second;
  if (obj.producing) return true;  // being rebuilt already
  std::string why;
  if (!obj.lineage) {
    why = obj.lineage_dropped
              ? "its lineage was dropped to keep the owner's lineage within max_lineage_bytes (" +
                    std::to_string(options_.max_lineage_bytes) +
                    " bytes, FERRY_MAX_LINEAGE_BYTES)"
              : "it was stored by Put (or by an actor), so there is no task to re-run";
  } else if (obj.lineage->max_retries == 0) {
    why = "its task '" + obj.lineage->name + "' has no retries left (max_retries)";
  }
  if (!why.empty()) {
    obj.released = false;
    obj.ready = false;
    wire::ObjectValue v;
    v.kind = wire::ObjectValue::Kind::kError;
    v.error = {wire::ErrorKind::kObjectLost, cause + ", and it cannot be rebuilt: " + why};
    SetReady(id, std::move(v));
    return false;
  }
  auto spec = std::make_shared<wire::TaskSpec>(*obj.lineage);
  if (spec->max_retries > 0) spec->max_retries--;
  spec->spillbacks = 0;
  FERRY_LOG(INFO) << cause << ": rebuilding it by re-running task '" << spec->name << "' ("
                  << spec->id << ")";
  Pending p;
  p.demand = ResourceSet::FromPairs(spec->resources);
  for (const wire::TaskArg& a : spec->args) {
    if (a.kind != wire::TaskArg::Kind::kRef || a.ref.owner() != options_.self) continue;
    auto ait = owned_.find(a.ref);
    if (ait == owned_.end()) continue;
    ait->second.task_refs++;  // the re-run holds its arguments from here
    p.owned_args.push_back(a.ref);
  }
  DropLineage(id, false);  // its hold on the arguments passed to the re-run
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ready_.erase(id);
  }
  obj.ready = false;
  obj.producing = true;
  obj.released = false;
  obj.value = {};
  obj.copies.clear();
  objects_rebuilt_++;
  // Arguments lost too are rebuilt first (the raylet running the task waits for them).
  for (const ObjectId& arg : p.owned_args) {
    auto ait = owned_.find(arg);
    if (ait != owned_.end() && NeedsRebuild(ait->second))
      Reconstruct(arg, "object " + arg.ToString() + ", an argument of task '" + spec->name +
                           "' being re-run, is gone");
  }
  p.retry_spec = spec;
  Pending& slot = pending_[spec->id] = std::move(p);
  Place(wire::TaskSpec(*spec), slot);
  return true;
}

std::optional<Resolved> CoreWorker::TryGetReady(const ObjectId& id) const {
  if (id.owner() != options_.self) return std::nullopt;
  std::lock_guard<std::mutex> lock(ready_mu_);
  auto it = ready_.find(id);
  if (it == ready_.end()) return std::nullopt;
  return it->second;
}

void CoreWorker::TryGetReadyMany(const std::vector<ObjectId>& ids, std::vector<Resolved>* out,
                                 std::vector<size_t>* missing) const {
  std::lock_guard<std::mutex> lock(ready_mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = ids[i].owner() == options_.self ? ready_.find(ids[i]) : ready_.end();
    if (it == ready_.end()) {
      missing->push_back(i);
    } else {
      (*out)[i] = it->second;
    }
  }
}

void CoreWorker::OnNodeDead(NodeId node, const std::string& why) {
  if (!dead_.insert(node).second) return;
  if (wire::LeftGracefully(why)) left_.insert(node);
  if (auto it = view_index_.find(node); it != view_index_.end())
    view_.nodes[it->second].alive = false;
  // Tasks that were running (or queued) there are re-run elsewhere while retries last.
  std::vector<TaskId> lost_tasks;
  std::vector<TaskId> lost_calls;
  for (const auto& [tid, p] : pending_) {
    if (p.node != node) continue;
    (p.actor_call ? lost_calls : lost_tasks).push_back(tid);
  }
  for (const TaskId& tid : lost_calls) {
    auto it = pending_.find(tid);
    if (it == pending_.end() || RetryActorCall(it->second)) continue;
    FailTask(tid, wire::ErrorKind::kActorDied,
             "the actor call " + tid.ToString() + " was lost: " + node.ToString() +
                 ", which hosted its actor, died while running it (" + why + ")");
  }
  for (const TaskId& tid : lost_tasks) {
    auto it = pending_.find(tid);
    if (it == pending_.end()) continue;
    const std::string name = it->second.retry_spec ? it->second.retry_spec->name : "";
    if (RetryTask(it->second)) continue;
    FailTask(tid, wire::ErrorKind::kObjectLost,
             "task '" + name + "' (" + tid.ToString() + ") was lost: " + node.ToString() +
                 " died while running it (" + why + "), and it has no retries left (max_retries)");
  }
  // A dead borrower holds nothing; a dead owner will acknowledge nothing.
  std::vector<ObjectId> unborrowed;
  for (auto& [id, obj] : owned_)
    if (std::erase(obj.borrowers, node) > 0) unborrowed.push_back(id);
  for (const ObjectId& id : unborrowed) MaybeFree(id);
  std::erase_if(borrow_acks_, [&](const auto& kv) { return kv.second == node; });
  std::erase_if(deferred_removes_, [&](const ObjectId& id) { return id.owner() == node; });
  if (BorrowsSettled()) {
    SendRemoveBorrowers();
    auto cbs = std::move(after_borrows_);
    after_borrows_.clear();
    for (auto& cb : cbs) cb();
  }
  // Objects whose primary copy was there are lost: rebuilt now if anything still reads them,
  // else only when a rebuild of something that read them needs them.
  std::vector<ObjectId> lost;
  for (auto& [id, obj] : owned_) {
    std::erase(obj.copies, node);
    if (obj.ready && obj.value.kind == wire::ObjectValue::Kind::kLocation &&
        obj.value.location.node == node)
      lost.push_back(id);
  }
  if (!lost.empty())
    FERRY_LOG(INFO) << lost.size() << " object(s) owned here had their primary copy on " << node;
  for (const ObjectId& id : lost) {
    auto it = owned_.find(id);
    if (it == owned_.end() || !NeedsRebuild(it->second)) continue;  // rebuilt as an argument
    Owned& obj = it->second;
    const bool needed = obj.local_refs > 0 || obj.task_refs > 0 || !obj.borrowers.empty();
    if (!needed && obj.lineage_refs > 0 && obj.lineage) {
      obj.released = true;
      obj.ready = false;
      obj.value = {};
      obj.copies.clear();
      continue;
    }
    Reconstruct(id, "object " + id.ToString() + " was lost with " + node.ToString() + " (" +
                        why + ")");
  }
  objects_->OnNodeDead(node);
}

// --- Actors ---------------------------------------------------------------------------------

void CoreWorker::ReleaseArgs(const std::vector<ObjectId>& args) {
  for (const ObjectId& arg : args) {
    auto it = owned_.find(arg);
    if (it == owned_.end()) continue;
    it->second.task_refs--;
    MaybeFree(arg);
  }
}

void CoreWorker::FailTask(const TaskId& task, wire::ErrorKind kind, const std::string& message) {
  auto pit = pending_.find(task);
  if (pit == pending_.end()) return;
  Pending p = std::move(pit->second);
  early_handbacks_.erase(pit->first);
  pending_.erase(pit);
  ObjectId ret{task, 0};
  if (auto oit = owned_.find(ret); oit != owned_.end()) {
    oit->second.producing = false;
    wire::ObjectValue v;
    v.kind = wire::ObjectValue::Kind::kError;
    v.error = {kind, message};
    SetReady(ret, std::move(v));
  }
  ReleaseArgs(p.owned_args);
}

void CoreWorker::RouteActorCall(wire::TaskSpec spec) {
  ActorRoute& route = actors_[spec.actor];
  if (route.known && route.state == wire::ActorState::kDead) {
    FailTask(spec.id, wire::ErrorKind::kActorDied,
             spec.actor.ToString() + " is dead: " + route.death);
    return;
  }
  if (route.known && route.state == wire::ActorState::kAlive) {
    SendActorCall(route, std::move(spec));
    return;
  }
  route.queued.push_back(std::move(spec));
  if (!route.subscribed) Subscribe(route.queued.back().actor, route);
}

void CoreWorker::SendActorCall(ActorRoute& route, wire::TaskSpec spec) {
  auto pit = pending_.find(spec.id);
  if (pit == pending_.end()) return;
  // -2: the actor's own max_task_retries applies (learned from the GCS).
  if (spec.max_retries == -2) spec.max_retries = route.max_task_retries;
  pit->second.node = route.node;
  if (spec.max_retries != 0) pit->second.retry_spec = std::make_shared<wire::TaskSpec>(spec);
  Enqueue(route.node, std::move(spec));
}

bool CoreWorker::RetryActorCall(Pending& p) {
  if (!p.retry_spec || p.retry_spec->max_retries == 0) return false;
  auto rit = actors_.find(p.retry_spec->actor);
  if (rit == actors_.end()) return false;
  ActorRoute& route = rit->second;
  if (route.known && route.state == wire::ActorState::kDead) return false;
  wire::TaskSpec spec = std::move(*p.retry_spec);
  p.retry_spec.reset();
  if (spec.max_retries > 0) spec.max_retries--;
  p.node = NodeId();
  // Where the actor lives now is the GCS's to say: ask again, and hold the call until then.
  route.known = false;
  route.queued.push_back(std::move(spec));
  route.subscribed = false;
  Subscribe(route.queued.back().actor, route);
  return true;
}

void CoreWorker::Subscribe(const ActorId& id, ActorRoute& route) {
  route.subscribed = true;
  wire::ActorEvent ev;
  ev.actor = id;
  messenger_->Send(NodeId(0), static_cast<uint16_t>(wire::MsgType::kActorSubscribe),
                   wire::EncodeActorEvent(ev));
}

void CoreWorker::CreateActor(wire::TaskSpec spec, GcsReply on_reply, Holds holds) {
  loop_->Post([this, spec = std::move(spec), on_reply = std::move(on_reply),
               holds = std::move(holds)]() mutable {
    const ActorId id = spec.actor;
    ActorRoute& route = actors_[id];
    route.creation_holds = std::move(holds);
    route.subscribed = true;  // the GCS subscribes the creator
    route.max_task_retries = spec.actor_options->max_task_retries;
    // The factory's arguments stay pinned while the actor may (re)run it.
    for (const wire::TaskArg& a : spec.args) {
      if (a.kind != wire::TaskArg::Kind::kRef || a.ref.owner() != options_.self) continue;
      auto it = owned_.find(a.ref);
      if (it == owned_.end()) continue;
      it->second.task_refs++;
      route.creation_args.push_back(a.ref);
    }
    if (spec.actor_options->request_id != 0) {
      gcs_waiters_[spec.actor_options->request_id] = [this, id, cb = std::move(on_reply)](
                                                        const wire::ActorEvent& ev) {
        if (!ev.flag) {
          // Refused (a taken name): the actor never existed.
          wire::ActorEvent dead;
          dead.actor = id;
          dead.state = wire::ActorState::kDead;
          dead.message = ev.message;
          ApplyActorEvent(dead);
        }
        cb(ev);
      };
    }
    messenger_->Send(NodeId(0), static_cast<uint16_t>(wire::MsgType::kActorRegister),
                     wire::EncodeTaskSpecs({spec}));
  });
}

void CoreWorker::RequestGcs(wire::MsgType type, wire::ActorEvent request, GcsReply on_reply) {
  loop_->Post([this, type, request = std::move(request),
               on_reply = std::move(on_reply)]() mutable {
    gcs_waiters_[request.request_id] = std::move(on_reply);
    messenger_->Send(NodeId(0), static_cast<uint16_t>(type), wire::EncodeActorEvent(request));
  });
}

void CoreWorker::RequestPg(wire::MsgType type, wire::PgEvent request, PgReply on_reply) {
  request.request_id = NewRequestId();
  loop_->Post([this, type, request = std::move(request),
               on_reply = std::move(on_reply)]() mutable {
    pg_waiters_[request.request_id] = std::move(on_reply);
    messenger_->Send(NodeId(0), static_cast<uint16_t>(type), wire::EncodePgEvents({request}));
  });
}

void CoreWorker::HandlePgReply(NodeId from, const Buffer& msg) {
  std::vector<wire::PgEvent> events;
  Status st = wire::DecodePgEvents(msg, &events);
  if (st.ok() && (events.empty() || from != NodeId(0)))
    st = DataLossError("a placement-group answer comes from the head and has a header");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed PgReply message from " << from << ": "
                                  << st.ToString();
    return;
  }
  auto it = pg_waiters_.find(events[0].request_id);
  if (it == pg_waiters_.end()) return;  // its caller stopped waiting
  PgReply cb = std::move(it->second);
  pg_waiters_.erase(it);
  cb(events);
}

void CoreWorker::HandleActorReply(NodeId from, const Buffer& msg) {
  wire::ActorEvent ev;
  if (Status st = wire::DecodeActorEvent(msg, &ev); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ActorReply message from " << from << ": "
                                  << st.ToString();
    return;
  }
  // Kill and lookup answers carry the actor's state: route calls by it at once.
  if (ev.flag && !ev.actor.IsNil() && ev.state != wire::ActorState::kPending) ApplyActorEvent(ev);
  auto it = gcs_waiters_.find(ev.request_id);
  if (it == gcs_waiters_.end()) return;
  GcsReply cb = std::move(it->second);
  gcs_waiters_.erase(it);
  cb(ev);
}

void CoreWorker::HandleActorUpdate(NodeId from, const Buffer& msg) {
  wire::ActorEvent ev;
  if (Status st = wire::DecodeActorEvent(msg, &ev); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ActorUpdate message from " << from
                                  << ": " << st.ToString();
    return;
  }
  ApplyActorEvent(ev);
}

void CoreWorker::ApplyActorEvent(const wire::ActorEvent& ev) {
  ActorRoute& route = actors_[ev.actor];
  route.known = true;
  route.state = ev.state;
  route.node = ev.node;
  route.max_task_retries = ev.max_task_retries;
  route.death = ev.message;
  if (ev.state == wire::ActorState::kAlive) {
    auto queued = std::move(route.queued);
    route.queued.clear();
    for (wire::TaskSpec& spec : queued) SendActorCall(route, std::move(spec));
  } else if (ev.state == wire::ActorState::kDead) {
    auto queued = std::move(route.queued);
    route.queued.clear();
    for (wire::TaskSpec& spec : queued)
      FailTask(spec.id, wire::ErrorKind::kActorDied,
               ev.actor.ToString() + " is dead: " + ev.message);
    auto args = std::move(route.creation_args);
    route.creation_args.clear();
    ReleaseArgs(args);
    Holds holds = std::move(route.creation_holds);  // released after the route is updated
    route.creation_holds.clear();
    holds.clear();
  }
}

}  // namespace ferry::core
