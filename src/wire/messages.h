// Control messages between ranks and their codec. Every message starts with the wire version
// byte; batches (task specs, completions, frees) carry a count. Decoding is bounds-checked and
// zero-copy: inline values come back as slices of the received buffer.
// Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"
#include "src/common/resources.h"
#include "src/common/status.h"

namespace ferry::wire {

using internal::Buffer;

enum class MsgType : uint16_t {
  kSubmitTasks = 1,  // owner -> raylet: TaskSpec batch
  kTaskDone = 2,     // raylet -> owner: TaskResult batch
  kGetObject = 3,    // borrower -> owner: where is / what is this object
  kObjectInfo = 4,   // owner -> borrower: the answer, once the object is ready
  kFreeObjects = 5,  // owner -> holder: drop these copies
  kHeartbeat = 6,    // head -> worker
  kShutdown = 7,     // head -> worker
  kShutdownAck = 8,  // worker -> head
  // Actors. The GCS (head) keeps the actor table; callers send method calls as kSubmitTasks
  // straight to the hosting raylet.
  kActorRegister = 9,    // creator -> GCS: creation spec (one TaskSpec)
  kActorReply = 10,      // GCS -> requester: answer to register, kill, lookup (ActorEvent)
  kActorCreate = 11,     // GCS -> raylet: run the factory (one TaskSpec)
  kActorCreated = 12,    // raylet -> GCS: the factory returned or threw (ActorEvent)
  kActorUpdate = 13,     // GCS -> subscribers: state, node (ActorEvent)
  kActorSubscribe = 14,  // caller -> GCS: send me this actor's state now and on change
  kActorKill = 15,       // caller -> GCS: kill (flag: no restart)
  kActorDestroy = 16,    // GCS -> raylet: drop the instance (ActorEvent with the reason)
  kActorExited = 17,     // raylet -> GCS: a method called ExitActor()
  kActorLookup = 18,     // caller -> GCS: the live actor with this name
  kClusterView = 19,     // GCS -> every node: changed entries of the cluster view (NodeState)
  // Reading an object from the rank that holds it: pin it and say where it is now (a spilled
  // object is restored first), read it with RMA, unpin.
  kPinObject = 20,    // reader -> holder (GetObjectRequest)
  kPinReply = 21,     // holder -> reader (ObjectInfoReply: location or error)
  kUnpinObject = 22,  // reader -> holder (GetObjectRequest, same request id)
  // Borrowers: a process holding refs to another owner's object registers with the owner,
  // which keeps the object while any borrower holds it.
  kAddBorrower = 23,     // borrower -> owner (GetObjectRequest)
  kBorrowerAck = 24,     // owner -> borrower (GetObjectRequest, same request id)
  kRemoveBorrower = 25,  // borrower -> owner (FreeObjects encoding: ids no longer held)
  kReleaseResultRefs = 26,  // result owner -> executing rank (FreeObjects encoding: return ids)
  // Scheduling.
  kResourceReport = 27,  // raylet -> GCS: its totals, what is free, how many tasks wait (NodeState)
  kTaskForwarded = 28,   // raylet -> owner: these tasks were spilled back to that node
  // Placement groups (PgEvent). The GCS reserves bundles in two phases: prepare on every node
  // involved, then commit; a failed prepare releases what the others reserved.
  kPgCreate = 29,    // owner -> GCS
  kPgReply = 30,     // GCS -> requester: answer to create, remove, query (one or more groups)
  kPgPrepare = 31,   // GCS -> raylet: reserve these bundles
  kPgPrepared = 32,  // raylet -> GCS: reserved or not (flag)
  kPgCommit = 33,    // GCS -> raylet: the reservation is the group's now
  kPgRelease = 34,   // GCS -> raylet: give the bundles back (cancelled or removed)
  kPgRemove = 35,    // owner -> GCS
  kPgQuery = 36,     // owner -> GCS: by id, by name, or all
  // Failure detection (NodeDeaths). A worker that lost its connection to a peer tells the
  // head; the head, which also declares silent nodes dead, tells every live node.
  kNodeDead = 37,  // worker -> GCS: suspected; GCS -> every node: declared dead
  // Membership after bootstrap. A process joins through the head's listener: it asks
  // (kJoinRequest, from a provisional index), the head answers at its worker address
  // (kJoinReply: its node id and the live members, or why not), the joiner connects to the
  // members and says it is ready, and only then does the head announce it (kNodeJoined) and
  // start placing work there.
  kJoinRequest = 38,  // joiner -> GCS (JoinRequest)
  kJoinReply = 39,    // GCS -> joiner (JoinReply)
  kJoinReady = 40,    // joiner -> GCS: connected and serving
  kNodeJoined = 41,   // GCS -> every other live node (MemberInfo)
  // Leaving gracefully (drain). Anyone asks the GCS (NodeDeaths encoding: node, reason); the
  // GCS stops placing work there and tells the node. The node hands queued tasks back to their
  // owners (kTaskForwarded naming no node), lets running ones finish, hands the primary copies
  // it holds to their owners (kHandOff, ids; answered by kHandOffDone, the ids taken), then
  // says it is done (kLeave); the GCS lets it go (kShutdown) and tells the others it left.
  kDrainRequest = 42,  // anyone -> GCS
  kDrain = 43,         // GCS -> the node (NodeDeaths encoding: itself, the reason)
  kHandOff = 44,       // leaving node -> owner (FreeObjects encoding)
  kHandOffDone = 45,   // owner -> leaving node (FreeObjects encoding)
  kLeave = 46,         // leaving node -> GCS
};

// Why an object holds an error instead of a value. Mirrors the public exception types.
enum class ErrorKind : uint8_t {
  kNone = 0,
  kTaskError = 1,
  kFunctionNotFound = 2,
  kObjectLost = 3,
  kOwnerDied = 4,
  kInternal = 5,
  kActorDied = 6,
  kStoreFull = 7,
  kUnschedulable = 8,  // hard node affinity to a dead node, a removed placement group
};
inline constexpr uint8_t kMaxErrorKind = 8;

struct ErrorInfo {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;
};

// Where the bytes of a large object live: registered memory on `node`.
struct Location {
  NodeId node;
  uint64_t address = 0;
  uint64_t size = 0;
  std::string rkey;
};

// An object's content as the owner knows it: the bytes themselves, where they are, or an error.
struct ObjectValue {
  enum class Kind : uint8_t { kInline = 0, kLocation = 1, kError = 2 };
  Kind kind = Kind::kInline;
  Buffer data;        // kInline
  Location location;  // kLocation
  ErrorInfo error;    // kError
};

enum class TaskKind : uint8_t { kNormal = 0, kActorCreation = 1, kActorCall = 2 };

enum class ActorState : uint8_t { kPending = 0, kAlive = 1, kRestarting = 2, kDead = 3 };
const char* ActorStateName(ActorState s);

// What an actor creation asks for, beyond the factory call itself.
struct ActorOptions {
  std::string name;        // empty: anonymous
  std::string ns;          // namespace of the name
  std::string class_name;  // mangled class name, checked by GetActor<T>
  int32_t max_restarts = 0;
  int32_t max_concurrency = 1;
  int32_t max_task_retries = 0;
  bool detached = false;
  uint32_t incarnation = 0;  // restarts so far (set by the GCS for the raylet)
  uint64_t request_id = 0;   // non-zero: the creator waits for a kActorReply with it
};

struct TaskArg {
  enum class Kind : uint8_t { kValue = 0, kRef = 1 };
  Kind kind = Kind::kValue;
  Buffer value;  // kValue: the serialized argument
  ObjectId ref;  // kRef: resolved by the executing raylet before the body runs
};

// A field most values leave at its default, kept out of line so that a value without it costs
// one pointer: task specs are kept per queued task, by the owner and by the raylet, and only
// actor creations carry actor options. Reading an unset box sees a default T; the first write
// through non-const access allocates it. Copies are deep.
template <typename T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Boxed& operator=(const Boxed& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(Boxed&&) noexcept = default;

  const T& operator*() const { return p_ ? *p_ : Default(); }
  const T* operator->() const { return &**this; }
  T& operator*() {
    if (!p_) p_ = std::make_unique<T>();
    return *p_;
  }
  T* operator->() { return &**this; }

 private:
  static const T& Default() {
    static const T d;
    return d;
  }
  std::unique_ptr<T> p_;
};

struct TaskSpec {
  TaskId id;
  ObjectId return_id;
  std::string function;  // registered name
  std::string name;      // display name (defaults to the function's)
  std::vector<TaskArg> args;
  std::vector<std::pair<std::string, double>> resources;
  int32_t max_retries = 3;      // -1: unlimited; -2 (actor calls): the actor's own
  bool retry_exceptions = false;  // a body that threw is retried too
  TaskKind kind = TaskKind::kNormal;
  ActorId actor;               // kActorCreation, kActorCall
  Boxed<ActorOptions> actor_options;  // kActorCreation
  // Placement: scheduler::Strategy (0 default, 1 spread, 2 node affinity).
  uint8_t strategy = 0;
  NodeId affinity_node;
  bool affinity_soft = false;
  // A task or actor in a placement group; `resources` already name the group's resources.
  PlacementGroupId placement_group;
  int32_t bundle_index = -1;
  uint8_t spillbacks = 0;  // times a raylet forwarded it to another node
};

struct TaskResult {
  TaskId task;
  ObjectId return_id;
  ObjectValue value;
  // Refs serialized inside the value. The executing rank holds them until the owner of the
  // result has taken holds of its own and says so (kReleaseResultRefs).
  std::vector<ObjectId> contained;
};

struct GetObjectRequest {
  uint64_t request_id = 0;
  ObjectId id;
};

struct ObjectInfoReply {
  uint64_t request_id = 0;
  ObjectId id;
  ObjectValue value;
};

// The actor messages' common body; each type uses the fields it needs.
struct ActorEvent {
  uint64_t request_id = 0;
  ActorId actor;
  ActorState state = ActorState::kPending;
  NodeId node;
  uint32_t incarnation = 0;
  bool flag = false;  // kActorKill: no restart; kActorCreated, kActorReply: ok / found
  int32_t max_task_retries = 0;
  std::string name;
  std::string ns;
  std::string class_name;
  std::string message;  // why it died, or why a request failed
};

std::string EncodeTaskSpecs(const std::vector<TaskSpec>& specs);
Status DecodeTaskSpecs(const Buffer& msg, std::vector<TaskSpec>* out);

std::string EncodeTaskResults(const std::vector<TaskResult>& results);
Status DecodeTaskResults(const Buffer& msg, std::vector<TaskResult>* out);

std::string EncodeGetObject(const GetObjectRequest& req);
Status DecodeGetObject(const Buffer& msg, GetObjectRequest* out);

std::string EncodeObjectInfo(const ObjectInfoReply& reply);
Status DecodeObjectInfo(const Buffer& msg, ObjectInfoReply* out);

std::string EncodeFreeObjects(const std::vector<ObjectId>& ids);
Status DecodeFreeObjects(const Buffer& msg, std::vector<ObjectId>* out);

std::string EncodeActorEvent(const ActorEvent& e);
Status DecodeActorEvent(const Buffer& msg, ActorEvent* out);

// One node's entry in the cluster view (kClusterView), or a raylet's own report
// (kResourceReport: node, total, available, queued).
struct NodeState {
  NodeId node;
  bool alive = true;
  bool draining = false;  // alive, but takes no new work
  ResourceSet total;
  ResourceSet available;
  ResourceSet reserved;  // by actors and bundles, as the GCS placed them
  int64_t queued = 0;
  int32_t actors = 0;
};
std::string EncodeNodeStates(const std::vector<NodeState>& nodes);
Status DecodeNodeStates(const Buffer& msg, std::vector<NodeState>* out);

// kTaskForwarded: (task, the node it went to).
std::string EncodeForwards(const std::vector<std::pair<TaskId, NodeId>>& forwards);
Status DecodeForwards(const Buffer& msg, std::vector<std::pair<TaskId, NodeId>>* out);

enum class PgState : uint8_t { kPending = 0, kCreated = 1, kRemoved = 2 };
const char* PgStateName(PgState s);

// The placement-group messages' common body; each type uses the fields it needs.
struct PgEvent {
  uint64_t request_id = 0;
  PlacementGroupId pg;
  std::string name;
  uint8_t strategy = 0;  // scheduler::BundleStrategy
  PgState state = PgState::kPending;
  std::vector<ResourceSet> bundles;  // kPgCreate, replies: all; prepare/commit/release: this node's
  std::vector<int32_t> indices;      // prepare/commit/release: the bundles' indices in the group
  std::vector<NodeId> nodes;         // replies: node per bundle once created
  bool flag = false;                 // kPgPrepared: reserved; kPgReply: found / ok
  std::string message;
};
std::string EncodePgEvents(const std::vector<PgEvent>& events);
Status DecodePgEvents(const Buffer& msg, std::vector<PgEvent>* out);

// kNodeDead: (node, why).
// A member as joiners and members learn of it: how to connect to it and what it offers.
struct MemberInfo {
  NodeId node;
  std::string address;  // transport (worker) address
  std::string hostname;
  int32_t pid = 0;
  ResourceSet resources;
};
struct JoinRequest {
  uint32_t provisional = 0;  // the index the joiner sends from until it has its node id
  std::string token;         // the session token
  uint64_t function_hash = 0;
  uint64_t function_count = 0;
  MemberInfo joiner;  // node is nil
  std::string launch_id;  // set when the autoscaler started it
};
struct JoinReply {
  bool accepted = false;
  std::string reason;  // why not
  NodeId node;         // the joiner's node id
  std::string session_id;
  std::string session_name;  // the session directory's name, for the joiner's own host
  std::vector<MemberInfo> members;  // every live member, the head first
};
std::string EncodeMemberInfo(const MemberInfo& m);
Status DecodeMemberInfo(const Buffer& msg, MemberInfo* out);
std::string EncodeJoinRequest(const JoinRequest& req);
Status DecodeJoinRequest(const Buffer& msg, JoinRequest* out);
std::string EncodeJoinReply(const JoinReply& reply);
Status DecodeJoinReply(const Buffer& msg, JoinReply* out);

// The reason kNodeDead gives for a node that drained and left: it lost nothing, so what it
// still had is placed again without spending retries.
inline constexpr char kLeftTheCluster[] = "left the cluster";
inline bool LeftGracefully(const std::string& why) { return why.rfind(kLeftTheCluster, 0) == 0; }

std::string EncodeNodeDeaths(const std::vector<std::pair<NodeId, std::string>>& deaths);
Status DecodeNodeDeaths(const Buffer& msg, std::vector<std::pair<NodeId, std::string>>* out);

// Heartbeat, Shutdown and ShutdownAck carry one sequence number.
std::string EncodeSeq(uint64_t seq);
Status DecodeSeq(const Buffer& msg, uint64_t* seq);

}  // namespace ferry::wire
