// The public entry points (include/ferry/ferry.h, runtime_hooks.h): the only place where
// runtime Status values become exceptions.
#include <cxxabi.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "ferry/ferry.h"
#include "launch/join_bootstrapper.h"
#include "src/api/exit_status.h"
#include "src/api/runtime.h"
#include "src/scheduler/policy.h"
#include "src/common/logging.h"

namespace ferry {
namespace {

using internal::Buffer;

std::shared_mutex g_mu;
std::shared_ptr<api::Runtime> g_runtime;       // Guarded by g_mu.
std::atomic<uint64_t> g_epoch{0};              // bumped at every Init
std::unique_ptr<launch::Bootstrapper> g_boot;  // lives across Init cycles (MPI inits once)
std::once_flag g_atexit_once;

std::shared_ptr<api::Runtime> Current() {
  std::shared_lock<std::shared_mutex> lock(g_mu);
  if (!g_runtime) throw RuntimeError("ferry is not initialized: call ferry::Init() first");
  return g_runtime;
}

[[noreturn]] void ThrowFor(const wire::ErrorInfo& e) {
  switch (e.kind) {
    case wire::ErrorKind::kTaskError:
      throw TaskError(e.message);
    case wire::ErrorKind::kFunctionNotFound:
      throw FunctionNotFoundError(e.message);
    case wire::ErrorKind::kObjectLost:
      throw ObjectLostError(e.message);
    case wire::ErrorKind::kOwnerDied:
      throw OwnerDiedError(e.message);
    case wire::ErrorKind::kActorDied:
      throw ActorDiedError(e.message);
    case wire::ErrorKind::kStoreFull:
      throw ObjectStoreFullError(e.message);
    case wire::ErrorKind::kUnschedulable:
      throw TaskUnschedulableError(e.message);
    default:
      throw RuntimeError(e.message.empty() ? "ferry: internal error" : e.message);
  }
}

// While a task body waits, its CPU is lent to other tasks on the node (nested tasks).
class BlockedScope {
 public:
  BlockedScope() : raylet_(raylet::CurrentRaylet()), cpus_(raylet::CurrentTaskCpus()) {
    if (raylet_ != nullptr) raylet_->NotifyBlocked(cpus_);
  }
  ~BlockedScope() {
    if (raylet_ != nullptr) raylet_->NotifyUnblocked(cpus_);
  }

 private:
  raylet::Raylet* raylet_;
  double cpus_;
};

// Results of several asynchronous resolutions, filled on the loop, read by the caller.
struct Gather {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<raylet::Resolved> results;  // Guarded by mu.
  std::vector<bool> ready;                // Guarded by mu.
  std::atomic<size_t> count{0};           // Written under mu; polled without it.
};

// How long a waiting caller polls before it sleeps (a futex wake-up costs more than a short
// task on virtual machines). Set at Init from get_spin_us.
std::atomic<int> g_wait_spin_us{0};

bool WaitFor(Gather& g, size_t want, int64_t timeout_ms) {
  auto spin_until = std::chrono::steady_clock::now() +
                    std::chrono::microseconds(g_wait_spin_us.load(std::memory_order_relaxed));
  do {
    for (int i = 0; i < 64; ++i) {
      if (g.count.load(std::memory_order_acquire) >= want) {
        std::lock_guard<std::mutex> lock(g.mu);  // pairs with the writer's unlock
        return true;
      }
      _mm_pause();
    }
  } while (std::chrono::steady_clock::now() < spin_until);
  std::unique_lock<std::mutex> lock(g.mu);
  auto pred = [&] { return g.count.load(std::memory_order_relaxed) >= want; };
  if (timeout_ms < 0) {
    g.cv.wait(lock, pred);
    return true;
  }
  return g.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), pred);
}

void AtExit() {
  try {
    if (IsInitialized()) Shutdown();
  } catch (...) {
  }
}

// Ends a process whose Init failed. When every rank failed alike they all end cleanly;
// otherwise the job is aborted, since the other ranks would wait for this one forever.
[[noreturn]] void FailInit(const std::string& what, int code, bool every_rank_fails) {
  std::fprintf(stderr, "ferry: %s\n", what.c_str());
  std::fflush(stderr);
  if (g_boot && g_boot->Size() > 1) {
    if (!every_rank_fails) g_boot->Abort(code);
    g_boot->Finalize();
    // Every rank reached this verdict and says why; a plain launcher ends the others as soon
    // as one exits non-zero, so leave them a moment to say it too.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::exit(code);
}

std::string Demangle(const std::string& name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : name;
  std::free(d);
  return out;
}

// Sends a request to the GCS through `send` and waits for its answer. A waiting task body
// lends its CPU meanwhile.
wire::ActorEvent AskGcs(const std::function<void(core::CoreWorker::GcsReply)>& send) {
  auto answer = std::make_shared<std::promise<wire::ActorEvent>>();
  std::future<wire::ActorEvent> f = answer->get_future();
  send([answer](const wire::ActorEvent& ev) { answer->set_value(ev); });
  BlockedScope blocked;
  return f.get();
}

// The spec's arguments from the API's, in order.
void FillArgs(std::vector<internal::ArgSpec>& args, wire::TaskSpec& spec) {
  spec.args.resize(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].is_ref) {
      spec.args[i].kind = wire::TaskArg::Kind::kRef;
      spec.args[i].ref = args[i].ref;
    } else {
      spec.args[i].value = std::move(args[i].value);
    }
  }
}

}  // namespace

void ExitActor() {
  if (!raylet::InActor())
    throw RuntimeError("ferry::ExitActor() called outside an actor's method");
  throw internal::ActorExitSignal{};
}

bool WasCurrentActorRestarted() { return raylet::InActor() && raylet::CurrentActorRestarted(); }

void Init() {
  int argc = 0;
  char** argv = nullptr;
  Init(Config(), argc, argv);
}

void Init(int& argc, char**& argv) { Init(Config(), argc, argv); }

void Init(const Config& base, int& argc, char**& argv) {
  Config config = base;
  config.ApplyEnvironment();
  config.ApplyFlags(argc, argv);
  std::unique_lock<std::shared_mutex> lock(g_mu);
  if (g_runtime) throw RuntimeError("ferry::Init called twice without Shutdown");
  if (!g_boot) {
    // An address to join is an explicit instruction: it wins over what the launcher shows
    // (a joiner started by `srun -n 1` inside an allocation sees a PMIx server too).
    const bool join = config.bootstrap == "join" ||
                      (config.bootstrap == "auto" && !config.address.empty());
    auto boot = join ? launch::CreateJoinBootstrapper(
                           {config.address, config.token,
                            std::chrono::milliseconds(std::max(1, config.join_timeout_ms)),
                            config.launch_id})
                     : launch::CreateBootstrapper(config.bootstrap);
    if (!boot.ok()) FailInit("bootstrap failed: " + boot.status().ToString(), 1, true);
    g_boot = std::move(boot).value();
    api::InstallExitReport(g_boot->Rank());
  }
  bool every_rank_fails = false;
  auto rt = api::Runtime::Start(config, g_boot.get(), &every_rank_fails);
  if (!rt.ok()) {
    lock.unlock();
    // Alone in the job (embedded, or a 1-rank launch), a failure is the caller's to handle.
    if (g_boot->Size() <= 1) throw RuntimeError("ferry::Init: " + rt.status().ToString());
    FailInit((g_boot->Name() == "join" ? std::string("joining the cluster")
                                        : "rank " + std::to_string(g_boot->Rank())) +
                 ": " + rt.status().message(),
             1, every_rank_fails);
  }
  g_runtime = std::shared_ptr<api::Runtime>(std::move(rt).value());
  g_epoch.fetch_add(1);
  g_wait_spin_us.store(config.get_spin_us);
  if (!g_runtime->is_head()) {
    // Worker ranks serve here and never return to main.
    auto runtime = g_runtime;
    lock.unlock();
    int code = runtime->ServeUntilShutdown();
    {
      std::unique_lock<std::shared_mutex> l2(g_mu);
      g_runtime.reset();
    }
    runtime.reset();
    g_boot->FinalizeAtExit();
    log::CloseSink();
    std::exit(code);
  }
  std::call_once(g_atexit_once, [] { std::atexit(AtExit); });
}

bool IsInitialized() {
  std::shared_lock<std::shared_mutex> lock(g_mu);
  return g_runtime != nullptr;
}

void Shutdown() {
  std::shared_ptr<api::Runtime> rt;
  {
    std::unique_lock<std::shared_mutex> lock(g_mu);
    rt = std::move(g_runtime);
    g_epoch.fetch_add(1);  // handles of this cluster now release nothing
  }
  if (!rt) return;
  rt->ShutdownCluster();
  rt.reset();
  if (g_boot && g_boot->Size() > 1) g_boot->Finalize();
  log::CloseSink();
}

namespace internal {

RefHandle::~RefHandle() {
  if (epoch_ != g_epoch.load(std::memory_order_acquire)) return;
  std::shared_lock<std::shared_mutex> lock(g_mu);
  if (g_runtime && epoch_ == g_epoch.load(std::memory_order_relaxed))
    g_runtime->core()->RemoveLocalRef(id_);
}

namespace {
// A ref argument this process only borrows must stay borrowed until the task ran (the owner
// counts the ones it owns itself).
void KeepBorrowedArgs(const std::vector<ArgSpec>& args, NodeId self, Holds& holds) {
  for (const ArgSpec& a : args)
    if (a.is_ref && a.ref.owner() != self && a.keep) holds.push_back(a.keep);
}

std::vector<std::shared_ptr<const void>> Opaque(Holds holds) {
  std::vector<std::shared_ptr<const void>> out;
  out.reserve(holds.size());
  for (auto& h : holds) out.push_back(std::move(h));
  return out;
}
// Placement fields of the spec from the API's options; a task or actor of a placement group
// asks for the group's resources instead of the node's.
void ApplyScheduling(const SchedulingOptions& o, wire::TaskSpec& spec) {
  spec.strategy = o.strategy;
  spec.affinity_node = o.affinity_node;
  spec.affinity_soft = o.soft;
  if (o.placement_group.IsNil()) return;
  spec.placement_group = o.placement_group;
  spec.bundle_index = o.bundle_index;
  spec.resources = scheduler::GroupDemand(ResourceSet::FromPairs(spec.resources),
                                          o.placement_group, o.bundle_index)
                       .ToPairs();
}

}  // namespace

std::shared_ptr<RefHandle> SubmitTask(const std::string& function, std::vector<ArgSpec> args,
                                      const CallOptions& options, Holds nested) {
  auto rt = Current();
  wire::TaskSpec spec;
  spec.id = rt->core()->NewTaskId();
  spec.return_id = ObjectId{spec.id, 0};
  spec.function = function;
  spec.name = options.name.empty() ? function : options.name;
  spec.max_retries = options.max_retries;
  spec.retry_exceptions = options.retry_exceptions;
  KeepBorrowedArgs(args, rt->self(), nested);
  FillArgs(args, spec);
  bool has_cpu = false;
  for (const auto& [name, amount] : options.resources) {
    spec.resources.emplace_back(name, amount);
    has_cpu |= name == "CPU";
  }
  if (!has_cpu) spec.resources.emplace_back("CPU", 1.0);
  ApplyScheduling(options.scheduling, spec);
  ObjectId ret = spec.return_id;
  auto handle = std::make_shared<RefHandle>(ret, g_epoch.load());
  rt->core()->Submit(std::move(spec), Opaque(std::move(nested)));
  // `args` (and the handles keeping ref arguments alive) go only after the submission is
  // queued, so the owner counts the argument before any release of it.
  return handle;
}

ActorId CreateActor(const std::string& factory, std::vector<ArgSpec> args,
                    const ActorCreateOptions& options, Holds nested) {
  auto rt = Current();
  core::CoreWorker* core = rt->core();
  wire::TaskSpec spec;
  spec.id = core->NewTaskId();
  spec.return_id = ObjectId{spec.id, 0};
  spec.kind = wire::TaskKind::kActorCreation;
  spec.actor = ActorId{spec.id};
  spec.function = factory;
  spec.name = options.name.empty() ? factory : options.name;
  KeepBorrowedArgs(args, rt->self(), nested);
  FillArgs(args, spec);
  bool has_cpu = false;
  for (const auto& [name, amount] : options.resources) {
    spec.resources.emplace_back(name, amount);
    has_cpu |= name == "CPU";
  }
  if (!has_cpu) spec.resources.emplace_back("CPU", 1.0);  // held for the actor's life
  ApplyScheduling(options.scheduling, spec);
  wire::ActorOptions& o = *spec.actor_options;
  o.name = options.name;
  o.ns = options.ns;
  o.class_name = options.class_name;
  o.max_restarts = options.max_restarts;
  o.max_concurrency = options.max_concurrency;
  o.max_task_retries = options.max_task_retries;
  o.detached = options.detached;
  const ActorId id = spec.actor;
  if (options.name.empty()) {
    core->CreateActor(std::move(spec), nullptr, Opaque(std::move(nested)));
    return id;  // `args` (keeping ref arguments alive) go after the creation is queued
  }
  // A named actor: the caller learns at once whether the name was free.
  o.request_id = core->NewRequestId();
  wire::ActorEvent ev = AskGcs([&](core::CoreWorker::GcsReply reply) {
    core->CreateActor(std::move(spec), std::move(reply), Opaque(std::move(nested)));
  });
  if (!ev.flag) throw std::invalid_argument("ferry::Actor(...).Remote: " + ev.message);
  return id;
}

std::shared_ptr<RefHandle> SubmitActorTask(const ActorId& actor, const std::string& method,
                                           std::vector<ArgSpec> args, const CallOptions& options,
                                           Holds nested) {
  auto rt = Current();
  wire::TaskSpec spec;
  spec.id = rt->core()->NewTaskId();
  spec.return_id = ObjectId{spec.id, 0};
  spec.kind = wire::TaskKind::kActorCall;
  spec.actor = actor;
  spec.function = method;
  spec.name = options.name.empty() ? method : options.name;
  spec.max_retries = -2;  // the actor's max_task_retries
  KeepBorrowedArgs(args, rt->self(), nested);
  FillArgs(args, spec);
  auto handle = std::make_shared<RefHandle>(spec.return_id, g_epoch.load());
  rt->core()->Submit(std::move(spec), Opaque(std::move(nested)));
  return handle;
}

void KillActor(const ActorId& actor, bool no_restart) {
  auto rt = Current();
  core::CoreWorker* core = rt->core();
  wire::ActorEvent req;
  req.request_id = core->NewRequestId();
  req.actor = actor;
  req.flag = no_restart;
  wire::ActorEvent ev = AskGcs([&](core::CoreWorker::GcsReply reply) {
    core->RequestGcs(wire::MsgType::kActorKill, req, std::move(reply));
  });
  if (!ev.flag) FERRY_LOG(WARNING) << "Kill(" << actor << "): " << ev.message;
}

bool LookupActor(const std::string& name, const std::string& ns, const std::string& class_name,
                 ActorId* out) {
  auto rt = Current();
  core::CoreWorker* core = rt->core();
  wire::ActorEvent req;
  req.request_id = core->NewRequestId();
  req.name = name;
  req.ns = ns;
  wire::ActorEvent ev = AskGcs([&](core::CoreWorker::GcsReply reply) {
    core->RequestGcs(wire::MsgType::kActorLookup, req, std::move(reply));
  });
  if (!ev.flag || ev.state == wire::ActorState::kDead) return false;
  if (ev.class_name != class_name)
    throw std::invalid_argument("ferry::GetActor: the actor named '" + name + "' is a " +
                                Demangle(ev.class_name) + ", not a " + Demangle(class_name));
  *out = ev.actor;
  return true;
}

std::shared_ptr<RefHandle> PutObject(Buffer value, bool borrowed, Holds nested) {
  auto rt = Current();
  // A large value is written into the arena here, on the caller's thread: the loop copies
  // nothing.
  const uint64_t capacity = rt->store()->capacity();
  if (capacity > 0 && value.size() > capacity &&
      static_cast<int64_t>(value.size()) > rt->config().inline_threshold_bytes)
    throw ObjectStoreFullError("ferry::Put: an object of " + std::to_string(value.size()) +
                               " bytes does not fit in this rank's object store of " +
                               std::to_string(capacity) +
                               " bytes (FERRY_OBJECT_STORE_MEMORY sets its size)");
  const uint8_t* caller_bytes = value.data();
  if (static_cast<int64_t>(value.size()) > rt->config().inline_threshold_bytes)
    value = store::ObjectStore::CopyIntoArena(rt->store()->arena(), std::move(value));
  // Still the caller's memory (small, or no room in the arena): take a copy of our own.
  if (borrowed && value.data() == caller_bytes && !value.empty())
    value = Buffer::CopyOf(value.data(), value.size());
  ObjectId id{rt->core()->NewTaskId(), 0};
  auto handle = std::make_shared<RefHandle>(id, g_epoch.load());
  rt->core()->Put(id, std::move(value), Opaque(std::move(nested)));
  return handle;
}

std::shared_ptr<RefHandle> AdoptRef(const ObjectId& id) {
  auto rt = Current();
  rt->core()->AddLocalRef(id);
  return std::make_shared<RefHandle>(id, g_epoch.load());
}

std::vector<Buffer> GetObjects(const std::vector<ObjectId>& ids, int64_t timeout_ms) {
  auto rt = Current();
  core::CoreWorker* core = rt->core();
  // Objects already ready in this owner's memory store are read here, without a trip through
  // the loop; only the others are asked for there.
  std::vector<raylet::Resolved> results(ids.size());
  std::vector<size_t> missing;
  core->TryGetReadyMany(ids, &results, &missing);
  if (!missing.empty()) {
    auto g = std::make_shared<Gather>();
    g->results.resize(missing.size());
    std::vector<ObjectId> ask;
    ask.reserve(missing.size());
    for (size_t i : missing) ask.push_back(ids[i]);
    rt->loop()->Post([core, ask = std::move(ask), g] {
      for (size_t i = 0; i < ask.size(); ++i) {
        core->GetAsync(ask[i], [g, i](const raylet::Resolved& r) {
          std::lock_guard<std::mutex> lock(g->mu);
          g->results[i] = r;
          if (++g->count == g->results.size()) g->cv.notify_all();
        });
      }
    });
    {
      BlockedScope blocked;
      if (!WaitFor(*g, missing.size(), timeout_ms)) {
        std::lock_guard<std::mutex> lock(g->mu);
        throw TimeoutError("ferry::Get timed out after " + std::to_string(timeout_ms) +
                           " ms with " + std::to_string(missing.size() - g->count.load()) +
                           " of " + std::to_string(ids.size()) + " objects not ready");
      }
    }
    std::lock_guard<std::mutex> lock(g->mu);
    for (size_t k = 0; k < missing.size(); ++k) results[missing[k]] = std::move(g->results[k]);
  }
  std::vector<Buffer> out;
  out.reserve(ids.size());
  for (raylet::Resolved& r : results) {
    if (!r.ok) ThrowFor(r.error);
    out.push_back(std::move(r.data));
  }
  return out;
}

Buffer GetObject(const ObjectId& id, int64_t timeout_ms) {
  return std::move(GetObjects({id}, timeout_ms).front());
}

std::vector<bool> WaitObjects(const std::vector<ObjectId>& ids, size_t num_ready,
                              int64_t timeout_ms) {
  auto rt = Current();
  auto g = std::make_shared<Gather>();
  g->ready.assign(ids.size(), false);
  core::CoreWorker* core = rt->core();
  rt->loop()->Post([core, ids, g] {
    for (size_t i = 0; i < ids.size(); ++i) {
      core->WhenReady(ids[i], [g, i] {
        std::lock_guard<std::mutex> lock(g->mu);
        g->ready[i] = true;
        ++g->count;
        g->cv.notify_all();
      });
    }
  });
  {
    BlockedScope blocked;
    WaitFor(*g, num_ready, timeout_ms);
  }
  std::lock_guard<std::mutex> lock(g->mu);
  return g->ready;
}

LocalStats GetLocalStats() {
  auto rt = Current();
  std::promise<LocalStats> p;
  rt->loop()->Post([&p, rt = rt.get()] {
    LocalStats s;
    core::CoreStats c = rt->core()->stats();
    s.owned_objects = c.owned_objects;
    s.pending_tasks = c.pending_tasks;
    s.tasks_retried = c.tasks_retried;
    s.objects_rebuilt = c.objects_rebuilt;
    s.tasks_handed_back = c.tasks_handed_back;
    s.objects_taken_over = c.objects_taken_over;
    s.lineage_bytes = c.lineage_bytes;
    s.memory_used = rt->raylet()->memory().used;
    s.memory_total = rt->raylet()->memory().total;
    s.memory_pressure = rt->raylet()->memory_pressure();
    store::StoreStats st = rt->store()->stats();
    s.store_objects = st.objects;
    s.store_bytes = st.bytes;
    s.store_primary_objects = st.primary_objects;
    s.store_capacity = st.capacity;
    s.store_arena_used = st.arena_used;
    s.store_pinned_objects = st.pinned_objects;
    s.store_heap_objects = st.heap_objects;
    s.store_evicted_objects = st.evicted_objects;
    s.store_spilled_objects = st.spilled_objects;
    s.store_spilled_bytes = st.spilled_bytes;
    s.store_spill_count = st.spill_count;
    s.store_restore_count = st.restore_count;
    p.set_value(s);
  });
  return p.get_future().get();
}

std::vector<ObjectStats> ListLocalObjects() {
  auto rt = Current();
  std::promise<std::vector<ObjectStats>> p;
  rt->loop()->Post([&p, rt = rt.get()] {
    std::map<ObjectId, ObjectStats> all;
    rt->core()->ForEachOwned([&](const ObjectId& id, bool ready, const wire::ObjectValue& v,
                                 const std::vector<NodeId>& copies) {
      ObjectStats& o = all[id];
      o.id = id;
      o.owner = id.owner();
      o.owned = true;
      o.locations = copies;
      if (!ready) {
        o.state = "pending";
      } else if (v.kind == wire::ObjectValue::Kind::kInline) {
        o.state = "inline";
        o.size = v.data.size();
      } else if (v.kind == wire::ObjectValue::Kind::kError) {
        o.state = "failed";
      } else {
        o.state = v.location.node == rt->self() ? "in_store" : "remote";
        o.size = v.location.size;
      }
    });
    rt->store()->ForEach([&](const ObjectId& id, const store::StoredObject& obj) {
      ObjectStats& o = all[id];
      o.id = id;
      o.owner = id.owner();
      o.size = obj.size;
      o.stored = true;
      o.primary = obj.primary;
      o.pinned = !obj.spilled() && obj.data.keepalive().use_count() > 1;
      o.state = obj.spilled() ? "spilled" : "in_store";
    });
    std::vector<ObjectStats> out;
    out.reserve(all.size());
    for (auto& [id, o] : all) out.push_back(std::move(o));
    p.set_value(std::move(out));
  });
  return p.get_future().get();
}

}  // namespace internal
}  // namespace ferry

namespace ferry {
namespace {

// Runs `fn` on the loop of `rt` and returns its result (loop-confined state, read safely).
template <typename T, typename Fn>
T OnLoop(api::Runtime* rt, Fn&& fn) {
  std::promise<T> p;
  rt->loop()->Post([&p, &fn] { p.set_value(fn()); });
  return p.get_future().get();
}

}  // namespace

NodeId GetCurrentNodeId() { return Current()->self(); }

std::vector<NodeInfo> GetNodes() {
  auto rt = Current();
  scheduler::ClusterView view =
      OnLoop<scheduler::ClusterView>(rt.get(), [&] { return rt->core()->cluster_view(); });
  std::vector<NodeInfo> out;
  const std::vector<launch::PeerInfo> peers = rt->peers();
  for (const scheduler::NodeView& n : view.nodes) {
    NodeInfo info;
    info.id = n.id;
    info.alive = n.alive;
    info.rank = n.id.value();
    for (const launch::PeerInfo& p : peers) {
      if (p.rank != n.id.value()) continue;
      info.hostname = p.hostname;
      info.pid = p.pid;
    }
    info.resources = n.total.ToMap();
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
  return out;
}

void DrainNode(const NodeId& node, const std::string& reason) {
  auto rt = Current();
  std::string problem = OnLoop<std::string>(rt.get(), [&]() -> std::string {
    if (node == NodeId(0)) return "the head (node-0) cannot leave its cluster";
    for (const scheduler::NodeView& n : rt->core()->cluster_view().nodes) {
      if (n.id != node) continue;
      if (!n.alive) return node.ToString() + " is dead";
      rt->RequestDrain(node, reason);
      return "";
    }
    return node.ToString() + " is not a node of this cluster";
  });
  if (!problem.empty()) throw RuntimeError("ferry::DrainNode: " + problem);
}

std::map<std::string, double> GetClusterResources() {
  auto rt = Current();
  return OnLoop<std::map<std::string, double>>(rt.get(), [&] {
    ResourceSet sum;
    for (const scheduler::NodeView& n : rt->core()->cluster_view().nodes)
      if (n.alive) sum.Add(n.total);
    return sum.ToMap();
  });
}

std::map<std::string, double> GetAvailableResources() {
  auto rt = Current();
  return OnLoop<std::map<std::string, double>>(rt.get(), [&] {
    ResourceSet sum;
    for (const scheduler::NodeView& n : rt->core()->cluster_view().nodes) {
      if (!n.alive) continue;
      for (const auto& [name, units] : n.available.items())
        if (units > 0) sum.SetUnits(name, sum.Units(name) + units);
    }
    return sum.ToMap();
  });
}

std::vector<int> GetGpuIds() { return raylet::CurrentGpuIds(); }

namespace {

// Sends a placement-group request and waits for the answer (header first), at most
// `timeout_ms` (< 0: no limit). A waiting task body lends its CPU meanwhile.
std::optional<std::vector<wire::PgEvent>> AskPg(wire::MsgType type, wire::PgEvent request,
                                                int64_t timeout_ms = -1) {
  auto rt = Current();
  auto answer = std::make_shared<std::promise<std::vector<wire::PgEvent>>>();
  std::future<std::vector<wire::PgEvent>> f = answer->get_future();
  rt->core()->RequestPg(type, std::move(request),
                        [answer](const std::vector<wire::PgEvent>& ev) { answer->set_value(ev); });
  BlockedScope blocked;
  if (timeout_ms >= 0 &&
      f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
    return std::nullopt;
  return f.get();
}

PlacementGroup ToGroup(const wire::PgEvent& ev) {
  PlacementGroupCreationOptions o;
  o.name = ev.name;
  o.strategy = static_cast<PlacementStrategy>(ev.strategy);
  for (const ResourceSet& b : ev.bundles) {
    std::unordered_map<std::string, double> m;
    for (const auto& [name, amount] : b.ToPairs()) m[name] = amount;
    o.bundles.push_back(std::move(m));
  }
  return PlacementGroup(ev.pg, std::move(o));
}

}  // namespace

namespace internal {

PlacementGroupId CreatePlacementGroup(
    const std::string& name, const std::vector<std::unordered_map<std::string, double>>& bundles,
    int strategy) {
  if (bundles.empty())
    throw std::invalid_argument("ferry: CreatePlacementGroup: a group needs at least one bundle");
  if (strategy < 0 || strategy > 3)
    throw std::invalid_argument("ferry: CreatePlacementGroup: unknown strategy");
  wire::PgEvent req;
  req.name = name;
  req.strategy = static_cast<uint8_t>(strategy);
  for (size_t i = 0; i < bundles.size(); ++i) {
    ResourceSet b;
    for (const auto& [res, amount] : bundles[i]) {
      CheckResource(res, amount);
      b.Set(res, amount);
    }
    if (b.empty())
      throw std::invalid_argument("ferry: CreatePlacementGroup: bundle " + std::to_string(i) +
                                  " asks for nothing");
    req.bundles.push_back(std::move(b));
  }
  auto rt = Current();
  req.pg = PlacementGroupId{rt->core()->NewTaskId()};
  const PlacementGroupId id = req.pg;
  std::vector<wire::PgEvent> answer = *AskPg(wire::MsgType::kPgCreate, std::move(req));
  if (!answer[0].flag)
    throw std::invalid_argument("ferry: CreatePlacementGroup: " + answer[0].message);
  return id;
}

void RemovePlacementGroup(const PlacementGroupId& id) {
  // Asynchronous, as in Ray: this process's later requests reach the head after it.
  wire::PgEvent req;
  req.pg = id;
  Current()->core()->RequestPg(wire::MsgType::kPgRemove, std::move(req),
                               [](const std::vector<wire::PgEvent>&) {});
}

int PlacementGroupStateOf(const PlacementGroupId& id) {
  wire::PgEvent req;
  req.pg = id;
  std::vector<wire::PgEvent> answer = *AskPg(wire::MsgType::kPgQuery, std::move(req));
  if (!answer[0].flag || answer.size() < 2) return static_cast<int>(PlacementGroupState::REMOVED);
  return static_cast<int>(answer[1].state);
}

bool WaitPlacementGroup(const PlacementGroupId& id, double timeout_seconds) {
  if (id.IsNil()) throw std::invalid_argument("ferry: Wait on an empty placement group");
  wire::PgEvent req;
  req.pg = id;
  req.flag = true;  // answer once it is created or removed
  const int64_t ms = timeout_seconds < 0 ? -1 : static_cast<int64_t>(timeout_seconds * 1000);
  auto answer = AskPg(wire::MsgType::kPgQuery, std::move(req), ms);
  if (!answer) return false;
  if (!(*answer)[0].flag || answer->size() < 2)
    throw TaskUnschedulableError("ferry: " + (*answer)[0].message);
  if ((*answer)[1].state == wire::PgState::kRemoved)
    throw TaskUnschedulableError("ferry: " + id.ToString() + " was removed");
  return (*answer)[1].state == wire::PgState::kCreated;
}

}  // namespace internal

PlacementGroup CreatePlacementGroup(const PlacementGroupCreationOptions& options) {
  PlacementGroupId id = internal::CreatePlacementGroup(options.name, options.bundles,
                                                       static_cast<int>(options.strategy));
  return PlacementGroup(id, options);
}

void RemovePlacementGroup(const PlacementGroupId& id) { internal::RemovePlacementGroup(id); }

PlacementGroup GetPlacementGroup(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("ferry: GetPlacementGroup: empty name");
  wire::PgEvent req;
  req.name = name;
  std::vector<wire::PgEvent> answer = *AskPg(wire::MsgType::kPgQuery, std::move(req));
  if (!answer[0].flag || answer.size() < 2) return PlacementGroup();
  return ToGroup(answer[1]);
}

PlacementGroup GetPlacementGroupById(const PlacementGroupId& id) {
  wire::PgEvent req;
  req.pg = id;
  std::vector<wire::PgEvent> answer = *AskPg(wire::MsgType::kPgQuery, std::move(req));
  if (!answer[0].flag || answer.size() < 2) return PlacementGroup();
  return ToGroup(answer[1]);
}

std::vector<PlacementGroup> GetAllPlacementGroups() {
  std::vector<wire::PgEvent> answer = *AskPg(wire::MsgType::kPgQuery, wire::PgEvent{});
  std::vector<PlacementGroup> out;
  for (size_t i = 1; i < answer.size(); ++i) out.push_back(ToGroup(answer[i]));
  return out;
}

std::vector<InfeasibleTask> GetInfeasibleTasks() {
  auto rt = Current();
  auto tasks = OnLoop<std::vector<core::CoreWorker::Infeasible>>(
      rt.get(), [&] { return rt->core()->InfeasibleTasks(); });
  std::vector<InfeasibleTask> out;
  for (auto& t : tasks) out.push_back({t.task, t.name, t.demand.ToMap(), t.reason});
  return out;
}

}  // namespace ferry
