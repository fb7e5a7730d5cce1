#include "src/raylet/object_manager.h"

#include "src/common/logging.h"

namespace ferry::raylet {

ObjectManager::ObjectManager(NodeId self, transport::Messenger* messenger,
                             transport::Transport* transport, store::ObjectStore* store)
    : self_(self), messenger_(messenger), transport_(transport), store_(store) {}

void ObjectManager::Resolve(const ObjectId& id, ResolveCallback cb) {
  if (auto local = store_->Get(id)) {
    cb(Resolved::Value(*local));
    return;
  }
  auto [it, first] = waiting_.try_emplace(id);
  it->second.push_back(std::move(cb));
  if (!first) return;
  uint64_t req = next_request_++;
  requests_[req] = id;
  waiting_on_[id] = id.owner();
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
  auto rit = requests_.find(reply.request_id);
  if (rit == requests_.end()) return;  // answered already (owner died and came back?)
  ObjectId id = rit->second;
  requests_.erase(rit);
  if (reply.value.kind == wire::ObjectValue::Kind::kLocation &&
      reply.value.location.node != self_) {
    waiting_on_[id] = reply.value.location.node;
    Fetch(id, reply.value.location);
    return;
  }
  Materialize(id, reply.value, [this, id](const Resolved& r) { Complete(id, r); });
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
        if (first) {
          waiting_on_[id] = value.location.node;
          Fetch(id, value.location);
        }
      }
      return;
  }
}

void ObjectManager::Fetch(const ObjectId& id, const wire::Location& loc) {
  // Straight into this rank's arena: the block becomes the cached secondary copy.
  Result<Buffer> block = store_->Allocate(loc.size);
  if (!block.ok()) {
    Complete(id, Resolved::Error(wire::ErrorKind::kObjectLost,
                                 "no room to fetch " + id.ToString() + ": " +
                                     block.status().ToString()));
    return;
  }
  Buffer dst = std::move(block).value();
  uint8_t* p = dst.mutable_data();
  Status st = transport_->Get(
      loc.node.value(), loc.address, loc.rkey, p, loc.size, [this, id, dst](Status done) {
        if (!done.ok()) {
          Complete(id,
                   Resolved::Error(wire::ErrorKind::kObjectLost,
                                   "transfer of " + id.ToString() + " failed: " + done.ToString()));
          return;
        }
        // Cached as a secondary copy; the owner frees it with the rest.
        (void)store_->Seal(id, dst, /*primary=*/false);
        Complete(id, Resolved::Value(dst));
      });
  if (!st.ok()) {
    Complete(id, Resolved::Error(wire::ErrorKind::kObjectLost, "cannot read " + id.ToString() +
                                                                   " from " + loc.node.ToString() +
                                                                   ": " + st.ToString()));
  }
}

void ObjectManager::Complete(const ObjectId& id, const Resolved& r) {
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  std::vector<ResolveCallback> cbs = std::move(it->second);
  waiting_.erase(it);
  waiting_on_.erase(id);
  for (auto& cb : cbs) cb(r);
}

void ObjectManager::OnNodeDead(NodeId node) {
  std::vector<ObjectId> failed;
  for (const auto& [id, who] : waiting_on_)
    if (who == node) failed.push_back(id);
  for (const ObjectId& id : failed) {
    bool owner = id.owner() == node;
    Complete(id, Resolved::Error(owner ? wire::ErrorKind::kOwnerDied : wire::ErrorKind::kObjectLost,
                                 (owner ? "the owner of " : "the node holding ") + id.ToString() +
                                     " (" + node.ToString() + ") died"));
  }
  std::erase_if(requests_, [&](const auto& kv) { return kv.second.owner() == node; });
}

}  // namespace ferry::raylet
