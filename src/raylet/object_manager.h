// ObjectManager: makes an object's bytes available on this rank. Asks the object's owner what
// it holds (GetObject / ObjectInfo), then uses the inline bytes, this rank's store, or reads the
// bytes from the holding rank with one RMA get into a local buffer that is cached in the store
// as a secondary copy. Concurrent requests for one object share one owner query and one
// transfer. Confined to the event loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "src/transport/messenger.h"
#include "src/transport/transport.h"
#include "src/wire/messages.h"
#include "store/object_store.h"

namespace ferry::raylet {

using internal::Buffer;

// An object's bytes, or why there are none.
struct Resolved {
  bool ok = false;
  Buffer data;
  wire::ErrorInfo error;
  static Resolved Value(Buffer b) { return {true, std::move(b), {}}; }
  static Resolved Error(wire::ErrorKind kind, std::string msg) {
    return {false, {}, {kind, std::move(msg)}};
  }
};
using ResolveCallback = std::function<void(const Resolved&)>;

class ObjectManager {
 public:
  ObjectManager(NodeId self, transport::Messenger* messenger, transport::Transport* transport,
                store::ObjectStore* store);

  // Asks the owner of `id` (possibly this process) and delivers the bytes here.
  void Resolve(const ObjectId& id, ResolveCallback cb);
  // Delivers the bytes that `value` (an owner's answer) describes.
  void Materialize(const ObjectId& id, const wire::ObjectValue& value, ResolveCallback cb);
  // Owner replies to Resolve().
  void HandleObjectInfo(NodeId from, const Buffer& msg);
  // A peer died: fail what waits on it (owner queries and transfers).
  void OnNodeDead(NodeId node);

 private:
  void Fetch(const ObjectId& id, const wire::Location& loc);
  void Complete(const ObjectId& id, const Resolved& r);

  const NodeId self_;
  transport::Messenger* messenger_;
  transport::Transport* transport_;
  store::ObjectStore* store_;

  uint64_t next_request_ = 1;
  std::unordered_map<uint64_t, ObjectId> requests_;                     // request id -> object
  std::unordered_map<ObjectId, std::vector<ResolveCallback>> waiting_;  // one entry per object
  std::unordered_map<ObjectId, NodeId> waiting_on_;                     // whom each waits on
};

}  // namespace ferry::raylet
