// Raylet: the node agent of one rank. Receives task specs from owners, resolves their
// ObjectRef arguments (through the ObjectManager), waits for the resources each asks for
// (any names, fractions allowed; GPUs get device ids), runs bodies on the executor pool, and
// sends completions back to owners in batches: small results inline, large ones sealed in
// this rank's store with only their location sent. It reports its free resources and queue to
// the GCS, and forwards (spills back) queued tasks it has no room for to nodes the cluster view
// shows with room, telling their owners. It also hosts actors: the GCS asks it to run a
// factory (the actor then holds its resources until it dies), callers send method calls
// straight here, and each caller's calls start in the order they were submitted, at most
// max_concurrency at a time. Placement-group bundles are reserved here in two phases.
// A memory monitor reads the node's memory use periodically: above the threshold the raylet
// starts no new task or actor (they wait, or are forwarded to nodes with room) and reports
// nothing free, until use falls below it again.
// Confined to the event loop thread, except NotifyBlocked/NotifyUnblocked (thread-safe).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/function_registry.h"
#include "ferry/internal/runtime_hooks.h"
#include "src/common/event_loop.h"
#include "src/common/resources.h"
#include "src/scheduler/policy.h"
#include "src/raylet/executor_pool.h"
#include "src/raylet/memory_monitor.h"
#include "src/raylet/object_manager.h"
#include "src/transport/messenger.h"
#include "src/wire/messages.h"
#include "store/object_store.h"

namespace ferry::raylet {

struct RayletOptions {
  NodeId self;
  ResourceSet resources;     // what this node offers
  std::vector<int> gpu_ids;  // CUDA ordinals the GPU resource stands for
  int report_ms = 20;        // resource report period (when changed)
  int max_spillbacks = 2;    // forwards of one task before it just waits
  int64_t inline_threshold = 64 * 1024;
  int max_batch = 512;
  int executor_spin_us = 20;
  // Memory monitor: above this fraction in use, no new task starts (>= 1: never).
  double memory_threshold = 0.95;
  int memory_monitor_ms = 250;  // 0: no monitor
  std::function<MemoryUsage()> read_memory;  // default: ReadMemoryUsage()
};

class Raylet {
 public:
  Raylet(RayletOptions options, EventLoop* loop, transport::Messenger* messenger,
         ObjectManager* objects, store::ObjectStore* store);
  ~Raylet();

  void HandleSubmitTasks(NodeId from, const Buffer& msg);
  // Specs from an owner, already decoded (or never encoded: the owner in this process).
  void SubmitTasks(NodeId from, std::vector<wire::TaskSpec> specs);
  // Where completions for an owner in this process go, without encoding.
  // REQUIRES: before the loop starts.
  using ResultSink = std::function<void(NodeId from, std::vector<wire::TaskResult> results)>;
  void SetLocalResultSink(ResultSink sink) { local_results_ = std::move(sink); }
  // A completion is sent only once `settled()` (refs the task deserialized are registered
  // with their owners); otherwise `defer` queues it until then. REQUIRES: before the loop.
  void SetBorrowBarrier(std::function<bool()> settled,
                        std::function<void(std::function<void()>)> defer) {
    borrows_settled_ = std::move(settled);
    defer_until_settled_ = std::move(defer);
  }
  void HandleFreeObjects(NodeId from, const Buffer& msg);
  // The owner of these results holds their nested refs now: drop ours.
  void HandleReleaseResultRefs(NodeId from, const Buffer& msg);
  // A peer died: refs kept for its results go.
  void OnNodeDead(NodeId node);
  // From the GCS: run an actor's factory here / drop an actor's instance.
  void HandleActorCreate(NodeId from, const Buffer& msg);
  void HandleActorDestroy(NodeId from, const Buffer& msg);
  size_t live_actors() const { return actors_.size(); }
  // The memory monitor's last reading, and whether it holds new tasks back.
  const MemoryUsage& memory() const { return memory_; }
  bool memory_pressure() const { return memory_pressure_; }
  // Reads memory use now (the timer's work; public for tests).
  void CheckMemory();
  // Starts the periodic resource reports to the GCS. REQUIRES: on the loop.
  void Start();
  // The cluster view as the GCS broadcast it (kClusterView), for spillback.
  void ApplyClusterView(const std::vector<wire::NodeState>& states);
  // Placement-group bundles (two-phase reservation driven by the GCS).
  void HandlePgPrepare(NodeId from, const Buffer& msg);
  void HandlePgCommit(NodeId from, const Buffer& msg);
  void HandlePgRelease(NodeId from, const Buffer& msg);
  // Graceful leave. From now on no task starts here that has not started yet: queued ones and
  // later arrivals go back to their owners (kTaskForwarded naming no node), which place them
  // elsewhere without spending a retry. Running tasks finish; actor calls are still served.
  void BeginDrain();
  bool draining() const { return draining_; }
  // After the grace period: the tasks still running are handed back too (whatever they
  // return is not sent). Returns how many.
  size_t ReturnRunning();
  // No normal task is queued, locating or fetching arguments, or running here.
  bool Idle() const;
  // Sends the results waiting to be batched now.
  void FlushNow();
  // Joins the executors after running tasks finish. Queued tasks are dropped. Called from
  // the main thread while the loop still runs; idempotent.
  void Stop();

  // Thread-safe: a task body is about to block in Get/Wait (its CPU is lent to others until
  // NotifyUnblocked), so nested tasks can run even when every CPU is taken by a waiting parent.
  void NotifyBlocked(double cpus);
  void NotifyUnblocked(double cpus);


 private:
  struct LocalActor;
  struct Task {
    wire::TaskSpec spec;
    NodeId owner;
    std::vector<Buffer> args;
    size_t unresolved = 0;
    // What each ObjectRef argument is, once its owner said it is ready (before admission).
    std::vector<wire::ObjectValue> located;
    size_t unlocated = 0;
    bool failed = false;
    wire::ErrorInfo error;
    std::shared_ptr<LocalActor> actor;  // actor creations and calls
    ResourceSet demand;                 // what it holds while it runs (creations: for life)
    std::vector<int> gpus;              // GPU ids assigned while it runs
    bool holds_args = false;            // counted in args_admitted_
    bool returned = false;              // handed back to its owner while it ran (drain)
    int64_t run_ns = 0;                 // how long its body ran (set by the executor)
    // Refs serialized into the result, held until the result's owner holds them too.
    std::vector<std::shared_ptr<internal::RefHandle>> result_refs;
  };
  // One hosted actor instance (one incarnation).
  struct LocalActor {
    ActorId id;
    uint32_t incarnation = 0;
    std::string class_name;
    int max_concurrency = 1;
    ResourceSet demand;
    std::vector<int> gpus;
    void* instance = nullptr;  // set once the factory returned
    internal::Deleter deleter = nullptr;
    bool ready = false;      // the factory returned
    bool holds_resources = false;  // `demand` is taken from available_
    bool dying = false;      // killed or exited: runs nothing more
    int running = 0;
    // Calls waiting to start, per caller, in submission order; served round-robin.
    std::vector<std::pair<NodeId, std::deque<std::shared_ptr<Task>>>> queues;
    size_t next_queue = 0;
  };

  // A task for `spec` with its inline arguments in place; its ObjectRef arguments are counted
  // in `unresolved` until ResolveArgs delivers them through `done`.
  std::shared_ptr<Task> NewTask(NodeId owner, wire::TaskSpec&& spec);
  using ArgDone = void (Raylet::*)(const std::shared_ptr<Task>&, size_t, const Resolved&);
  void ResolveArgs(const std::shared_ptr<Task>& task, ArgDone done);
  // A task's ObjectRef arguments are first located (their owners say they exist; nothing is
  // fetched, no admission slot is held), then admitted and fetched. A task waiting for an
  // argument that another queued task will produce thus never blocks that task's admission.
  void LocateArgs(const std::shared_ptr<Task>& task);
  void FetchArgs(const std::shared_ptr<Task>& task);
  void ArgResolved(const std::shared_ptr<Task>& task, size_t index, const Resolved& r);
  void Dispatch();
  // Tasks that wait for resources, grouped by demand: within a group the first task waits
  // for all, so one check per group tells what can start.
  struct ShapeQueue {
    ResourceSet demand;
    std::deque<std::shared_ptr<Task>> tasks;
    int64_t last_run_ns = -1;  // how long the last task of this shape ran; -1: none yet
  };
  // Short tasks run in chains: when a shape's tasks take less than kChainTaskNs and no room
  // is left for another of them, the executor that starts one is handed up to kChainMax of
  // the queue, run back to back under the same resources. A queued task would wait for
  // those resources anyway; the chain saves a round trip through the loop (and on a small
  // machine two thread wake-ups) per task. A body that blocks in Get, or one that runs
  // longer than kChainTaskNs, gives the rest back.
  static constexpr int64_t kChainTaskNs = 100'000;
  static constexpr size_t kChainMax = 32;
  // The tasks of a chain not started yet, owned by the executor thread that runs it.
  struct Chain {
    std::vector<std::shared_ptr<Task>> rest;
    size_t next = 0;
    // Takes the tasks not started yet (the chain ends with the one running).
    std::vector<std::shared_ptr<Task>> TakeRest();
  };
  static thread_local Chain* t_chain_;
  // Loop thread: tasks a chain gave back go to the front of their queue again (or back to
  // their owners, when this node is draining).
  void Requeue(std::vector<std::shared_ptr<Task>> tasks);
  void PushReady(std::shared_ptr<Task> task);
  // Takes / gives back a task's resources (and GPU ids).
  void Acquire(Task& task);
  void Release(const ResourceSet& demand, const std::vector<int>& gpus);
  // Forwards queued tasks this node has no room for to nodes that have (spillback).
  void Spillback();
  // kPinned: it may not move (an actor creation, hard affinity, forwarded enough times);
  // kNoRoom: no other node has room for it now.
  enum class ForwardOutcome { kForwarded, kPinned, kNoRoom };
  ForwardOutcome Forward(const std::shared_ptr<Task>& task);
  void FlushForwards();
  // Hands a task that has not run back to its owner (drain).
  void ReturnTask(const std::shared_ptr<Task>& task);
  void Report();
  wire::NodeState CurrentState() const;
  // Queued tasks whose demand names a resource this node no longer has (a removed group).
  void FailStranded();
  // Starts resolving the ObjectRef arguments of waiting tasks while fewer than
  // max_args_admitted_ tasks hold (or are fetching) their arguments: queued work does not pin
  // more of the store than the node is about to use.
  void AdmitArgs();
  void ReleaseArgSlot(const std::shared_ptr<Task>& task);
  // The closure an executor thread runs for `task` (an actor creation, or a normal task
  // followed by the chain `rest`).
  std::function<void()> MakeBody(std::shared_ptr<Task> task,
                                 std::vector<std::shared_ptr<Task>> rest = {});
  // Runs a normal task's body on the calling executor thread.
  void RunBody(Task& task, Buffer& result, wire::ErrorInfo& error);
  void Finished(const std::shared_ptr<Task>& task, Buffer result, wire::ErrorInfo error);
  void SubmitActorCall(NodeId from, wire::TaskSpec spec);
  void ActorArgResolved(const std::shared_ptr<Task>& task, size_t index, const Resolved& r);
  void DispatchActor(const std::shared_ptr<LocalActor>& actor);
  std::function<void()> MakeActorBody(std::shared_ptr<Task> task);
  void CreationDone(const std::shared_ptr<Task>& task, void* instance, std::string error);
  // Fails the queued calls with ActorDiedError(`why`), releases the CPUs, and destroys the
  // instance once no call runs.
  void DropActor(std::shared_ptr<LocalActor> actor, const std::string& why);
  void MaybeDestroyInstance(const std::shared_ptr<LocalActor>& actor);
  void ReportToGcs(wire::MsgType type, const LocalActor& actor, bool ok, std::string message);
  void Reply(NodeId owner, wire::TaskResult result);
  void FlushReplies();
  void SendResults(NodeId owner, std::vector<wire::TaskResult> batch);

  // Immutable after construction.
  const RayletOptions options_;
  EventLoop* const loop_;
  transport::Messenger* const messenger_;
  ObjectManager* const objects_;
  store::ObjectStore* const store_;

  // Confined to the loop.
  std::vector<ShapeQueue> shapes_;
  size_t ready_count_ = 0;
  std::deque<std::shared_ptr<Task>> awaiting_args_;  // not admitted yet
  size_t args_admitted_ = 0;
  size_t locating_ = 0;  // tasks whose arguments are not all located yet
  size_t max_args_admitted_ = 4;
  ResourceSet total_;
  ResourceSet available_;
  std::vector<std::pair<int, int64_t>> gpu_free_;  // per GPU id: free units
  // Spillback.
  scheduler::ClusterView view_;
  std::unordered_map<NodeId, size_t> view_index_;
  uint64_t rotate_ = 0;
  std::unordered_map<NodeId, std::vector<wire::TaskSpec>> forward_out_;
  std::unordered_map<NodeId, std::vector<std::pair<TaskId, NodeId>>> forward_notes_;
  bool forward_posted_ = false;
  // Drain.
  bool draining_ = false;
  std::unordered_set<std::shared_ptr<Task>> running_;  // normal tasks on executors
  // Memory monitor.
  uint64_t memory_timer_ = 0;
  MemoryUsage memory_;
  bool memory_pressure_ = false;
  // Reports.
  uint64_t report_timer_ = 0;
  wire::NodeState last_report_;
  bool reported_ = false;
  // Placement-group bundles, prepared or committed here.
  struct Bundles {
    std::vector<int32_t> indices;
    std::vector<ResourceSet> bundles;
    bool committed = false;
  };
  std::unordered_map<PlacementGroupId, Bundles> groups_;
  // Groups removed here lately: work of theirs that arrives (or finishes locating its
  // arguments) afterwards fails at once instead of waiting for resources that are gone.
  std::deque<PlacementGroupId> removed_groups_;
  // The removed group `task` belongs to, if any (nil otherwise).
  PlacementGroupId RemovedGroupOf(const Task& task) const;
  void FailRemovedGroupTask(const std::shared_ptr<Task>& task, const PlacementGroupId& pg);
  std::unordered_map<NodeId, std::vector<wire::TaskResult>> replies_;
  bool flush_posted_ = false;
  bool stopped_ = false;
  ResultSink local_results_;
  std::function<bool()> borrows_settled_;
  std::function<void(std::function<void()>)> defer_until_settled_;
  std::atomic<bool> stop_called_{false};
  std::unordered_map<ActorId, std::shared_ptr<LocalActor>> actors_;
  std::unordered_set<NodeId> dead_;
  std::unordered_map<ObjectId, std::vector<std::shared_ptr<internal::RefHandle>>> result_refs_;
  std::vector<std::shared_ptr<LocalActor>> stopped_actors_;  // destroyed after the pool stops

  std::unique_ptr<ExecutorPool> pool_;
};

// The raylet whose executor runs the calling thread's task, or nullptr (driver thread).
// Set by the executor around each task body.
Raylet* CurrentRaylet();
double CurrentTaskCpus();
// The GPU ids (CUDA ordinals) assigned to the calling thread's task or actor.
const std::vector<int>& CurrentGpuIds();
// Whether the calling thread runs an actor's factory or method, and whether that actor is a
// restarted incarnation.
bool InActor();
bool CurrentActorRestarted();

}  // namespace ferry::raylet
