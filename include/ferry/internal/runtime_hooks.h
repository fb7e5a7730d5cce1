// The untyped entry points the public templates call. Implemented by the runtime (libferry).
// Thread-safe: callable from the driver, executor threads and any user thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"

namespace ferry::internal {

// One local handle on an object. The last copy of an ObjectRef dropping it tells the owner.
class RefHandle {
 public:
  RefHandle(ObjectId id, uint64_t epoch) : id_(id), epoch_(epoch) {}
  ~RefHandle();
  RefHandle(const RefHandle&) = delete;
  RefHandle& operator=(const RefHandle&) = delete;
  const ObjectId& id() const { return id_; }

 private:
  ObjectId id_;
  uint64_t epoch_;  // which Init() the handle belongs to; stale handles release nothing
};

struct ArgSpec {
  bool is_ref = false;
  Buffer value;                     // !is_ref
  ObjectId ref;                     // is_ref
  std::shared_ptr<RefHandle> keep;  // keeps a ref argument alive until submitted
};

// Where a task or actor may go (ferry::SchedulingStrategy and friends, untyped).
struct SchedulingOptions {
  uint8_t strategy = 0;  // 0 default, 1 spread, 2 node affinity
  NodeId affinity_node;
  bool soft = false;
  PlacementGroupId placement_group;
  int bundle_index = -1;
};

struct CallOptions {
  std::string name;
  std::unordered_map<std::string, double> resources;
  int max_retries = 3;
  bool retry_exceptions = false;
  SchedulingOptions scheduling;
};

// Collects the handles of every ObjectRef serialized on this thread while it lives (refs
// nested inside task arguments and Put values), so the submitter keeps them alive until the
// task has run or the value is freed. Scopes nest.
class RefCapture {
 public:
  RefCapture();
  ~RefCapture();
  RefCapture(const RefCapture&) = delete;
  RefCapture& operator=(const RefCapture&) = delete;
  std::vector<std::shared_ptr<RefHandle>> Take() { return std::move(refs_); }
  // The innermost live capture of this thread, or nullptr.
  static RefCapture* Current();
  void Add(const std::shared_ptr<RefHandle>& h) { refs_.push_back(h); }

 private:
  RefCapture* previous_;
  std::vector<std::shared_ptr<RefHandle>> refs_;
};
using Holds = std::vector<std::shared_ptr<RefHandle>>;

// Each throws ferry::RuntimeError when ferry is not initialized.
std::shared_ptr<RefHandle> SubmitTask(const std::string& function, std::vector<ArgSpec> args,
                                      const CallOptions& options, Holds nested = {});
// `borrowed`: `value` points at the caller's memory, valid only during the call (it is copied
// before PutObject returns).
std::shared_ptr<RefHandle> PutObject(Buffer value, bool borrowed = false, Holds nested = {});
// Blocks until the object is available; throws the ferry::Error subclass the object holds,
// or TimeoutError after `timeout_ms` (negative: no limit).
Buffer GetObject(const ObjectId& id, int64_t timeout_ms);
std::vector<Buffer> GetObjects(const std::vector<ObjectId>& ids, int64_t timeout_ms);
// Returns, for each id, whether it was ready when `num_ready` were ready or the timeout passed.
std::vector<bool> WaitObjects(const std::vector<ObjectId>& ids, size_t num_ready,
                              int64_t timeout_ms);
// A handle for an id that arrived inside a value (a borrowed or re-entered reference).
std::shared_ptr<RefHandle> AdoptRef(const ObjectId& id);

// What this process holds right now (the stats API of the object-store work will replace it).
struct LocalStats {
  size_t owned_objects = 0;  // objects this process owns (pending or ready)
  size_t pending_tasks = 0;  // tasks it submitted that have not completed
  uint64_t tasks_retried = 0;    // attempts it re-ran (node lost, or a retried exception)
  uint64_t objects_rebuilt = 0;  // re-runs it started to rebuild objects lost with a node
  uint64_t tasks_handed_back = 0;   // its tasks that leaving nodes handed back (no retry spent)
  uint64_t objects_taken_over = 0;  // its objects moved into its store from leaving nodes
  int64_t lineage_bytes = 0;     // task specs it keeps to rebuild objects (max_lineage_bytes)
  uint64_t memory_used = 0;      // the memory monitor's last reading of this node (bytes)
  uint64_t memory_total = 0;     // 0: no reading (no monitor)
  bool memory_pressure = false;  // above memory_usage_threshold: no new task starts here
  size_t store_objects = 0;  // objects in this rank's store (primary and cached copies)
  size_t store_bytes = 0;
  size_t store_primary_objects = 0;
  uint64_t store_capacity = 0;    // the arena's bytes
  uint64_t store_arena_used = 0;  // arena bytes allocated (objects and pinned blocks)
  size_t store_pinned_objects = 0;
  size_t store_heap_objects = 0;  // objects that did not fit in the arena
  uint64_t store_evicted_objects = 0;
  size_t store_spilled_objects = 0;  // on disk only, now
  uint64_t store_spilled_bytes = 0;
  uint64_t store_spill_count = 0;    // objects written to disk since start
  uint64_t store_restore_count = 0;  // objects read back since start
};
LocalStats GetLocalStats();

// One object this process owns or stores.
struct ObjectStats {
  ObjectId id;
  NodeId owner;
  uint64_t size = 0;      // 0 while pending or when unknown here
  std::string state;      // "pending", "inline" (owner memory), "in_store", "remote",
                          // "spilled", "failed"
  bool owned = false;     // this process is its owner
  bool stored = false;    // a copy is in this rank's store
  bool primary = false;   // ... and it is the primary copy
  bool pinned = false;    // ... held by a reader right now
  std::vector<NodeId> locations;  // owner only: every node that may hold a copy
};
std::vector<ObjectStats> ListLocalObjects();

// Thrown by ferry::ExitActor() through the user's method; the raylet catches it. Not a
// std::exception, so `catch (const std::exception&)` in user code does not swallow it.
struct ActorExitSignal {};

struct ActorCreateOptions {
  std::string name;
  std::string ns;
  std::string class_name;
  std::unordered_map<std::string, double> resources;
  int max_restarts = 0;
  int max_concurrency = 1;
  int max_task_retries = 0;
  bool detached = false;
  SchedulingOptions scheduling;
};

// Placement groups. `strategy` is ferry::PlacementStrategy's value. Create throws
// std::invalid_argument for bad bundles or a name in use.
PlacementGroupId CreatePlacementGroup(const std::string& name,
                                      const std::vector<std::unordered_map<std::string, double>>& bundles,
                                      int strategy);
void RemovePlacementGroup(const PlacementGroupId& id);
// 0 pending, 1 created, 2 removed (or unknown).
int PlacementGroupStateOf(const PlacementGroupId& id);
bool WaitPlacementGroup(const PlacementGroupId& id, double timeout_seconds);
struct PlacementGroupInfo {
  PlacementGroupId id;
  std::string name;
  std::vector<std::unordered_map<std::string, double>> bundles;
  int strategy = 0;
  int state = 0;
};
// By id, by name (when `name` is non-empty), or all live groups.
std::vector<PlacementGroupInfo> QueryPlacementGroups(const PlacementGroupId* id,
                                                     const std::string& name);

// Registers the actor with the GCS, which places it and runs `factory` there. A named actor
// waits for the GCS's answer and throws std::invalid_argument if the name is taken.
ActorId CreateActor(const std::string& factory, std::vector<ArgSpec> args,
                    const ActorCreateOptions& options, Holds nested = {});
std::shared_ptr<RefHandle> SubmitActorTask(const ActorId& actor, const std::string& method,
                                           std::vector<ArgSpec> args, const CallOptions& options,
                                           Holds nested = {});
// Waits until the GCS has applied the kill.
void KillActor(const ActorId& actor, bool no_restart);
// The live actor named `name` in namespace `ns`; throws std::invalid_argument if it is an actor
// of another class than `class_name`.
bool LookupActor(const std::string& name, const std::string& ns, const std::string& class_name,
                 ActorId* out);

}  // namespace ferry::internal
