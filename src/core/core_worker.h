// CoreWorker: the owner side of this process. Submits tasks straight to the chosen raylet (no
// round trip to the head), keeps every owned object's state, value or location, counts its
// references (local handles and pending task arguments) and frees every copy at zero, and
// answers other ranks' GetObject queries about the objects it owns. For actors it registers
// creations with the GCS, learns from the GCS where each actor it calls lives (queueing calls
// until the actor is alive), sends calls straight to the hosting raylet in submission order,
// and resends calls lost to a restart when the actor's max_task_retries allows.
// Thread-safe entry points are marked; everything else is confined to the event loop thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/ids.h"
#include "src/common/event_loop.h"
#include "src/raylet/object_manager.h"
#include "src/scheduler/policy.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"
#include "store/object_store.h"

namespace ferry::core {

using internal::Buffer;
using raylet::ResolveCallback;
using raylet::Resolved;

struct CoreOptions {
  NodeId self;
  int64_t inline_threshold = 64 * 1024;
  int max_batch = 512;
  // Most bytes of task specs kept to rebuild lost objects; beyond, the oldest are dropped.
  int64_t max_lineage_bytes = int64_t{1} << 30;
};

struct CoreStats {
  size_t owned_objects = 0;
  size_t pending_tasks = 0;
  int64_t lineage_bytes = 0;  // specs kept to rebuild lost objects
  uint64_t tasks_retried = 0;
  uint64_t objects_rebuilt = 0;  // re-runs started to rebuild a lost object
  uint64_t tasks_handed_back = 0;   // by leaving nodes, placed again (no retry spent)
  uint64_t objects_taken_over = 0;  // primary copies moved here from leaving nodes
};

class CoreWorker {
 public:
  CoreWorker(CoreOptions options, EventLoop* loop, transport::Messenger* messenger,
             raylet::ObjectManager* objects, store::ObjectStore* store);

  // Loop thread. REQUIRES: before the first submission is handled.
  void SetClusterView(scheduler::ClusterView view);

  // Thread-safe. A fresh id for a task (and its return object, index 0) or a Put.
  TaskId NewTaskId() {
    return TaskId{options_.self, next_seq_.fetch_add(1, std::memory_order_relaxed)};
  }
  // Opaque handles on objects (refs nested in an argument or a value) kept alive by a pending
  // task or a stored value.
  using Holds = std::vector<std::shared_ptr<const void>>;
  // Thread-safe. Records and places the task; `spec.id`/`return_id` already set. The caller
  // already holds a local handle on spec.return_id. `holds` live until the task completes.
  void Submit(wire::TaskSpec&& spec, Holds&& holds);
  // Thread-safe. Stores a value the caller owns under `id`; the caller holds one handle.
  // `holds` (refs inside the value) live as long as the object.
  void Put(const ObjectId& id, Buffer value, Holds holds = {});
  // Thread-safe. Local handle bookkeeping; a handle on another owner's object is a no-op.
  void AddLocalRef(const ObjectId& id);
  void RemoveLocalRef(const ObjectId& id);

  // Loop thread. Delivers the object's bytes (or error) to `cb`, wherever its owner is.
  void GetAsync(const ObjectId& id, ResolveCallback cb);
  // Loop thread. Calls `cb` once the object is ready or failed (no bytes moved).
  void WhenReady(const ObjectId& id, std::function<void()> cb);

  void HandleTaskDone(NodeId from, const Buffer& msg);
  // Completions already decoded (or never encoded: the raylet in this process).
  void HandleTaskResults(NodeId from, std::vector<wire::TaskResult> results);
  // Where specs placed on this process's own node go, without encoding.
  // REQUIRES: before the loop starts.
  void SetLocalRaylet(std::function<void(std::vector<wire::TaskSpec>)> submit) {
    local_raylet_ = std::move(submit);
  }
  void HandleGetObject(NodeId from, const Buffer& msg);
  // A node died (`why`: how that was learned). Tasks that ran there are re-run elsewhere
  // while their retries last, objects whose primary copy was there are rebuilt from their
  // lineage when something still needs them, and actor calls are resent or failed.
  void OnNodeDead(NodeId node, const std::string& why);

  using GcsReply = std::function<void(const wire::ActorEvent&)>;
  // Thread-safe. A fresh id for a request to the GCS.
  uint64_t NewRequestId() { return next_request_.fetch_add(1, std::memory_order_relaxed); }
  // Thread-safe. Registers an actor creation with the GCS. When
  // spec.actor_options->request_id is set, `on_reply` runs on the loop with the GCS's answer.
  // `holds` (refs inside the factory's arguments, borrowed ref arguments) live until the actor
  // is dead, since a restart re-runs the factory.
  void CreateActor(wire::TaskSpec spec, GcsReply on_reply, Holds holds = {});
  // Thread-safe. Sends a kill or lookup to the GCS; `on_reply` runs on the loop.
  void RequestGcs(wire::MsgType type, wire::ActorEvent request, GcsReply on_reply);
  void HandleActorUpdate(NodeId from, const Buffer& msg);
  // Thread-safe. Sends a placement-group request to the GCS (request_id is set here);
  // `on_reply` runs on the loop with the answer: its header first, then the groups.
  using PgReply = std::function<void(const std::vector<wire::PgEvent>&)>;
  void RequestPg(wire::MsgType type, wire::PgEvent request, PgReply on_reply);
  void HandlePgReply(NodeId from, const Buffer& msg);
  void HandleActorReply(NodeId from, const Buffer& msg);
  // The cluster view the GCS broadcast; pending infeasible tasks retry against it.
  void ApplyClusterView(const std::vector<wire::NodeState>& states);
  // A raylet spilled our tasks back to another node.
  void HandleTaskForwarded(NodeId from, const Buffer& msg);
  // A node that is leaving hands over the primary copies it holds of objects this process
  // owns (kHandOff): each is fetched into this process's store, becomes its primary copy
  // there, and the holder is told which were taken (kHandOffDone) once all are done.
  void HandleHandOff(NodeId from, const Buffer& msg);
  // Loop thread. Tasks of this process that no node can run (yet), with the reason.
  struct Infeasible {
    TaskId task;
    std::string name;
    ResourceSet demand;
    std::string reason;
  };
  std::vector<Infeasible> InfeasibleTasks() const;
  // Loop thread. The view this owner places against.
  const scheduler::ClusterView& cluster_view() const { return view_; }

  // Borrowing: handles on another owner's objects register this process with that owner.
  void HandleAddBorrower(NodeId from, const Buffer& msg);
  void HandleBorrowerAck(NodeId from, const Buffer& msg);
  void HandleRemoveBorrower(NodeId from, const Buffer& msg);
  // Loop thread. Whether every borrower registration sent has been acknowledged; if not,
  // WhenBorrowsSettled queues `cb` until they are. A raylet reports a task's completion only
  // then, so an owner always learns of a borrower before the submitter can drop its own hold.
  bool BorrowsSettled() const { return borrow_acks_.empty(); }
  void WhenBorrowsSettled(std::function<void()> cb);

  CoreStats stats() const {
    return {owned_.size(),     pending_.size(),    lineage_bytes_, tasks_retried_,
            objects_rebuilt_, tasks_handed_back_, objects_taken_over_};
  }
  // Loop thread. Calls fn(id, ready, value, copies) for every owned object.
  template <typename Fn>
  void ForEachOwned(Fn&& fn) const {
    for (const auto& [id, obj] : owned_) fn(id, obj.ready, obj.value, obj.copies);
  }

  // Thread-safe. The value of an owned object that is ready and small enough to live inline
  // (or its error), without a trip through the loop; nothing if it is not (yet) known here.
  std::optional<Resolved> TryGetReady(const ObjectId& id) const;
  // Thread-safe. The same for many objects under one lock: out[i] is set for each one known
  // here, and the indices of the others are appended to `missing`. REQUIRES: out->size() ==
  // ids.size().
  void TryGetReadyMany(const std::vector<ObjectId>& ids, std::vector<Resolved>* out,
                       std::vector<size_t>* missing) const;

 private:
  struct Owned {
    bool ready = false;
    wire::ObjectValue value;
    int local_refs = 0;
    int task_refs = 0;           // pending tasks that take it as an argument
    bool producing = false;      // its task has not completed yet
    std::vector<NodeId> copies;  // every node that may hold its bytes
    std::vector<std::function<void()>> on_ready;
    std::vector<std::pair<NodeId, uint64_t>> remote_waiters;  // GetObject requests
    std::vector<NodeId> borrowers;  // processes holding refs to it
    Holds holds;                    // refs inside its value (a Put's)
    std::vector<ObjectId> nested;   // refs inside its value (a task result's), held here
    // Lineage: the spec of the task that stored it (task results kept in a store only), to
    // re-run if its copy is lost. Other objects' lineage naming it as an argument count in
    // lineage_refs: while any does, its entry (and lineage) outlives its value, so that a
    // rebuild can rebuild it first (`released`: the value was freed, nothing holds it).
    std::shared_ptr<const wire::TaskSpec> lineage;
    int64_t lineage_bytes = 0;
    uint64_t lineage_seq = 0;  // its place in lineage_order_
    int lineage_refs = 0;
    bool released = false;
    bool lineage_dropped = false;  // dropped to stay within max_lineage_bytes
  };
  struct Pending {
    NodeId node;
    ResourceSet demand;
    std::vector<ObjectId> owned_args;
    bool actor_call = false;
    // Normal tasks keep their spec (to re-run it, and as the result's lineage); actor calls
    // that may be resent after a restart keep theirs.
    std::shared_ptr<wire::TaskSpec> retry_spec;
    Holds holds;  // refs nested in its argument values
  };
  // What this process knows of an actor it created or calls.
  struct ActorRoute {
    bool known = false;  // the GCS has told us its state
    bool subscribed = false;
    wire::ActorState state = wire::ActorState::kPending;
    NodeId node;
    int32_t max_task_retries = 0;
    std::string death;
    std::vector<wire::TaskSpec> queued;   // calls waiting for it to be alive
    std::vector<ObjectId> creation_args;  // creator: owned factory args, pinned while it lives
    Holds creation_holds;                 // creator: other refs the factory's arguments need
  };

  void DoSubmit(wire::TaskSpec&& spec, Holds&& holds);
  void SendRemoveBorrowers();
  // One more / one less handle on `id` in this process: an owned object's local count, or a
  // borrowed object's (registering with / leaving its owner at the first / last).
  void AddRef(const ObjectId& id);
  void ReleaseRef(const ObjectId& id);
  // `p` is the task's entry in pending_.
  void Place(wire::TaskSpec&& spec, Pending& p);
  void RetryInfeasible();
  void FlushSubmissions();
  void SendSpecs(NodeId node, std::vector<wire::TaskSpec> batch);
  void SetReady(const ObjectId& id, wire::ObjectValue value);
  void ReplyObjectInfo(NodeId to, uint64_t request_id, const ObjectId& id, Owned& obj);
  void MaybeFree(const ObjectId& id);
  void AddCopy(Owned& obj, NodeId node);
  // Drops the task references that pending work held on owned objects.
  void ReleaseArgs(const std::vector<ObjectId>& args);
  void RouteActorCall(wire::TaskSpec spec);
  void SendActorCall(ActorRoute& route, wire::TaskSpec spec);
  void Subscribe(const ActorId& id, ActorRoute& route);
  void ApplyActorEvent(const wire::ActorEvent& ev);
  // Ends a pending task with an error, releasing its arguments.
  void FailTask(const TaskId& task, wire::ErrorKind kind, const std::string& message);
  // An actor call came back with ActorDiedError (or its node died): resend it if retries are
  // left and the actor may come back, else fail it. Returns true if it was resent.
  bool RetryActorCall(Pending& p);
  // Re-places a normal task whose attempt was lost or threw, if it has retries left.
  // Returns false (and changes nothing) if it has none.
  bool RetryTask(Pending& p);
  // Lineage of an owned object stored by a task (see Owned::lineage).
  void RetainLineage(const ObjectId& id, std::shared_ptr<const wire::TaskSpec> spec);
  // Forgets `id`'s lineage; `evicted`: for max_lineage_bytes (the error of a later loss says).
  void DropLineage(const ObjectId& id, bool evicted);
  // Drops the oldest lineage until the total fits max_lineage_bytes.
  void TrimLineage();
  // `id`'s value is lost: re-run its task (rebuilding lost arguments first, recursively).
  // Returns false, and stores ObjectLostError naming `cause` and why, if it cannot be rebuilt.
  bool Reconstruct(const ObjectId& id, const std::string& cause);
  // Whether an owned argument must be rebuilt before a task that reads it can run.
  bool NeedsRebuild(const Owned& obj) const;
  void Enqueue(NodeId node, wire::TaskSpec&& spec);
  // Immutable after construction.
  const CoreOptions options_;
  EventLoop* const loop_;
  transport::Messenger* const messenger_;
  raylet::ObjectManager* const objects_;
  store::ObjectStore* const store_;

  std::atomic<uint64_t> next_seq_{1};
  std::atomic<uint64_t> next_request_{1};

  // Confined to the loop.
  scheduler::ClusterView view_;
  std::unordered_map<NodeId, size_t> view_index_;
  uint64_t rotate_ = 0;
  std::unordered_map<ObjectId, Owned> owned_;
  std::unordered_map<TaskId, Pending> pending_;
  std::unordered_set<NodeId> dead_;
  int64_t lineage_bytes_ = 0;
  uint64_t lineage_seq_ = 0;
  std::deque<std::pair<ObjectId, uint64_t>> lineage_order_;  // oldest first; stale entries skipped
  uint64_t tasks_retried_ = 0;
  uint64_t tasks_handed_back_ = 0;
  std::unordered_set<NodeId> left_;  // dead nodes that left gracefully (drained)
  // Tasks a leaving node handed back before this owner learnt they were forwarded there.
  std::unordered_map<TaskId, NodeId> early_handbacks_;
  uint64_t objects_taken_over_ = 0;
  uint64_t objects_rebuilt_ = 0;
  std::vector<wire::TaskSpec> infeasible_;
  std::vector<std::string> infeasible_reasons_;  // parallel to infeasible_
  bool warned_infeasible_ = false;
  std::unordered_map<NodeId, std::vector<wire::TaskSpec>> outgoing_;
  bool flush_posted_ = false;
  std::function<void(std::vector<wire::TaskSpec>)> local_raylet_;
  std::unordered_map<ActorId, ActorRoute> actors_;
  std::unordered_map<uint64_t, GcsReply> gcs_waiters_;
  std::unordered_map<uint64_t, PgReply> pg_waiters_;
  // Borrowing (this process as a borrower).
  std::unordered_map<ObjectId, int> borrowed_;       // local handles per borrowed object
  std::unordered_map<uint64_t, NodeId> borrow_acks_;  // AddBorrower sent, not yet acked
  std::vector<ObjectId> deferred_removes_;           // RemoveBorrower waiting for those acks
  std::vector<std::function<void()>> after_borrows_;

  // The owner's memory store: a thread-safe copy of every ready inline (or failed) owned
  // object, so Get on the driver or a task needs no loop round trip. Written on the loop.
  mutable std::mutex ready_mu_;
  std::unordered_map<ObjectId, Resolved> ready_;  // Guarded by ready_mu_.
};

}  // namespace ferry::core
