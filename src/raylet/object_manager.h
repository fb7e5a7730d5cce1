// ObjectManager: makes an object's bytes available on this rank. Asks the object's owner what
// it holds (GetObject / ObjectInfo), then uses the inline bytes, this rank's store, or reads
// the bytes from the holding rank: it asks the holder to pin the object and say where it is
// (PinObject / PinReply: the holder may have spilled and restored it), reads it with RMA gets
// of at most kChunkBytes, kMaxChunksInFlight at a time, straight into a block of this rank's
// arena that becomes a cached secondary copy, and unpins it. Concurrent requests for one
// object share one owner query and one transfer. It also serves the holder's side of pins.
// When the holder dies, it asks the owner again (the owner rebuilds the object from its
// lineage, or says it cannot); an answer that still names a dead holder (the owner has not
// learned of the death yet) is asked again after a short delay, for at most `stale_window`.
// An object whose owner died fails with OwnerDiedError.
// Confined to the event loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
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
  ObjectManager(NodeId self, EventLoop* loop, transport::Messenger* messenger,
                transport::Transport* transport, store::ObjectStore* store,
                std::chrono::milliseconds stale_window = std::chrono::milliseconds(10000));
  ~ObjectManager();

  // Asks the owner of `id` (possibly this process) and delivers the bytes here.
  void Resolve(const ObjectId& id, ResolveCallback cb);
  // Asks the owner of `id` what it is (inline bytes, a location or an error) once it is
  // ready, and moves no bytes: a raylet learns that a task's arguments exist before it
  // spends store memory fetching them (Materialize, with the answer). An object already in
  // this rank's store is answered at once as a location here.
  using LocateCallback = std::function<void(const wire::ObjectValue&)>;
  void Locate(const ObjectId& id, LocateCallback cb);
  // Delivers the bytes that `value` (an owner's answer) describes.
  void Materialize(const ObjectId& id, const wire::ObjectValue& value, ResolveCallback cb);
  // Owner replies to Resolve().
  void HandleObjectInfo(NodeId from, const Buffer& msg);
  // Holder side: pin and locate for a reader, and release.
  void HandlePinObject(NodeId from, const Buffer& msg);
  void HandleUnpinObject(NodeId from, const Buffer& msg);
  // Reader side: the holder's answer.
  void HandlePinReply(NodeId from, const Buffer& msg);

  static constexpr uint64_t kChunkBytes = 64ull << 20;
  static constexpr int kMaxChunksInFlight = 4;
  // A peer died: fail what waits on it (owner queries and transfers).
  void OnNodeDead(NodeId node);

 private:
  struct Transfer {
    ObjectId id;
    NodeId holder;
    uint64_t request = 0;
    wire::Location loc;  // from the holder's pin reply
    Buffer dst;
    uint64_t next = 0;  // offset of the next chunk to ask for
    int in_flight = 0;
    Status failed;
  };
  void Fetch(const ObjectId& id, const wire::Location& loc);
  // Asks `id`'s owner again; `now`: at once, else after a delay that grows with each try.
  // Fails the object once it has waited stale_window for an answer naming a live holder.
  void Requery(const ObjectId& id, const std::string& why, bool now);
  void SendQuery(const ObjectId& id);
  void RunRequeries();
  // The owner's answer `value` for an object some callers wait for (waiting_).
  void Deliver(const ObjectId& id, const wire::ObjectValue& value);
  Resolved OwnerDied(const ObjectId& id) const;
  void NextChunks(const std::shared_ptr<Transfer>& t);
  void FinishTransfer(const std::shared_ptr<Transfer>& t);
  void Complete(const ObjectId& id, const Resolved& r);

  const NodeId self_;
  EventLoop* const loop_;
  const std::chrono::milliseconds stale_window_;
  transport::Messenger* messenger_;
  transport::Transport* transport_;
  store::ObjectStore* store_;

  uint64_t next_request_ = 1;
  std::unordered_map<uint64_t, ObjectId> requests_;                     // request id -> object
  std::unordered_map<uint64_t, std::pair<ObjectId, LocateCallback>> locates_;  // Locate()s
  std::unordered_map<ObjectId, std::vector<ResolveCallback>> waiting_;  // one entry per object
  std::unordered_map<ObjectId, NodeId> waiting_on_;                     // whom each waits on
  std::unordered_map<uint64_t, std::shared_ptr<Transfer>> transfers_;    // by pin request id
  std::map<std::pair<NodeId, uint64_t>, Buffer> pins_;                   // (reader, request)
  std::unordered_set<NodeId> dead_;
  struct Stale {
    std::chrono::steady_clock::time_point since;  // first answer naming a dead holder
    int tries = 0;
    std::string why;
  };
  std::unordered_map<ObjectId, Stale> stale_;  // objects being asked for again
  std::vector<std::pair<std::chrono::steady_clock::time_point, ObjectId>> requery_due_;
  uint64_t requery_timer_ = 0;
};

}  // namespace ferry::raylet
