#include "src/raylet/object_manager.h"

#include "src/common/logging.h"

namespace ferry::raylet {

ObjectManager::ObjectManager(NodeId self, EventLoop* loop, transport::Messenger* messenger,
                             transport::Transport* transport, store::ObjectStore* store,
                             std::chrono::milliseconds stale_window)
    : self_(self),
      loop_(loop),
      stale_window_(stale_window),
      messenger_(messenger),
      transport_(transport),
      store_(store) {}

ObjectManager::~ObjectManager() {
  // Destroyed after the loop stopped: no timer runs concurrently.
  if (requery_timer_ != 0) loop_->CancelTimer(requery_timer_);
}

Resolved ObjectManager::OwnerDied(const ObjectId& id) const {
  return Resolved::Error(wire::ErrorKind::kOwnerDied,
                         "the owner of " + id.ToString() + " (" + id.owner().ToString() +
                             ") died, so its value can no longer be known");
}

void ObjectManager::Resolve(const ObjectId& id, ResolveCallback cb) {
  if (auto local = store_->Get(id)) {
    cb(Resolved::Value(*local));
    return;
  }
  if (dead_.count(id.owner()) != 0) {
    cb(OwnerDied(id));
    return;
  }
  auto [it, first] = waiting_.try_emplace(id);
  it->second.push_back(std::move(cb));
  if (first) SendQuery(id);
}

void ObjectManager::SendQuery(const ObjectId& id) {
  uint64_t req = next_request_++;
  requests_[req] = id;
  waiting_on_[id] = id.owner();
  messenger_->Send(id.owner(), static_cast<uint16_t>(wire::MsgType::kGetObject),
                   wire::EncodeGetObject({req, id}));
}

void ObjectManager::Requery(const ObjectId& id, const std::string& why, bool now) {
  const auto t = std::chrono::steady_clock::now();
  Stale& st = stale_[id];
  if (st.tries++ == 0) st.since = t;
  st.why = why;
  if (t - st.since > stale_window_) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - st.since).count();
    Complete(id, Resolved::Error(wire::ErrorKind::kObjectLost,
                                 "object " + id.ToString() + " could not be read: " + why +
                                     " (asked its owner again for " + std::to_string(ms) +
                                     " ms)"));
    return;
  }
  waiting_on_[id] = id.owner();
  if (now) {
    SendQuery(id);
    return;
  }
  const int shift = std::min(st.tries, 6);
  requery_due_.emplace_back(t + std::chrono::milliseconds(std::min(1000, 10 << shift)), id);
  if (requery_timer_ == 0)
    requery_timer_ = loop_->AddTimer(std::chrono::milliseconds(10), [this] { RunRequeries(); });
}

void ObjectManager::RunRequeries() {
  const auto t = std::chrono::steady_clock::now();
  std::vector<ObjectId> due;
  std::erase_if(requery_due_, [&](const auto& e) {
    if (e.first > t) return false;
    due.push_back(e.second);
    return true;
  });
  if (requery_due_.empty()) {
    loop_->CancelTimer(requery_timer_);
    requery_timer_ = 0;
  }
  for (const ObjectId& id : due)
    if (waiting_.count(id) != 0 && dead_.count(id.owner()) == 0) SendQuery(id);
}

void ObjectManager::Locate(const ObjectId& id, LocateCallback cb) {
  if (store_->Get(id)) {
    wire::ObjectValue here;
    here.kind = wire::ObjectValue::Kind::kLocation;
    here.location.node = self_;
    cb(here);
    return;
  }
  if (dead_.count(id.owner()) != 0) {
    wire::ObjectValue dead;
    dead.kind = wire::ObjectValue::Kind::kError;
    dead.error = OwnerDied(id).error;
    cb(dead);
    return;
  }
  uint64_t req = next_request_++;
  locates_.emplace(req, std::make_pair(id, std::move(cb)));
  messenger_->Send(id.owner(), static_cast<uint16_t>(wire::MsgType::kGetObject),
                   wire::EncodeGetObject({req, id}));
}

void ObjectManager::HandleObjectInfo(NodeId from, const Buffer& msg) {
  wire::ObjectInfoReply reply;
  if (Status st = wire::DecodeObjectInfo(msg, &reply); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ObjectInfo from " << from << ": "
                                  << st.ToString();
    return;
  }
  if (auto lit = locates_.find(reply.request_id); lit != locates_.end()) {
    LocateCallback cb = std::move(lit->second.second);
    locates_.erase(lit);
    cb(reply.value);
    return;
  }
  auto rit = requests_.find(reply.request_id);
  if (rit == requests_.end()) return;  // answered already (owner died and came back?)
  ObjectId id = rit->second;
  requests_.erase(rit);
  if (waiting_.count(id) == 0) return;  // failed meanwhile
  Deliver(id, reply.value);
}

void ObjectManager::Deliver(const ObjectId& id, const wire::ObjectValue& value) {
  if (value.kind == wire::ObjectValue::Kind::kLocation && value.location.node != self_) {
    if (dead_.count(value.location.node) != 0) {
      // The owner has not learned of the death yet: its next answer will be the rebuild.
      Requery(id, "its owner names " + value.location.node.ToString() + ", which died, as holder",
              false);
      return;
    }
    waiting_on_[id] = value.location.node;
    Fetch(id, value.location);
    return;
  }
  Materialize(id, value, [this, id](const Resolved& r) { Complete(id, r); });
}

void ObjectManager::Materialize(const ObjectId& id, const wire::ObjectValue& value,
                                ResolveCallback cb) {
  switch (value.kind) {
    case wire::ObjectValue::Kind::kInline:
      cb(Resolved::Value(value.data));
      return;
    case wire::ObjectValue::Kind::kError:
      cb(Resolved{false, {}, value.error});
      return;
    case wire::ObjectValue::Kind::kLocation:
      if (auto local = store_->Get(id)) {
        cb(Resolved::Value(*local));
        return;
      }
      if (value.location.node == self_) {
        cb(Resolved::Error(wire::ErrorKind::kObjectLost,
                           "object " + id.ToString() + " is no longer in this rank's store"));
        return;
      }
      {
        auto [it, first] = waiting_.try_emplace(id);
        it->second.push_back(std::move(cb));
        if (first) Deliver(id, value);
      }
      return;
  }
}

void ObjectManager::Fetch(const ObjectId& id, const wire::Location& loc) {
  auto t = std::make_shared<Transfer>();
  t->id = id;
  t->holder = loc.node;
  t->request = next_request_++;
  transfers_[t->request] = t;
  messenger_->Send(loc.node, static_cast<uint16_t>(wire::MsgType::kPinObject),
                   wire::EncodeGetObject({t->request, id}));
}

void ObjectManager::HandlePinObject(NodeId from, const Buffer& msg) {
  wire::GetObjectRequest req;
  if (Status st = wire::DecodeGetObject(msg, &req); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed PinObject from " << from << ": "
                                  << st.ToString();
    return;
  }
  wire::ObjectInfoReply reply;
  reply.request_id = req.request_id;
  reply.id = req.id;
  Result<Buffer> bytes = store_->Read(req.id);  // restored here if it was spilled
  Result<wire::Location> loc =
      bytes.ok() ? store_->LocationOf(req.id) : Result<wire::Location>(bytes.status());
  if (loc.ok()) {
    pins_[{from, req.request_id}] = std::move(bytes).value();
    reply.value.kind = wire::ObjectValue::Kind::kLocation;
    reply.value.location = std::move(loc).value();
  } else {
    reply.value.kind = wire::ObjectValue::Kind::kError;
    reply.value.error = {wire::ErrorKind::kObjectLost,
                         req.id.ToString() + " cannot be read from " + self_.ToString() + ": " +
                             loc.status().message()};
  }
  messenger_->Send(from, static_cast<uint16_t>(wire::MsgType::kPinReply),
                   wire::EncodeObjectInfo(reply));
}

void ObjectManager::HandleUnpinObject(NodeId from, const Buffer& msg) {
  wire::GetObjectRequest req;
  if (Status st = wire::DecodeGetObject(msg, &req); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed UnpinObject from " << from << ": "
                                  << st.ToString();
    return;
  }
  pins_.erase({from, req.request_id});
}

void ObjectManager::HandlePinReply(NodeId from, const Buffer& msg) {
  wire::ObjectInfoReply reply;
  if (Status st = wire::DecodeObjectInfo(msg, &reply); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed PinReply from " << from << ": "
                                  << st.ToString();
    return;
  }
  auto it = transfers_.find(reply.request_id);
  if (it == transfers_.end() || it->second->holder != from) return;
  std::shared_ptr<Transfer> t = it->second;
  if (reply.value.kind != wire::ObjectValue::Kind::kLocation) {
    transfers_.erase(it);
    Complete(t->id, reply.value.kind == wire::ObjectValue::Kind::kError
                        ? Resolved{false, {}, reply.value.error}
                        : Resolved::Error(wire::ErrorKind::kInternal,
                                          "holder answered a pin with no location"));
    return;
  }
  t->loc = std::move(reply.value.location);
  // Straight into this rank's arena: the block becomes the cached secondary copy.
  Result<Buffer> block = store_->Allocate(t->loc.size);
  if (!block.ok()) {
    t->failed = block.status();
    FinishTransfer(t);
    return;
  }
  t->dst = std::move(block).value();
  NextChunks(t);
  if (t->in_flight == 0) FinishTransfer(t);  // empty object, or the first get failed at once
}

void ObjectManager::NextChunks(const std::shared_ptr<Transfer>& t) {
  while (t->failed.ok() && t->next < t->loc.size && t->in_flight < kMaxChunksInFlight) {
    const uint64_t off = t->next;
    const uint64_t len = std::min(kChunkBytes, t->loc.size - off);
    t->next += len;
    t->in_flight++;
    Status st = transport_->Get(t->holder.value(), t->loc.address + off, t->loc.rkey,
                                t->dst.mutable_data() + off, len, [this, t](Status done) {
                                  t->in_flight--;
                                  if (!done.ok() && t->failed.ok()) t->failed = done;
                                  NextChunks(t);
                                  if (t->in_flight == 0 &&
                                      (t->next >= t->loc.size || !t->failed.ok()))
                                    FinishTransfer(t);
                                });
    if (!st.ok()) {
      t->in_flight--;
      t->failed = st;
    }
  }
}

void ObjectManager::FinishTransfer(const std::shared_ptr<Transfer>& t) {
  if (transfers_.erase(t->request) == 0) return;  // finished already (or its holder died)
  messenger_->Send(t->holder, static_cast<uint16_t>(wire::MsgType::kUnpinObject),
                   wire::EncodeGetObject({t->request, t->id}));
  if (!t->failed.ok()) {
    // The holder may be dying: the owner knows where the object is next (or rebuilds it).
    if (dead_.count(t->id.owner()) == 0) {
      Requery(t->id,
              "transfer from " + t->holder.ToString() + " failed: " + t->failed.ToString(),
              false);
      return;
    }
    Complete(t->id, Resolved::Error(wire::ErrorKind::kObjectLost,
                                    "transfer of " + t->id.ToString() + " from " +
                                        t->holder.ToString() + " failed: " + t->failed.ToString()));
    return;
  }
  // Cached as a secondary copy; the owner frees it with the rest.
  (void)store_->Seal(t->id, t->dst, /*primary=*/false);
  Complete(t->id, Resolved::Value(t->dst));
}

void ObjectManager::Complete(const ObjectId& id, const Resolved& r) {
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  std::vector<ResolveCallback> cbs = std::move(it->second);
  waiting_.erase(it);
  waiting_on_.erase(id);
  stale_.erase(id);
  for (auto& cb : cbs) cb(r);
}

void ObjectManager::OnNodeDead(NodeId node) {
  if (!dead_.insert(node).second) return;
  // Transfers from it are over (their gets fail, or never answer).
  std::erase_if(transfers_, [&](const auto& kv) { return kv.second->holder == node; });
  std::vector<ObjectId> failed;
  for (const auto& [id, who] : waiting_on_)
    if (who == node || id.owner() == node) failed.push_back(id);
  for (const ObjectId& id : failed) {
    if (id.owner() == node) {
      Complete(id, OwnerDied(id));
    } else {
      Requery(id, "its holder " + node.ToString() + " died", /*now=*/true);
    }
  }
  std::erase_if(requests_, [&](const auto& kv) { return kv.second.owner() == node; });
  std::vector<LocateCallback> orphans;
  std::vector<ObjectId> orphan_ids;
  for (auto it = locates_.begin(); it != locates_.end();) {
    if (it->second.first.owner() != node) {
      ++it;
      continue;
    }
    orphan_ids.push_back(it->second.first);
    orphans.push_back(std::move(it->second.second));
    it = locates_.erase(it);
  }
  for (size_t i = 0; i < orphans.size(); ++i) {
    wire::ObjectValue dead;
    dead.kind = wire::ObjectValue::Kind::kError;
    dead.error = {wire::ErrorKind::kOwnerDied, "the owner of " + orphan_ids[i].ToString() +
                                                   " (" + node.ToString() + ") died"};
    orphans[i](dead);
  }
  // Its pins go.
  std::erase_if(pins_, [&](const auto& kv) { return kv.first.first == node; });
}

}  // namespace ferry::raylet
