#include "src/wire/messages.h"

#include <cmath>

#include "src/wire/codec.h"

namespace ferry::wire {
namespace {

// Smallest encodings, used to reject element counts the input cannot hold.
constexpr size_t kMinObjectIdBytes = 4 + 8 + 4;
constexpr size_t kMinSpecBytes = 2 * kMinObjectIdBytes;

void PutObjectId(Writer& w, const ObjectId& id) {
  w.Put<uint32_t>(id.task.owner.value());
  w.Put<uint64_t>(id.task.seq);
  w.Put<uint32_t>(id.index);
}
Status GetObjectId(Reader& r, ObjectId* id) {
  uint32_t owner = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&owner, "object id owner"));
  FERRY_RETURN_IF_ERROR(r.Get(&id->task.seq, "object id sequence"));
  FERRY_RETURN_IF_ERROR(r.Get(&id->index, "object id index"));
  id->task.owner = NodeId(owner);
  return Status::Ok();
}
void PutTaskId(Writer& w, const TaskId& id) {
  w.Put<uint32_t>(id.owner.value());
  w.Put<uint64_t>(id.seq);
}
Status GetTaskId(Reader& r, TaskId* id) {
  uint32_t owner = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&owner, "task id owner"));
  FERRY_RETURN_IF_ERROR(r.Get(&id->seq, "task id sequence"));
  id->owner = NodeId(owner);
  return Status::Ok();
}

// A slice of the received message, so inline values are never copied on decode.
Status GetSlice(Reader& r, const Buffer& msg, Buffer* out, const char* what) {
  const uint8_t* d = nullptr;
  size_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetBytes(&d, &n, what));
  *out = msg.Slice(static_cast<size_t>(d - msg.data()), n);
  return Status::Ok();
}

void PutValue(Writer& w, const ObjectValue& v) {
  w.Put<uint8_t>(static_cast<uint8_t>(v.kind));
  switch (v.kind) {
    case ObjectValue::Kind::kInline:
      w.PutBytes(v.data.data(), v.data.size());
      break;
    case ObjectValue::Kind::kLocation:
      w.Put<uint32_t>(v.location.node.value());
      w.Put<uint64_t>(v.location.address);
      w.Put<uint64_t>(v.location.size);
      w.PutString(v.location.rkey);
      break;
    case ObjectValue::Kind::kError:
      w.Put<uint8_t>(static_cast<uint8_t>(v.error.kind));
      w.PutString(v.error.message);
      break;
  }
}
Status GetValue(Reader& r, const Buffer& msg, ObjectValue* v) {
  uint8_t kind = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&kind, "value kind"));
  switch (kind) {
    case 0:
      v->kind = ObjectValue::Kind::kInline;
      return GetSlice(r, msg, &v->data, "inline value");
    case 1: {
      v->kind = ObjectValue::Kind::kLocation;
      uint32_t node = 0;
      FERRY_RETURN_IF_ERROR(r.Get(&node, "location node"));
      v->location.node = NodeId(node);
      FERRY_RETURN_IF_ERROR(r.Get(&v->location.address, "location address"));
      FERRY_RETURN_IF_ERROR(r.Get(&v->location.size, "location size"));
      return r.GetString(&v->location.rkey, "location rkey");
    }
    case 2: {
      v->kind = ObjectValue::Kind::kError;
      uint8_t ek = 0;
      FERRY_RETURN_IF_ERROR(r.Get(&ek, "error kind"));
      if (ek > kMaxErrorKind)
        return DataLossError("malformed message: unknown error kind " + std::to_string(ek));
      v->error.kind = static_cast<ErrorKind>(ek);
      return r.GetString(&v->error.message, "error message");
    }
    default:
      return DataLossError("malformed message: unknown value kind " + std::to_string(kind));
  }
}

void PutActorId(Writer& w, const ActorId& id) { PutTaskId(w, id.task); }
Status GetActorId(Reader& r, ActorId* id) { return GetTaskId(r, &id->task); }

void PutResources(Writer& w, const ResourceSet& rs) {
  w.Put<uint32_t>(static_cast<uint32_t>(rs.size()));
  for (const auto& [id, units] : rs.items()) {
    w.PutString(ResourceName(id));
    w.Put<int64_t>(units);
  }
}
// Quantities may be negative only where `allow_negative` (a node's available set).
Status GetResources(Reader& r, ResourceSet* out, const char* what, bool allow_negative = false) {
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 8 + 8, what));
  *out = ResourceSet();
  for (uint32_t i = 0; i < n; ++i) {
    std::string name;
    int64_t units = 0;
    FERRY_RETURN_IF_ERROR(r.GetString(&name, what));
    FERRY_RETURN_IF_ERROR(r.Get(&units, what));
    if (name.empty() || (units < 0 && !allow_negative) || out->Units(name) != 0)
      return DataLossError(std::string("malformed message: bad resource in ") + what);
    out->SetUnits(name, units);
  }
  return Status::Ok();
}
void PutPgId(Writer& w, const PlacementGroupId& id) { PutTaskId(w, id.task); }
Status GetPgId(Reader& r, PlacementGroupId* id) { return GetTaskId(r, &id->task); }

Status GetBool(Reader& r, bool* b, const char* what) {
  uint8_t v = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&v, what));
  if (v > 1) return DataLossError(std::string("malformed message: bad ") + what);
  *b = v == 1;
  return Status::Ok();
}

Status CheckHeader(Reader& r) {
  uint8_t version = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&version, "wire version"));
  if (version != kWireVersion)
    return DataLossError("wire version " + std::to_string(version) + " from peer, expected " +
                         std::to_string(kWireVersion));
  return Status::Ok();
}
Status CheckDone(const Reader& r) {
  if (!r.done())
    return DataLossError("malformed message: " + std::to_string(r.remaining()) + " trailing bytes");
  return Status::Ok();
}

}  // namespace

const char* ActorStateName(ActorState s) {
  switch (s) {
    case ActorState::kPending:
      return "PENDING";
    case ActorState::kAlive:
      return "ALIVE";
    case ActorState::kRestarting:
      return "RESTARTING";
    case ActorState::kDead:
      return "DEAD";
  }
  return "UNKNOWN";
}

std::string EncodeTaskSpecs(const std::vector<TaskSpec>& specs) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(specs.size()));
  for (const TaskSpec& s : specs) {
    PutTaskId(w, s.id);
    PutObjectId(w, s.return_id);
    w.PutString(s.function);
    w.PutString(s.name);
    w.Put<uint32_t>(static_cast<uint32_t>(s.args.size()));
    for (const TaskArg& a : s.args) {
      w.Put<uint8_t>(static_cast<uint8_t>(a.kind));
      if (a.kind == TaskArg::Kind::kValue) {
        w.PutBytes(a.value.data(), a.value.size());
      } else {
        PutObjectId(w, a.ref);
      }
    }
    w.Put<uint32_t>(static_cast<uint32_t>(s.resources.size()));
    for (const auto& [name, amount] : s.resources) {
      w.PutString(name);
      w.Put<double>(amount);
    }
    w.Put<int32_t>(s.max_retries);
    w.Put<uint8_t>(s.retry_exceptions ? 1 : 0);
    w.Put<uint8_t>(static_cast<uint8_t>(s.kind));
    if (s.kind != TaskKind::kNormal) PutActorId(w, s.actor);
    if (s.kind == TaskKind::kActorCreation) {
      const ActorOptions& o = *s.actor_options;
      w.PutString(o.name);
      w.PutString(o.ns);
      w.PutString(o.class_name);
      w.Put<int32_t>(o.max_restarts);
      w.Put<int32_t>(o.max_concurrency);
      w.Put<int32_t>(o.max_task_retries);
      w.Put<uint8_t>(o.detached ? 1 : 0);
      w.Put<uint32_t>(o.incarnation);
      w.Put<uint64_t>(o.request_id);
    }
    w.Put<uint8_t>(s.strategy);
    if (s.strategy == 2) {
      w.Put<uint32_t>(s.affinity_node.value());
      w.Put<uint8_t>(s.affinity_soft ? 1 : 0);
    }
    w.Put<uint8_t>(s.placement_group.IsNil() ? 0 : 1);
    if (!s.placement_group.IsNil()) {
      PutPgId(w, s.placement_group);
      w.Put<int32_t>(s.bundle_index);
    }
    w.Put<uint8_t>(s.spillbacks);
  }
  return w.Finish();
}

Status DecodeTaskSpecs(const Buffer& msg, std::vector<TaskSpec>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, kMinSpecBytes, "task count"));
  out->clear();
  out->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    TaskSpec s;
    FERRY_RETURN_IF_ERROR(GetTaskId(r, &s.id));
    FERRY_RETURN_IF_ERROR(GetObjectId(r, &s.return_id));
    FERRY_RETURN_IF_ERROR(r.GetString(&s.function, "function name"));
    FERRY_RETURN_IF_ERROR(r.GetString(&s.name, "task name"));
    uint32_t nargs = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&nargs, 1 + 8, "argument count"));
    s.args.resize(nargs);
    for (TaskArg& a : s.args) {
      uint8_t kind = 0;
      FERRY_RETURN_IF_ERROR(r.Get(&kind, "argument kind"));
      if (kind == 0) {
        a.kind = TaskArg::Kind::kValue;
        FERRY_RETURN_IF_ERROR(GetSlice(r, msg, &a.value, "argument value"));
      } else if (kind == 1) {
        a.kind = TaskArg::Kind::kRef;
        FERRY_RETURN_IF_ERROR(GetObjectId(r, &a.ref));
      } else {
        return DataLossError("malformed message: unknown argument kind " + std::to_string(kind));
      }
    }
    uint32_t nres = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&nres, 8 + 8, "resource count"));
    s.resources.resize(nres);
    for (auto& [name, amount] : s.resources) {
      FERRY_RETURN_IF_ERROR(r.GetString(&name, "resource name"));
      FERRY_RETURN_IF_ERROR(r.Get(&amount, "resource amount"));
      if (name.empty() || !(amount >= 0) || std::isinf(amount))
        return DataLossError("malformed message: bad resource '" + name + "'");
    }
    FERRY_RETURN_IF_ERROR(r.Get(&s.max_retries, "max retries"));
    if (s.max_retries < -2) return DataLossError("malformed message: bad max retries");
    FERRY_RETURN_IF_ERROR(GetBool(r, &s.retry_exceptions, "retry exceptions flag"));
    uint8_t kind = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&kind, "task kind"));
    if (kind > static_cast<uint8_t>(TaskKind::kActorCall))
      return DataLossError("malformed message: unknown task kind " + std::to_string(kind));
    s.kind = static_cast<TaskKind>(kind);
    if (s.kind != TaskKind::kNormal) FERRY_RETURN_IF_ERROR(GetActorId(r, &s.actor));
    if (s.kind == TaskKind::kActorCreation) {
      ActorOptions& o = *s.actor_options;
      FERRY_RETURN_IF_ERROR(r.GetString(&o.name, "actor name"));
      FERRY_RETURN_IF_ERROR(r.GetString(&o.ns, "actor namespace"));
      FERRY_RETURN_IF_ERROR(r.GetString(&o.class_name, "actor class"));
      FERRY_RETURN_IF_ERROR(r.Get(&o.max_restarts, "max restarts"));
      FERRY_RETURN_IF_ERROR(r.Get(&o.max_concurrency, "max concurrency"));
      FERRY_RETURN_IF_ERROR(r.Get(&o.max_task_retries, "max task retries"));
      FERRY_RETURN_IF_ERROR(GetBool(r, &o.detached, "detached flag"));
      FERRY_RETURN_IF_ERROR(r.Get(&o.incarnation, "incarnation"));
      FERRY_RETURN_IF_ERROR(r.Get(&o.request_id, "request id"));
      if (o.max_concurrency < 1 || o.max_restarts < -1 || o.max_task_retries < -1)
        return DataLossError("malformed message: bad actor options");
    }
    FERRY_RETURN_IF_ERROR(r.Get(&s.strategy, "strategy"));
    if (s.strategy > 2)
      return DataLossError("malformed message: unknown strategy " + std::to_string(s.strategy));
    if (s.strategy == 2) {
      uint32_t node = 0;
      FERRY_RETURN_IF_ERROR(r.Get(&node, "affinity node"));
      s.affinity_node = NodeId(node);
      FERRY_RETURN_IF_ERROR(GetBool(r, &s.affinity_soft, "affinity soft flag"));
    }
    bool has_pg = false;
    FERRY_RETURN_IF_ERROR(GetBool(r, &has_pg, "placement group flag"));
    if (has_pg) {
      FERRY_RETURN_IF_ERROR(GetPgId(r, &s.placement_group));
      FERRY_RETURN_IF_ERROR(r.Get(&s.bundle_index, "bundle index"));
      if (s.placement_group.IsNil() || s.bundle_index < -1)
        return DataLossError("malformed message: bad placement group of a task");
    }
    FERRY_RETURN_IF_ERROR(r.Get(&s.spillbacks, "spillback count"));
    out->push_back(std::move(s));
  }
  return CheckDone(r);
}

std::string EncodeTaskResults(const std::vector<TaskResult>& results) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(results.size()));
  for (const TaskResult& t : results) {
    PutTaskId(w, t.task);
    PutObjectId(w, t.return_id);
    PutValue(w, t.value);
    w.Put<uint32_t>(static_cast<uint32_t>(t.contained.size()));
    for (const ObjectId& id : t.contained) PutObjectId(w, id);
  }
  return w.Finish();
}

Status DecodeTaskResults(const Buffer& msg, std::vector<TaskResult>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 12 + kMinObjectIdBytes + 1 + 4, "result count"));
  out->clear();
  out->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    TaskResult t;
    FERRY_RETURN_IF_ERROR(GetTaskId(r, &t.task));
    FERRY_RETURN_IF_ERROR(GetObjectId(r, &t.return_id));
    FERRY_RETURN_IF_ERROR(GetValue(r, msg, &t.value));
    uint32_t contained = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&contained, kMinObjectIdBytes, "contained ref count"));
    t.contained.resize(contained);
    for (ObjectId& id : t.contained) FERRY_RETURN_IF_ERROR(GetObjectId(r, &id));
    out->push_back(std::move(t));
  }
  return CheckDone(r);
}

std::string EncodeGetObject(const GetObjectRequest& req) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint64_t>(req.request_id);
  PutObjectId(w, req.id);
  return w.Finish();
}

Status DecodeGetObject(const Buffer& msg, GetObjectRequest* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(r.Get(&out->request_id, "request id"));
  FERRY_RETURN_IF_ERROR(GetObjectId(r, &out->id));
  return CheckDone(r);
}

std::string EncodeObjectInfo(const ObjectInfoReply& reply) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint64_t>(reply.request_id);
  PutObjectId(w, reply.id);
  PutValue(w, reply.value);
  return w.Finish();
}

Status DecodeObjectInfo(const Buffer& msg, ObjectInfoReply* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(r.Get(&out->request_id, "request id"));
  FERRY_RETURN_IF_ERROR(GetObjectId(r, &out->id));
  FERRY_RETURN_IF_ERROR(GetValue(r, msg, &out->value));
  return CheckDone(r);
}

std::string EncodeFreeObjects(const std::vector<ObjectId>& ids) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(ids.size()));
  for (const ObjectId& id : ids) PutObjectId(w, id);
  return w.Finish();
}

Status DecodeFreeObjects(const Buffer& msg, std::vector<ObjectId>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, kMinObjectIdBytes, "object count"));
  out->resize(n);
  for (ObjectId& id : *out) FERRY_RETURN_IF_ERROR(GetObjectId(r, &id));
  return CheckDone(r);
}

std::string EncodeActorEvent(const ActorEvent& e) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint64_t>(e.request_id);
  PutActorId(w, e.actor);
  w.Put<uint8_t>(static_cast<uint8_t>(e.state));
  w.Put<uint32_t>(e.node.value());
  w.Put<uint32_t>(e.incarnation);
  w.Put<uint8_t>(e.flag ? 1 : 0);
  w.Put<int32_t>(e.max_task_retries);
  w.PutString(e.name);
  w.PutString(e.ns);
  w.PutString(e.class_name);
  w.PutString(e.message);
  return w.Finish();
}

Status DecodeActorEvent(const Buffer& msg, ActorEvent* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(r.Get(&out->request_id, "request id"));
  FERRY_RETURN_IF_ERROR(GetActorId(r, &out->actor));
  uint8_t state = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&state, "actor state"));
  if (state > static_cast<uint8_t>(ActorState::kDead))
    return DataLossError("malformed message: unknown actor state " + std::to_string(state));
  out->state = static_cast<ActorState>(state);
  uint32_t node = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&node, "node"));
  out->node = NodeId(node);
  FERRY_RETURN_IF_ERROR(r.Get(&out->incarnation, "incarnation"));
  FERRY_RETURN_IF_ERROR(GetBool(r, &out->flag, "flag"));
  FERRY_RETURN_IF_ERROR(r.Get(&out->max_task_retries, "max task retries"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->name, "actor name"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->ns, "actor namespace"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->class_name, "actor class"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->message, "message"));
  return CheckDone(r);
}

std::string EncodeNodeStates(const std::vector<NodeState>& nodes) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(nodes.size()));
  for (const NodeState& n : nodes) {
    w.Put<uint32_t>(n.node.value());
    w.Put<uint8_t>(!n.alive ? 0 : n.draining ? 2 : 1);
    PutResources(w, n.total);
    PutResources(w, n.available);
    PutResources(w, n.reserved);
    w.Put<int64_t>(n.queued);
    w.Put<int32_t>(n.actors);
  }
  return w.Finish();
}

Status DecodeNodeStates(const Buffer& msg, std::vector<NodeState>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 4 + 1 + 3 * 4 + 8 + 4, "node count"));
  out->clear();
  out->resize(n);
  for (NodeState& s : *out) {
    uint32_t v = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&v, "node"));
    s.node = NodeId(v);
    uint8_t state = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&state, "node state"));
    if (state > 2) return DataLossError("malformed message: bad node state");
    s.alive = state != 0;
    s.draining = state == 2;
    FERRY_RETURN_IF_ERROR(GetResources(r, &s.total, "total resources"));
    FERRY_RETURN_IF_ERROR(GetResources(r, &s.available, "available resources", true));
    FERRY_RETURN_IF_ERROR(GetResources(r, &s.reserved, "reserved resources"));
    FERRY_RETURN_IF_ERROR(r.Get(&s.queued, "queued tasks"));
    FERRY_RETURN_IF_ERROR(r.Get(&s.actors, "actor count"));
    if (s.node.IsNil() || s.queued < 0 || s.actors < 0)
      return DataLossError("malformed message: bad node state");
  }
  return CheckDone(r);
}

std::string EncodeForwards(const std::vector<std::pair<TaskId, NodeId>>& forwards) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(forwards.size()));
  for (const auto& [task, node] : forwards) {
    PutTaskId(w, task);
    w.Put<uint32_t>(node.value());
  }
  return w.Finish();
}

Status DecodeForwards(const Buffer& msg, std::vector<std::pair<TaskId, NodeId>>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 4 + 8 + 4, "forward count"));
  out->clear();
  out->resize(n);
  for (auto& [task, node] : *out) {
    FERRY_RETURN_IF_ERROR(GetTaskId(r, &task));
    uint32_t v = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&v, "node"));
    node = NodeId(v);
  }
  return CheckDone(r);
}

namespace {
void PutMember(Writer& w, const MemberInfo& m) {
  w.Put<uint32_t>(m.node.value());
  w.PutString(m.address);
  w.PutString(m.hostname);
  w.Put<int32_t>(m.pid);
  PutResources(w, m.resources);
}
Status GetMember(Reader& r, MemberInfo* m) {
  uint32_t v = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&v, "member node"));
  m->node = NodeId(v);
  FERRY_RETURN_IF_ERROR(r.GetString(&m->address, "member address"));
  FERRY_RETURN_IF_ERROR(r.GetString(&m->hostname, "member hostname"));
  FERRY_RETURN_IF_ERROR(r.Get(&m->pid, "member pid"));
  return GetResources(r, &m->resources, "member resources");
}
}  // namespace

std::string EncodeMemberInfo(const MemberInfo& m) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  PutMember(w, m);
  return w.Finish();
}

Status DecodeMemberInfo(const Buffer& msg, MemberInfo* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(GetMember(r, out));
  if (out->node.IsNil() || out->address.empty())
    return DataLossError("malformed message: member without node id or address");
  return CheckDone(r);
}

std::string EncodeJoinRequest(const JoinRequest& req) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(req.provisional);
  w.PutString(req.token);
  w.Put<uint64_t>(req.function_hash);
  w.Put<uint64_t>(req.function_count);
  PutMember(w, req.joiner);
  w.PutString(req.launch_id);
  return w.Finish();
}

Status DecodeJoinRequest(const Buffer& msg, JoinRequest* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(r.Get(&out->provisional, "provisional index"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->token, "token"));
  FERRY_RETURN_IF_ERROR(r.Get(&out->function_hash, "function hash"));
  FERRY_RETURN_IF_ERROR(r.Get(&out->function_count, "function count"));
  FERRY_RETURN_IF_ERROR(GetMember(r, &out->joiner));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->launch_id, "launch id"));
  if (out->joiner.address.empty()) return DataLossError("malformed join request: no address");
  return CheckDone(r);
}

std::string EncodeJoinReply(const JoinReply& reply) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint8_t>(reply.accepted ? 1 : 0);
  w.PutString(reply.reason);
  w.Put<uint32_t>(reply.node.value());
  w.PutString(reply.session_id);
  w.PutString(reply.session_name);
  w.Put<uint32_t>(static_cast<uint32_t>(reply.members.size()));
  for (const MemberInfo& m : reply.members) PutMember(w, m);
  return w.Finish();
}

Status DecodeJoinReply(const Buffer& msg, JoinReply* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(GetBool(r, &out->accepted, "accepted flag"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->reason, "reason"));
  uint32_t v = 0;
  FERRY_RETURN_IF_ERROR(r.Get(&v, "node"));
  out->node = NodeId(v);
  FERRY_RETURN_IF_ERROR(r.GetString(&out->session_id, "session id"));
  FERRY_RETURN_IF_ERROR(r.GetString(&out->session_name, "session name"));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 4 + 4 + 4 + 4 + 4, "member count"));
  out->members.clear();
  out->members.resize(n);
  for (MemberInfo& m : out->members) {
    FERRY_RETURN_IF_ERROR(GetMember(r, &m));
    if (m.node.IsNil() || m.address.empty())
      return DataLossError("malformed join reply: member without node id or address");
  }
  if (out->accepted && (out->node.IsNil() || out->members.empty()))
    return DataLossError("malformed join reply: accepted without a node id or members");
  return CheckDone(r);
}

std::string EncodeNodeDeaths(const std::vector<std::pair<NodeId, std::string>>& deaths) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(deaths.size()));
  for (const auto& [node, why] : deaths) {
    w.Put<uint32_t>(node.value());
    w.PutString(why);
  }
  return w.Finish();
}

Status DecodeNodeDeaths(const Buffer& msg, std::vector<std::pair<NodeId, std::string>>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 4 + 4, "death count"));
  out->clear();
  out->resize(n);
  for (auto& [node, why] : *out) {
    uint32_t v = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&v, "node"));
    if (v == NodeId().value()) return DataLossError("malformed message: nil node declared dead");
    node = NodeId(v);
    FERRY_RETURN_IF_ERROR(r.GetString(&why, "reason"));
  }
  return CheckDone(r);
}

const char* PgStateName(PgState s) {
  switch (s) {
    case PgState::kPending:
      return "PENDING";
    case PgState::kCreated:
      return "CREATED";
    case PgState::kRemoved:
      return "REMOVED";
  }
  return "UNKNOWN";
}

std::string EncodePgEvents(const std::vector<PgEvent>& events) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(events.size()));
  for (const PgEvent& e : events) {
    w.Put<uint64_t>(e.request_id);
    PutPgId(w, e.pg);
    w.PutString(e.name);
    w.Put<uint8_t>(e.strategy);
    w.Put<uint8_t>(static_cast<uint8_t>(e.state));
    w.Put<uint32_t>(static_cast<uint32_t>(e.bundles.size()));
    for (const ResourceSet& b : e.bundles) PutResources(w, b);
    w.Put<uint32_t>(static_cast<uint32_t>(e.indices.size()));
    for (int32_t i : e.indices) w.Put<int32_t>(i);
    w.Put<uint32_t>(static_cast<uint32_t>(e.nodes.size()));
    for (NodeId n : e.nodes) w.Put<uint32_t>(n.value());
    w.Put<uint8_t>(e.flag ? 1 : 0);
    w.PutString(e.message);
  }
  return w.Finish();
}

Status DecodePgEvents(const Buffer& msg, std::vector<PgEvent>* out) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  uint32_t n = 0;
  FERRY_RETURN_IF_ERROR(r.GetCount(&n, 8 + 12 + 8 + 2 + 12 + 1 + 8, "group count"));
  out->clear();
  out->resize(n);
  for (PgEvent& e : *out) {
    FERRY_RETURN_IF_ERROR(r.Get(&e.request_id, "request id"));
    FERRY_RETURN_IF_ERROR(GetPgId(r, &e.pg));
    FERRY_RETURN_IF_ERROR(r.GetString(&e.name, "group name"));
    FERRY_RETURN_IF_ERROR(r.Get(&e.strategy, "group strategy"));
    uint8_t state = 0;
    FERRY_RETURN_IF_ERROR(r.Get(&state, "group state"));
    if (e.strategy > 3 || state > static_cast<uint8_t>(PgState::kRemoved))
      return DataLossError("malformed message: bad placement group strategy or state");
    e.state = static_cast<PgState>(state);
    uint32_t nb = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&nb, 4, "bundle count"));
    e.bundles.resize(nb);
    for (ResourceSet& b : e.bundles) FERRY_RETURN_IF_ERROR(GetResources(r, &b, "bundle"));
    uint32_t ni = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&ni, 4, "bundle index count"));
    e.indices.resize(ni);
    for (int32_t& i : e.indices) {
      FERRY_RETURN_IF_ERROR(r.Get(&i, "bundle index"));
      if (i < 0) return DataLossError("malformed message: negative bundle index");
    }
    uint32_t nn = 0;
    FERRY_RETURN_IF_ERROR(r.GetCount(&nn, 4, "bundle node count"));
    e.nodes.resize(nn);
    for (NodeId& node : e.nodes) {
      uint32_t v = 0;
      FERRY_RETURN_IF_ERROR(r.Get(&v, "bundle node"));
      node = NodeId(v);
    }
    FERRY_RETURN_IF_ERROR(GetBool(r, &e.flag, "flag"));
    FERRY_RETURN_IF_ERROR(r.GetString(&e.message, "message"));
  }
  return CheckDone(r);
}

std::string EncodeSeq(uint64_t seq) {
  Writer w;
  w.Put<uint8_t>(kWireVersion);
  w.Put<uint64_t>(seq);
  return w.Finish();
}

Status DecodeSeq(const Buffer& msg, uint64_t* seq) {
  Reader r(msg);
  FERRY_RETURN_IF_ERROR(CheckHeader(r));
  FERRY_RETURN_IF_ERROR(r.Get(seq, "sequence"));
  return CheckDone(r);
}

}  // namespace ferry::wire
