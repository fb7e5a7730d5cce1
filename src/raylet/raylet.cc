#include "src/raylet/raylet.h"

#include <cstdio>

#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <future>
#include <iterator>
#include <typeinfo>

#include "ferry/internal/function_registry.h"
#include "ferry/internal/runtime_hooks.h"
#include "src/common/logging.h"
#include "src/gcs/cluster_table.h"

namespace ferry::raylet {
namespace {

thread_local Raylet* t_raylet = nullptr;
thread_local double t_cpus = 0;
thread_local const std::vector<int>* t_gpus = nullptr;
thread_local bool t_in_actor = false;
thread_local bool t_actor_restarted = false;

// Marks the calling executor thread as running user code of this raylet (and of an actor).
class BodyScope {
 public:
  BodyScope(Raylet* raylet, double cpus, bool actor, bool restarted,
            const std::vector<int>* gpus) {
    t_raylet = raylet;
    t_cpus = cpus;
    t_gpus = gpus;
    t_in_actor = actor;
    t_actor_restarted = restarted;
  }
  ~BodyScope() {
    t_raylet = nullptr;
    t_cpus = 0;
    t_gpus = nullptr;
    t_in_actor = false;
    t_actor_restarted = false;
  }
};

constexpr uint16_t Type(wire::MsgType t) { return static_cast<uint16_t>(t); }

std::string Demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : name;
  std::free(d);
  return out;
}

// Type name of the exception being handled (inside a catch block).
std::string CurrentExceptionType() {
  std::type_info* t = abi::__cxa_current_exception_type();
  return t != nullptr ? Demangle(t->name()) : "unknown exception";
}

}  // namespace

Raylet* CurrentRaylet() { return t_raylet; }
double CurrentTaskCpus() { return t_cpus; }
const std::vector<int>& CurrentGpuIds() {
  static const std::vector<int> kNone;
  return t_gpus != nullptr ? *t_gpus : kNone;
}
bool InActor() { return t_in_actor; }
bool CurrentActorRestarted() { return t_actor_restarted; }

Raylet::Raylet(RayletOptions options, EventLoop* loop, transport::Messenger* messenger,
               ObjectManager* objects, store::ObjectStore* store)
    : options_(options),
      loop_(loop),
      messenger_(messenger),
      objects_(objects),
      store_(store),
      // No CPUs (a driver-only head): no idle executor polling for work that never comes;
      // threads start on demand if zero-CPU tasks arrive.
      pool_(std::make_unique<ExecutorPool>(
          static_cast<size_t>(std::max(0.0, std::ceil(options.resources.Get(kCpu)))),
          std::chrono::microseconds(options.executor_spin_us))) {
  const double cpus = options.resources.Get(kCpu);
  max_args_admitted_ = std::max<size_t>(4, 2 * static_cast<size_t>(std::ceil(cpus)) + 2);
  total_ = options.resources;
  available_ = total_;
  for (int id : options.gpu_ids) gpu_free_.emplace_back(id, ResourceSet::kScale);
}

Raylet::~Raylet() { Stop(); }

void Raylet::Stop() {
  if (stop_called_.exchange(true)) return;
  // The queue belongs to the loop: clear it there. Runtime stops the raylet before the loop.
  if (loop_->running()) {
    std::promise<void> cleared;
    loop_->Post([this, &cleared] {
      stopped_ = true;
      if (report_timer_ != 0) loop_->CancelTimer(report_timer_);
      report_timer_ = 0;
      if (memory_timer_ != 0) loop_->CancelTimer(memory_timer_);
      memory_timer_ = 0;
      shapes_.clear();
      ready_count_ = 0;
      awaiting_args_.clear();
      for (auto& [id, actor] : actors_) stopped_actors_.push_back(actor);
      actors_.clear();
      cleared.set_value();
    });
    cleared.get_future().wait();
  } else {
    stopped_ = true;
    shapes_.clear();
    ready_count_ = 0;
    awaiting_args_.clear();
    for (auto& [id, actor] : actors_) stopped_actors_.push_back(actor);
    actors_.clear();
  }
  pool_->Stop();
  // Every method has returned: the instances go now, on the loop, which owns the actors (a
  // factory that finished during the stop hands its instance over there too).
  auto destroy = [this] {
    for (auto& actor : stopped_actors_) {
      actor->dying = true;
      if (actor->instance != nullptr && actor->deleter != nullptr)
        actor->deleter(actor->instance);
      actor->instance = nullptr;
    }
    stopped_actors_.clear();
  };
  if (loop_->running()) {
    std::promise<void> done;
    loop_->Post([&] {
      destroy();
      done.set_value();
    });
    done.get_future().wait();
  } else {
    destroy();
  }
}

void Raylet::HandleSubmitTasks(NodeId from, const Buffer& msg) {
  std::vector<wire::TaskSpec> specs;
  if (Status st = wire::DecodeTaskSpecs(msg, &specs); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed SubmitTasks message from " << from << ": "
                                  << st.ToString();
    return;
  }
  SubmitTasks(from, std::move(specs));
}

void Raylet::SubmitTasks(NodeId from, std::vector<wire::TaskSpec> specs) {
  for (wire::TaskSpec& spec : specs) {
    if (spec.kind == wire::TaskKind::kActorCall) {
      SubmitActorCall(from, std::move(spec));
      continue;
    }
    if (spec.kind != wire::TaskKind::kNormal) {
      FERRY_LOG_RATE_LIMITED(ERROR) << "dropped an actor creation sent by " << from
                                    << " as a task (only the GCS creates actors)";
      continue;
    }
    // Results go to the task's owner, whoever forwarded it here.
    const NodeId owner = spec.id.owner;
    std::shared_ptr<Task> task = NewTask(owner, std::move(spec));
    if (draining_) {
      ReturnTask(task);
      continue;
    }
    task->demand = ResourceSet::FromPairs(task->spec.resources);
    if (!total_.Contains(task->demand)) {
      if (PlacementGroupId pg = RemovedGroupOf(*task); !pg.IsNil()) {
        FailRemovedGroupTask(task, pg);
        continue;
      }
      if (Forward(task) == ForwardOutcome::kForwarded) continue;
      FERRY_LOG_RATE_LIMITED(WARNING)
          << "task '" << task->spec.name << "' needs " << task->demand.ToString() << " and "
          << options_.self << " has " << total_.ToString()
          << " in total; it waits here until a node that can run it is known";
    }
    if (task->unresolved == 0) {
      PushReady(std::move(task));
      continue;
    }
    LocateArgs(task);
  }
  Dispatch();
  AdmitArgs();
  Spillback();
}

void Raylet::LocateArgs(const std::shared_ptr<Task>& task) {
  locating_++;
  task->located.resize(task->spec.args.size());
  task->unlocated = task->unresolved;
  for (size_t i = 0; i < task->spec.args.size(); ++i) {
    if (task->spec.args[i].kind != wire::TaskArg::Kind::kRef) continue;
    objects_->Locate(task->spec.args[i].ref, [this, task, i](const wire::ObjectValue& v) {
      task->located[i] = v;
      if (--task->unlocated != 0) return;
      locating_--;
      if (stopped_) return;
      if (PlacementGroupId pg = RemovedGroupOf(*task); !pg.IsNil()) {
        FailRemovedGroupTask(task, pg);
        return;
      }
      if (draining_) {
        ReturnTask(task);
        return;
      }
      awaiting_args_.push_back(task);
      AdmitArgs();
      Spillback();
    });
  }
}

void Raylet::FetchArgs(const std::shared_ptr<Task>& task) {
  for (size_t i = 0; i < task->spec.args.size(); ++i) {
    if (task->spec.args[i].kind != wire::TaskArg::Kind::kRef) continue;
    const ObjectId& id = task->spec.args[i].ref;
    auto done = [this, task, i](const Resolved& r) { ArgResolved(task, i, r); };
    const wire::ObjectValue& v = task->located[i];
    // A copy found here at location time may have been evicted since: ask again.
    if (v.kind == wire::ObjectValue::Kind::kLocation && v.location.node == options_.self) {
      objects_->Resolve(id, std::move(done));
    } else {
      objects_->Materialize(id, v, std::move(done));
    }
  }
  task->located.clear();
}

void Raylet::PushReady(std::shared_ptr<Task> task) {
  if (draining_ && !task->actor) {
    ReleaseArgSlot(task);
    ReturnTask(task);
    return;
  }
  ready_count_++;
  for (ShapeQueue& q : shapes_) {
    if (q.demand == task->demand) {
      q.tasks.push_back(std::move(task));
      return;
    }
  }
  shapes_.push_back({task->demand, {}});
  shapes_.back().tasks.push_back(std::move(task));
}

void Raylet::Acquire(Task& task) {
  available_.Subtract(task.demand);
  int64_t need = task.demand.Units(kGpu);
  if (need <= 0 || gpu_free_.empty()) return;
  if (need >= ResourceSet::kScale) {
    // Whole devices: the first free ones.
    int64_t whole = (need + ResourceSet::kScale - 1) / ResourceSet::kScale;
    for (auto& [id, free] : gpu_free_) {
      if (whole == 0) break;
      if (free != ResourceSet::kScale) continue;
      free = 0;
      task.gpus.push_back(id);
      --whole;
    }
    return;
  }
  // A fraction: the busiest device that still has room, so whole devices stay free.
  std::pair<int, int64_t>* best = nullptr;
  for (auto& g : gpu_free_)
    if (g.second >= need && (best == nullptr || g.second < best->second)) best = &g;
  if (best == nullptr) return;
  best->second -= need;
  task.gpus.push_back(best->first);
}

void Raylet::Release(const ResourceSet& demand, const std::vector<int>& gpus) {
  // Resources of a group removed meanwhile are not given back: they no longer exist here.
  for (const auto& [name, units] : demand.items())
    if (total_.Has(name)) available_.AddUnits(name, units);
  if (!gpus.empty()) {
    int64_t need = demand.Units(kGpu);
    int64_t each = need >= ResourceSet::kScale ? ResourceSet::kScale : need;
    for (int id : gpus)
      for (auto& [gid, free] : gpu_free_)
        if (gid == id) free = std::min<int64_t>(ResourceSet::kScale, free + each);
  }
}

void Raylet::AdmitArgs() {
  while (!stopped_ && !awaiting_args_.empty() && args_admitted_ < max_args_admitted_) {
    std::shared_ptr<Task> task = std::move(awaiting_args_.front());
    awaiting_args_.pop_front();
    task->holds_args = true;
    args_admitted_++;
    FetchArgs(task);  // may complete (and dispatch) right here
  }
}

void Raylet::ReleaseArgSlot(const std::shared_ptr<Task>& task) {
  if (!task->holds_args) return;
  task->holds_args = false;
  args_admitted_--;
}

std::shared_ptr<Raylet::Task> Raylet::NewTask(NodeId owner, wire::TaskSpec&& spec) {
  auto task = std::make_shared<Task>();
  task->owner = owner;
  task->args.resize(spec.args.size());
  task->spec = std::move(spec);
  for (size_t i = 0; i < task->spec.args.size(); ++i) {
    if (task->spec.args[i].kind == wire::TaskArg::Kind::kValue) {
      task->args[i] = task->spec.args[i].value;
    } else {
      task->unresolved++;
    }
  }
  return task;
}

void Raylet::ResolveArgs(const std::shared_ptr<Task>& task, ArgDone done) {
  for (size_t i = 0; i < task->spec.args.size(); ++i) {
    if (task->spec.args[i].kind != wire::TaskArg::Kind::kRef) continue;
    objects_->Resolve(task->spec.args[i].ref,
                      [this, task, i, done](const Resolved& r) { (this->*done)(task, i, r); });
  }
}

void Raylet::ArgResolved(const std::shared_ptr<Task>& task, size_t index, const Resolved& r) {
  if (r.ok) {
    task->args[index] = r.data;
  } else if (!task->failed) {
    task->failed = true;
    task->error = r.error;
  }
  if (--task->unresolved != 0) return;
  if (task->failed) {
    if (task->actor) {
      CreationDone(task, nullptr, "an argument of its factory failed: " + task->error.message);
      return;
    }
    // A task whose argument failed fails with the upstream error, its kind and message kept.
    ReleaseArgSlot(task);
    Finished(task, Buffer(), task->error);
    AdmitArgs();
    return;
  }
  PushReady(task);
  Dispatch();
}

void Raylet::Dispatch() {
  if (memory_pressure_) return;  // nothing new starts until memory use falls
  std::vector<std::function<void()>> batch;
  bool admit = false;
  for (ShapeQueue& q : shapes_) {
    while (!stopped_ && !q.tasks.empty()) {
      if (q.tasks.front()->actor && q.tasks.front()->actor->dying) {  // killed before it ran
        q.tasks.pop_front();
        ready_count_--;
        continue;
      }
      if (!available_.Contains(q.demand)) break;
      std::shared_ptr<Task> task = std::move(q.tasks.front());
      q.tasks.pop_front();
      ready_count_--;
      if (task->holds_args) {
        ReleaseArgSlot(task);  // running now: its arguments stay held by the body alone
        admit = true;
      }
      Acquire(*task);
      if (task->actor) {
        task->actor->holds_resources = true;
        task->actor->gpus = task->gpus;
        batch.push_back(MakeBody(std::move(task)));
        continue;
      }
      running_.insert(task);
      std::vector<std::shared_ptr<Task>> rest;
      if (q.last_run_ns >= 0 && q.last_run_ns < kChainTaskNs && task->gpus.empty() &&
          !draining_ && !available_.Contains(q.demand)) {
        while (rest.size() + 1 < kChainMax && !q.tasks.empty() && !q.tasks.front()->actor) {
          std::shared_ptr<Task> more = std::move(q.tasks.front());
          q.tasks.pop_front();
          ready_count_--;
          if (more->holds_args) {
            ReleaseArgSlot(more);
            admit = true;
          }
          running_.insert(more);
          rest.push_back(std::move(more));
        }
      }
      batch.push_back(MakeBody(std::move(task), std::move(rest)));
    }
  }
  // Empty queues stay for the next tasks of their shape (a queue costs allocations), unless
  // many shapes came and went.
  if (shapes_.size() > 16)
    std::erase_if(shapes_, [](const ShapeQueue& q) { return q.tasks.empty(); });
  pool_->Run(std::move(batch));  // one lock and at most one wake-up per idle thread
  if (admit) AdmitArgs();
}

std::vector<std::shared_ptr<Raylet::Task>> Raylet::Chain::TakeRest() {
  std::vector<std::shared_ptr<Task>> taken(
      std::make_move_iterator(rest.begin() + static_cast<long>(next)),
      std::make_move_iterator(rest.end()));
  rest.clear();
  next = 0;
  return taken;
}

void Raylet::Requeue(std::vector<std::shared_ptr<Task>> tasks) {
  for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
    std::shared_ptr<Task>& task = *it;
    running_.erase(task);
    if (task->returned) continue;  // handed back by a drain meanwhile
    if (draining_) {
      ReturnTask(task);  // it has not run: its owner places it elsewhere
      continue;
    }
    ready_count_++;
    auto q = std::find_if(shapes_.begin(), shapes_.end(),
                          [&](const ShapeQueue& s) { return s.demand == task->demand; });
    if (q == shapes_.end()) {
      shapes_.push_back({task->demand, {}});
      q = shapes_.end() - 1;
    }
    q->tasks.push_front(std::move(task));
  }
  Dispatch();
}

std::function<void()> Raylet::MakeBody(std::shared_ptr<Task> task,
                                       std::vector<std::shared_ptr<Task>> rest) {
  if (task->actor) {
    // An actor's factory: the instance it returns lives on; its CPUs stay held.
    return [this, task] {
      const internal::FunctionEntry* fn = internal::FindFunction(task->spec.function);
      void* instance = nullptr;
      std::string error;
      if (fn == nullptr || fn->kind != internal::FunctionKind::kFactory) {
        error = "'" + task->spec.function + "' is not a registered actor factory on " +
                options_.self.ToString();
      } else {
        BodyScope scope(this, 0, true, task->actor->incarnation > 0, &task->actor->gpus);
        try {
          instance = fn->factory(task->args);
        } catch (const std::exception& e) {
          error = "its constructor threw " + CurrentExceptionType() + ": " + e.what();
        } catch (...) {
          error = "its constructor threw " + CurrentExceptionType();
        }
      }
      task->args.clear();
      loop_->Post([this, task, instance, error = std::move(error)]() mutable {
        CreationDone(task, instance, std::move(error));
      });
    };
  }
  return [this, task = std::move(task), chain = Chain{std::move(rest), 0}]() mutable {
    std::shared_ptr<Task> current = std::move(task);
    while (current != nullptr) {
      Buffer result;
      wire::ErrorInfo error;
      t_chain_ = &chain;
      RunBody(*current, result, error);
      t_chain_ = nullptr;
      // A task that ran long says this shape's tasks are not all short: the rest go back to
      // the queue, where any free executor (or node) can take them.
      if (current->run_ns >= kChainTaskNs && chain.next < chain.rest.size()) {
        loop_->Post([this, back = chain.TakeRest()]() mutable { Requeue(std::move(back)); });
      }
      std::shared_ptr<Task> next;
      if (chain.next < chain.rest.size()) next = std::move(chain.rest[chain.next++]);
      // The last task of the chain gives its resources back.
      const bool last = next == nullptr;
      loop_->Post([this, task = std::move(current), last, result = std::move(result),
                   error = std::move(error)]() mutable {
        if (last) Release(task->demand, task->gpus);
        running_.erase(task);
        for (ShapeQueue& q : shapes_) {
          if (q.demand == task->demand) {
            q.last_run_ns = task->run_ns;
            break;
          }
        }
        if (!task->returned) Finished(task, std::move(result), std::move(error));
        if (last) Dispatch();
      });
      current = std::move(next);
    }
  };
}

void Raylet::RunBody(Task& task, Buffer& result, wire::ErrorInfo& error) {
  const auto start = std::chrono::steady_clock::now();
  const internal::FunctionEntry* fn = internal::FindFunction(task.spec.function);
  if (fn == nullptr) {
    error = {wire::ErrorKind::kFunctionNotFound,
             "function '" + task.spec.function + "' is not registered on " +
                 options_.self.ToString() + " (is every rank running the same binary?)"};
  } else if (fn->kind != internal::FunctionKind::kFunction) {
    error = {wire::ErrorKind::kFunctionNotFound,
             "'" + task.spec.function + "' is an actor factory or method, not a task function"};
  } else {
    {
      BodyScope scope(this, task.demand.Get(kCpu), false, false, &task.gpus);
      internal::RefCapture returned;  // refs serialized into the result
      try {
        result = fn->invoker(task.args);
        task.result_refs = returned.Take();
      } catch (const std::exception& e) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType() + ": " + e.what()};
      } catch (...) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType()};
      }
    }
    if (error.kind == wire::ErrorKind::kTaskError) {
      error.message = "task '" + (task.spec.name.empty() ? task.spec.function : task.spec.name) +
                      "' failed on " + options_.self.ToString() + ": " + error.message;
    }
  }
  task.args.clear();  // drop argument bytes on the executor, not the loop
  // A large result goes into the arena here, so the loop never copies bytes.
  if (static_cast<int64_t>(result.size()) > options_.inline_threshold)
    result = store::ObjectStore::CopyIntoArena(store_->arena(), std::move(result));
  task.run_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
}

void Raylet::Finished(const std::shared_ptr<Task>& task, Buffer result, wire::ErrorInfo error) {
  wire::TaskResult out;
  out.task = task->spec.id;
  out.return_id = task->spec.return_id;
  if (!task->result_refs.empty() && error.kind == wire::ErrorKind::kNone) {
    for (const auto& h : task->result_refs) out.contained.push_back(h->id());
    result_refs_[out.return_id] = std::move(task->result_refs);
  }
  task->result_refs.clear();
  if (error.kind != wire::ErrorKind::kNone) {
    out.value.kind = wire::ObjectValue::Kind::kError;
    out.value.error = std::move(error);
  } else if (static_cast<int64_t>(result.size()) <= options_.inline_threshold) {
    out.value.kind = wire::ObjectValue::Kind::kInline;
    out.value.data = std::move(result);
  } else {
    const ObjectId& id = task->spec.return_id;
    // Primary copy here; any rank may later read it as an argument.
    Result<wire::Location> loc = store_->SealPrimary(id, std::move(result));
    if (!loc.ok()) {
      out.value.kind = wire::ObjectValue::Kind::kError;
      out.value.error = {store::StoreErrorKind(loc.status()),
                         "could not store the result of '" + task->spec.name + "' on " +
                             options_.self.ToString() + ": " + loc.status().message()};
    } else {
      out.value.kind = wire::ObjectValue::Kind::kLocation;
      out.value.location = std::move(loc).value();
    }
  }
  Reply(task->owner, std::move(out));
}

void Raylet::Reply(NodeId owner, wire::TaskResult result) {
  if (borrows_settled_ && !borrows_settled_()) {
    defer_until_settled_([this, owner, result = std::move(result)]() mutable {
      Reply(owner, std::move(result));
    });
    return;
  }
  auto& batch = replies_[owner];
  batch.push_back(std::move(result));
  if (static_cast<int>(batch.size()) >= options_.max_batch) {
    SendResults(owner, std::move(batch));
    batch.clear();
    return;
  }
  if (!flush_posted_) {
    flush_posted_ = true;
    loop_->Post([this] { FlushReplies(); });
  }
}

void Raylet::FlushReplies() {
  flush_posted_ = false;
  for (auto& [owner, batch] : replies_) {
    if (batch.empty()) continue;
    SendResults(owner, std::move(batch));
    batch.clear();
  }
}

void Raylet::SendResults(NodeId owner, std::vector<wire::TaskResult> batch) {
  if (owner == options_.self && local_results_) {
    local_results_(options_.self, std::move(batch));  // same process: no encoding
    return;
  }
  messenger_->Send(owner, static_cast<uint16_t>(wire::MsgType::kTaskDone),
                   wire::EncodeTaskResults(batch));
}

void Raylet::HandleFreeObjects(NodeId from, const Buffer& msg) {
  std::vector<ObjectId> ids;
  if (Status st = wire::DecodeFreeObjects(msg, &ids); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed FreeObjects message from " << from << ": "
                                  << st.ToString();
    return;
  }
  for (const ObjectId& id : ids) store_->Erase(id);
}

void Raylet::HandleReleaseResultRefs(NodeId from, const Buffer& msg) {
  std::vector<ObjectId> ids;
  if (Status st = wire::DecodeFreeObjects(msg, &ids); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ReleaseResultRefs message from " << from
                                  << ": " << st.ToString();
    return;
  }
  for (const ObjectId& id : ids)
    if (id.owner() == from) result_refs_.erase(id);
}

void Raylet::OnNodeDead(NodeId node) {
  if (!dead_.insert(node).second) return;
  std::erase_if(result_refs_, [&](const auto& kv) { return kv.first.owner() == node; });
  if (auto it = view_index_.find(node); it != view_index_.end())
    view_.nodes[it->second].alive = false;
  // Work of a dead owner is dropped: nobody can take its results. What runs finishes (a body
  // cannot be interrupted) and its completion goes nowhere.
  std::erase_if(awaiting_args_, [&](const auto& t) { return t->owner == node; });
  size_t dropped = 0;
  for (ShapeQueue& q : shapes_) {
    dropped += std::erase_if(q.tasks, [&](const std::shared_ptr<Task>& t) {
      if (t->owner != node || t->actor) return false;
      ReleaseArgSlot(t);
      return true;
    });
  }
  ready_count_ -= dropped;
  if (dropped > 0) {
    FERRY_LOG(INFO) << "dropped " << dropped << " queued task(s) of " << node
                    << ", which died";
    AdmitArgs();
  }
}

thread_local Raylet::Chain* Raylet::t_chain_ = nullptr;

void Raylet::NotifyBlocked(double cpus) {
  // The tasks chained after this one would wait behind a body that may wait for them: they
  // go back to the queue (only this executor thread takes from its chain).
  if (t_chain_ != nullptr && t_chain_->next < t_chain_->rest.size()) {
    loop_->Post([this, rest = t_chain_->TakeRest()]() mutable { Requeue(std::move(rest)); });
  }
  loop_->Post([this, cpus] {
    available_.AddUnits(kCpu, ResourceSet::ToUnits(cpus));
    Dispatch();
  });
}

void Raylet::NotifyUnblocked(double cpus) {
  loop_->Post([this, cpus] {
    available_.AddUnits(kCpu, -ResourceSet::ToUnits(cpus));
  });
}

// --- Actors ---------------------------------------------------------------------------------

void Raylet::HandleActorCreate(NodeId from, const Buffer& msg) {
  std::vector<wire::TaskSpec> specs;
  Status st = wire::DecodeTaskSpecs(msg, &specs);
  if (st.ok() && (specs.size() != 1 || specs[0].kind != wire::TaskKind::kActorCreation))
    st = DataLossError("an actor creation carries exactly one actor creation spec");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ActorCreate message from " << from
                                  << ": " << st.ToString();
    return;
  }
  if (stopped_) return;
  wire::TaskSpec& spec = specs[0];
  if (auto old = actors_.find(spec.actor); old != actors_.end())
    DropActor(old->second, "it was replaced by a newer incarnation");
  auto actor = std::make_shared<LocalActor>();
  actor->id = spec.actor;
  actor->incarnation = spec.actor_options->incarnation;
  actor->class_name = spec.actor_options->class_name;
  actor->max_concurrency = std::max(1, spec.actor_options->max_concurrency);
  actor->demand = ResourceSet::FromPairs(spec.resources);
  actors_[actor->id] = actor;

  std::shared_ptr<Task> task = NewTask(from, std::move(spec));
  task->actor = actor;
  task->demand = actor->demand;
  if (task->unresolved == 0) {
    PushReady(std::move(task));
    Dispatch();
    return;
  }
  ResolveArgs(task, &Raylet::ArgResolved);
}

void Raylet::CreationDone(const std::shared_ptr<Task>& task, void* instance, std::string error) {
  const std::shared_ptr<LocalActor>& actor = task->actor;
  if (actor->dying || stopped_) {
    // Killed while its factory ran: nobody waits for this instance.
    if (instance != nullptr) {
      actor->instance = instance;
      actor->deleter = internal::FindFunction(task->spec.function)->deleter;
    }
    if (actor->holds_resources) {
      Release(actor->demand, actor->gpus);
      actor->holds_resources = false;
    }
    MaybeDestroyInstance(actor);
    Dispatch();
    return;
  }
  if (instance == nullptr) {
    if (actor->holds_resources) {
      Release(actor->demand, actor->gpus);
      actor->holds_resources = false;
    }
    FERRY_LOG(WARNING) << actor->id << " (" << task->spec.function << ") failed to start on "
                       << options_.self << ": " << error;
    DropActor(actor, error);
    ReportToGcs(wire::MsgType::kActorCreated, *actor, false, error);
    Dispatch();
    return;
  }
  actor->instance = instance;
  actor->deleter = internal::FindFunction(task->spec.function)->deleter;
  actor->ready = true;
  ReportToGcs(wire::MsgType::kActorCreated, *actor, true, "");
  DispatchActor(actor);
}

void Raylet::ReportToGcs(wire::MsgType type, const LocalActor& actor, bool ok,
                         std::string message) {
  wire::ActorEvent ev;
  ev.actor = actor.id;
  ev.incarnation = actor.incarnation;
  ev.node = options_.self;
  ev.flag = ok;
  ev.message = std::move(message);
  messenger_->Send(NodeId(0), Type(type), wire::EncodeActorEvent(ev));
}

void Raylet::SubmitActorCall(NodeId from, wire::TaskSpec spec) {
  std::shared_ptr<Task> task = NewTask(from, std::move(spec));
  auto it = actors_.find(task->spec.actor);
  if (it == actors_.end() || it->second->dying) {
    Finished(task, Buffer(),
             {wire::ErrorKind::kActorDied, task->spec.actor.ToString() + " is not alive on " +
                                               options_.self.ToString() +
                                               " (it died, or was restarted elsewhere)"});
    return;
  }
  task->actor = it->second;
  LocalActor& actor = *task->actor;
  auto q = std::find_if(actor.queues.begin(), actor.queues.end(),
                        [&](const auto& entry) { return entry.first == from; });
  if (q == actor.queues.end()) {
    actor.queues.emplace_back(from, std::deque<std::shared_ptr<Task>>());
    q = actor.queues.end() - 1;
  }
  q->second.push_back(task);
  ResolveArgs(task, &Raylet::ActorArgResolved);
  DispatchActor(task->actor);
}

void Raylet::ActorArgResolved(const std::shared_ptr<Task>& task, size_t index, const Resolved& r) {
  if (r.ok) {
    task->args[index] = r.data;
  } else if (!task->failed) {
    task->failed = true;
    task->error = r.error;
  }
  if (--task->unresolved == 0) DispatchActor(task->actor);
}

void Raylet::DispatchActor(const std::shared_ptr<LocalActor>& actor) {
  if (!actor->ready || actor->dying || stopped_) return;
  std::vector<std::function<void()>> batch;
  while (actor->running < actor->max_concurrency) {
    // Round-robin over callers; each caller's calls start in the order it sent them, so a
    // call waits for the ones before it even when its own arguments are ready first.
    std::shared_ptr<Task> next;
    const size_t n = actor->queues.size();
    for (size_t k = 0; k < n && next == nullptr; ++k) {
      auto& q = actor->queues[(actor->next_queue + k) % n].second;
      if (q.empty() || q.front()->unresolved != 0) continue;
      next = std::move(q.front());
      q.pop_front();
      actor->next_queue = (actor->next_queue + k + 1) % n;
    }
    if (next == nullptr) break;
    if (next->failed) {
      Finished(next, Buffer(), next->error);  // an argument failed: the call fails with it
      continue;
    }
    actor->running++;
    batch.push_back(MakeActorBody(std::move(next)));
  }
  std::erase_if(actor->queues, [](const auto& entry) { return entry.second.empty(); });
  if (!actor->queues.empty()) actor->next_queue %= actor->queues.size();
  pool_->Run(std::move(batch));
}

std::function<void()> Raylet::MakeActorBody(std::shared_ptr<Task> task) {
  return [this, task] {
    std::shared_ptr<LocalActor> actor = task->actor;
    const internal::FunctionEntry* fn = internal::FindFunction(task->spec.function);
    Buffer result;
    wire::ErrorInfo error;
    bool exited = false;
    const std::string display = task->spec.name.empty() ? task->spec.function : task->spec.name;
    if (fn == nullptr || fn->kind != internal::FunctionKind::kMethod) {
      error = {wire::ErrorKind::kFunctionNotFound,
               "'" + task->spec.function + "' is not a registered actor method on " +
                   options_.self.ToString()};
    } else if (fn->class_name != actor->class_name) {
      error = {wire::ErrorKind::kTaskError,
               "method '" + task->spec.function + "' belongs to class " +
                   Demangle(fn->class_name.c_str()) + ", but " + actor->id.ToString() +
                   " is a " + Demangle(actor->class_name.c_str())};
    } else {
      BodyScope scope(this, 0, true, actor->incarnation > 0, &actor->gpus);
      internal::RefCapture returned;  // refs serialized into the result
      try {
        result = fn->method(actor->instance, task->args);
        task->result_refs = returned.Take();
      } catch (const internal::ActorExitSignal&) {
        exited = true;
      } catch (const std::exception& e) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType() + ": " + e.what()};
      } catch (...) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType()};
      }
      if (error.kind == wire::ErrorKind::kTaskError) {
        error.message = "method '" + display + "' of " + actor->id.ToString() + " failed on " +
                        options_.self.ToString() + ": " + error.message;
      }
    }
    if (exited) {
      error = {wire::ErrorKind::kActorDied,
               actor->id.ToString() + " exited by calling ExitActor() in '" + display + "'"};
    }
    task->args.clear();
    if (static_cast<int64_t>(result.size()) > options_.inline_threshold)
      result = store::ObjectStore::CopyIntoArena(store_->arena(), std::move(result));
    loop_->Post([this, task, exited, result = std::move(result),
                 error = std::move(error)]() mutable {
      std::shared_ptr<LocalActor> actor = task->actor;
      actor->running--;
      Finished(task, std::move(result), std::move(error));
      if (exited && !actor->dying) {
        ReportToGcs(wire::MsgType::kActorExited, *actor, true, "");
        DropActor(actor, actor->id.ToString() + " exited by calling ExitActor()");
      }
      DispatchActor(actor);
      MaybeDestroyInstance(actor);
    });
  };
}

void Raylet::HandleActorDestroy(NodeId from, const Buffer& msg) {
  wire::ActorEvent ev;
  if (Status st = wire::DecodeActorEvent(msg, &ev); !st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed ActorDestroy message from " << from
                                  << ": " << st.ToString();
    return;
  }
  auto it = actors_.find(ev.actor);
  if (it == actors_.end() || it->second->incarnation != ev.incarnation) return;
  DropActor(it->second, ev.actor.ToString() + " is dead: " + ev.message);
}

void Raylet::DropActor(std::shared_ptr<LocalActor> actor, const std::string& why) {
  if (actor->dying) return;
  actor->dying = true;
  if (auto it = actors_.find(actor->id); it != actors_.end() && it->second == actor)
    actors_.erase(it);
  auto queues = std::move(actor->queues);
  actor->queues.clear();
  for (auto& [caller, q] : queues)
    for (auto& task : q) Finished(task, Buffer(), {wire::ErrorKind::kActorDied, why});
  if (actor->holds_resources) {
    Release(actor->demand, actor->gpus);
    actor->holds_resources = false;
  }
  MaybeDestroyInstance(actor);
  Dispatch();
}

void Raylet::MaybeDestroyInstance(const std::shared_ptr<LocalActor>& actor) {
  if (!actor->dying || actor->running != 0 || actor->instance == nullptr) return;
  void* instance = actor->instance;
  internal::Deleter deleter = actor->deleter;
  actor->instance = nullptr;
  if (deleter == nullptr) return;
  // The destructor is user code: run it on an executor, never on the loop.
  std::vector<std::function<void()>> work;
  work.push_back([instance, deleter] { deleter(instance); });
  if (!pool_->Run(std::move(work))) deleter(instance);  // stopping: no executor left
}

// --- Resources, reports, spillback ---------------------------------------------------------

void Raylet::Start() {
  Report();
  if (report_timer_ == 0 && options_.report_ms > 0)
    report_timer_ = loop_->AddTimer(std::chrono::milliseconds(options_.report_ms), [this] { Report(); });
  if (memory_timer_ == 0 && options_.memory_monitor_ms > 0 && options_.memory_threshold < 1) {
    CheckMemory();
    memory_timer_ = loop_->AddTimer(std::chrono::milliseconds(options_.memory_monitor_ms),
                                    [this] { CheckMemory(); });
  }
}

void Raylet::CheckMemory() {
  if (stopped_) return;
  memory_ = options_.read_memory ? options_.read_memory() : ReadMemoryUsage();
  if (memory_.total == 0) return;  // nothing readable here: no monitor
  const bool over = memory_.fraction() > options_.memory_threshold;
  if (over == memory_pressure_) return;
  memory_pressure_ = over;
  char figures[128];
  std::snprintf(figures, sizeof(figures), "%.1f%% (%.2f of %.2f GiB, %s)",
                100 * memory_.fraction(), static_cast<double>(memory_.used) / (1ull << 30),
                static_cast<double>(memory_.total) / (1ull << 30), memory_.source.c_str());
  if (over) {
    FERRY_LOG(WARNING) << "memory use " << figures << " is above memory_usage_threshold "
                       << options_.memory_threshold
                       << ": no new task starts here until it falls (queued tasks wait, or go "
                          "to nodes with room)";
    Spillback();
  } else {
    FERRY_LOG(WARNING) << "memory use " << figures << " is below memory_usage_threshold "
                       << options_.memory_threshold << " again: starting tasks";
    Dispatch();
    AdmitArgs();
  }
  Report();
}

wire::NodeState Raylet::CurrentState() const {
  wire::NodeState s;
  s.node = options_.self;
  s.total = total_;
  if (!memory_pressure_) s.available = available_;  // under pressure nothing is free here
  s.queued = static_cast<int64_t>(ready_count_ + awaiting_args_.size() + locating_);
  return s;
}

void Raylet::Report() {
  if (stopped_) return;
  wire::NodeState s = CurrentState();
  if (reported_ && s.total == last_report_.total && s.available == last_report_.available &&
      s.queued == last_report_.queued)
    return;
  reported_ = true;
  FERRY_LOG(DEBUG) << "report: free " << s.available.ToString() << " of " << s.total.ToString()
                   << ", " << ready_count_ << " ready, " << awaiting_args_.size()
                   << " not admitted, " << args_admitted_ << " admitted, " << locating_
                   << " locating arguments";
  messenger_->Send(NodeId(0), Type(wire::MsgType::kResourceReport), wire::EncodeNodeStates({s}));
  last_report_ = std::move(s);
}

void Raylet::ApplyClusterView(const std::vector<wire::NodeState>& states) {
  // Fresh entries replace what this raylet forwarded there since the last ones.
  for (const wire::NodeState& st : states)
    if (auto it = view_index_.find(st.node); it != view_index_.end())
      view_.nodes[it->second].inflight = ResourceSet();
  gcs::ApplyStates(view_, view_index_, states);
  Spillback();
}

Raylet::ForwardOutcome Raylet::Forward(const std::shared_ptr<Task>& task) {
  const wire::TaskSpec& spec = task->spec;
  if (stopped_ || view_.nodes.size() <= 1) return ForwardOutcome::kNoRoom;
  const bool stranded = !total_.Contains(task->demand);
  if (spec.kind != wire::TaskKind::kNormal ||
      (spec.strategy == static_cast<uint8_t>(scheduler::Strategy::kNodeAffinity) &&
       !spec.affinity_soft) ||
      (!stranded && spec.spillbacks >= options_.max_spillbacks))
    return ForwardOutcome::kPinned;
  scheduler::Decision d;
  if (stranded) {
    // Nothing here could ever run it: any node that can, room or not.
    scheduler::PlacementRequest req{&task->demand};
    d = scheduler::PickNode(view_, req, options_.self, rotate_++);
    if (d.outcome == scheduler::Placement::kPlaced && d.node == options_.self)
      d.outcome = scheduler::Placement::kInfeasible;
  } else {
    d = scheduler::PickSpillbackNode(view_, task->demand, options_.self, rotate_++);
  }
  if (d.outcome != scheduler::Placement::kPlaced) return ForwardOutcome::kNoRoom;
  ReleaseArgSlot(task);
  if (auto it = view_index_.find(d.node); it != view_index_.end())
    view_.nodes[it->second].inflight.Add(task->demand);
  wire::TaskSpec out = task->spec;
  out.spillbacks = static_cast<uint8_t>(std::min<int>(255, out.spillbacks + 1));
  FERRY_LOG(DEBUG) << "forwarding " << out.id << " (" << out.name << ", "
                   << task->demand.ToString() << ") to " << d.node;
  forward_notes_[task->owner].emplace_back(out.id, d.node);
  forward_out_[d.node].push_back(std::move(out));
  if (!forward_posted_) {
    forward_posted_ = true;
    loop_->Post([this] { FlushForwards(); });
  }
  return ForwardOutcome::kForwarded;
}

void Raylet::ReturnTask(const std::shared_ptr<Task>& task) {
  FERRY_LOG(DEBUG) << "handing " << task->spec.id << " (" << task->spec.name << ") back to "
                   << task->owner << ": this node is leaving";
  forward_notes_[task->owner].emplace_back(task->spec.id, NodeId());
  if (!forward_posted_) {
    forward_posted_ = true;
    loop_->Post([this] { FlushForwards(); });
  }
}

void Raylet::BeginDrain() {
  if (draining_) return;
  draining_ = true;
  size_t returned = 0;
  for (ShapeQueue& q : shapes_) {
    std::deque<std::shared_ptr<Task>> kept;
    for (std::shared_ptr<Task>& task : q.tasks) {
      if (task->actor) {
        kept.push_back(std::move(task));
        continue;
      }
      ready_count_--;
      ReleaseArgSlot(task);
      ReturnTask(task);
      returned++;
    }
    q.tasks = std::move(kept);
  }
  for (std::shared_ptr<Task>& task : awaiting_args_) {
    ReturnTask(task);
    returned++;
  }
  awaiting_args_.clear();
  FERRY_LOG(INFO) << "draining: handed " << returned << " queued task(s) back to their owners, "
                  << running_.size() << " running";
  Report();
}

size_t Raylet::ReturnRunning() {
  size_t n = 0;
  for (const std::shared_ptr<Task>& task : running_) {
    if (task->returned) continue;
    task->returned = true;
    ReturnTask(task);
    n++;
  }
  return n;
}

bool Raylet::Idle() const {
  for (const std::shared_ptr<Task>& task : running_)
    if (!task->returned) return false;
  return ready_count_ == 0 && awaiting_args_.empty() && locating_ == 0 && args_admitted_ == 0;
}

void Raylet::FlushNow() {
  FlushForwards();
  FlushReplies();
}

void Raylet::FlushForwards() {
  forward_posted_ = false;
  for (auto& [node, specs] : forward_out_) {
    if (specs.empty()) continue;
    messenger_->Send(node, Type(wire::MsgType::kSubmitTasks), wire::EncodeTaskSpecs(specs));
    specs.clear();
  }
  for (auto& [owner, notes] : forward_notes_) {
    if (notes.empty()) continue;
    messenger_->Send(owner, Type(wire::MsgType::kTaskForwarded), wire::EncodeForwards(notes));
    notes.clear();
  }
}

void Raylet::Spillback() {
  if (stopped_ || view_.nodes.size() <= 1) return;
  // From the back of each queue: the tasks that would wait the longest here. A queue whose
  // tasks are all pinned (hard affinity) is scanned only so far.
  constexpr int kMaxSkipped = 64;
  for (ShapeQueue& q : shapes_) {
    const bool stranded = !total_.Contains(q.demand);
    if (!stranded && !memory_pressure_ && available_.Contains(q.demand)) continue;
    std::deque<std::shared_ptr<Task>> kept;
    int skipped = 0;
    while (!q.tasks.empty() && skipped < kMaxSkipped) {
      std::shared_ptr<Task> task = std::move(q.tasks.back());
      q.tasks.pop_back();
      const ForwardOutcome out = Forward(task);
      if (out == ForwardOutcome::kForwarded) {
        ready_count_--;
        continue;
      }
      kept.push_front(std::move(task));
      if (out == ForwardOutcome::kNoRoom) break;  // the older ones would find none either
      ++skipped;
    }
    for (auto& t : kept) q.tasks.push_back(std::move(t));
  }
  std::erase_if(shapes_, [](const ShapeQueue& q) { return q.tasks.empty(); });
  // Tasks not admitted yet (their arguments not fetched): cheapest to move.
  int skipped = 0;
  std::deque<std::shared_ptr<Task>> kept;
  while (!awaiting_args_.empty() && skipped < kMaxSkipped) {
    std::shared_ptr<Task> task = std::move(awaiting_args_.back());
    awaiting_args_.pop_back();
    if ((memory_pressure_ || !available_.Contains(task->demand)) &&
        Forward(task) == ForwardOutcome::kForwarded)
      continue;
    kept.push_front(std::move(task));
    ++skipped;
  }
  for (auto& t : kept) awaiting_args_.push_back(std::move(t));
  // Forwarded tasks may have given back argument slots: let waiting tasks fetch theirs.
  AdmitArgs();
}

// --- Placement-group bundles ---------------------------------------------------------------

namespace {
bool DecodeOnePg(NodeId from, const Buffer& msg, wire::PgEvent* ev, const char* what) {
  std::vector<wire::PgEvent> events;
  Status st = wire::DecodePgEvents(msg, &events);
  if (st.ok() && from != NodeId(0)) st = FailedPreconditionError("only the head reserves bundles");
  if (st.ok() && (events.size() != 1 || events[0].pg.IsNil() ||
                  events[0].indices.size() != events[0].bundles.size()))
    st = DataLossError("expected one placement group with an index per bundle");
  if (!st.ok()) {
    FERRY_LOG_RATE_LIMITED(ERROR) << "dropped a malformed " << what << " message from " << from
                                  << ": " << st.ToString();
    return false;
  }
  *ev = std::move(events[0]);
  return true;
}
}  // namespace

void Raylet::HandlePgPrepare(NodeId from, const Buffer& msg) {
  wire::PgEvent ev;
  if (!DecodeOnePg(from, msg, &ev, "PgPrepare")) return;
  wire::PgEvent reply;
  reply.request_id = ev.request_id;
  reply.pg = ev.pg;
  reply.indices = ev.indices;
  ResourceSet sum;
  for (const ResourceSet& b : ev.bundles) sum.Add(b);
  if (auto it = groups_.find(ev.pg); it != groups_.end()) {
    reply.flag = it->second.indices == ev.indices;  // a repeated prepare
    if (!reply.flag) reply.message = "another reservation of " + ev.pg.ToString() + " is here";
  } else if (stopped_) {
    reply.message = options_.self.ToString() + " is stopping";
  } else if (!available_.Contains(sum)) {
    reply.message = options_.self.ToString() + " has " + available_.ToString() +
                    " free, short of " + available_.Shortfall(sum);
  } else {
    available_.Subtract(sum);
    groups_[ev.pg] = {ev.indices, ev.bundles, false};
    reply.flag = true;
  }
  messenger_->Send(from, Type(wire::MsgType::kPgPrepared), wire::EncodePgEvents({reply}));
}

void Raylet::HandlePgCommit(NodeId from, const Buffer& msg) {
  wire::PgEvent ev;
  if (!DecodeOnePg(from, msg, &ev, "PgCommit")) return;
  auto it = groups_.find(ev.pg);
  if (it == groups_.end() || it->second.committed) return;
  it->second.committed = true;
  for (size_t i = 0; i < it->second.bundles.size(); ++i) {
    ResourceSet cap = scheduler::BundleCapacity(it->second.bundles[i], ev.pg, it->second.indices[i]);
    total_.Add(cap);
    available_.Add(cap);
  }
  Dispatch();
}

PlacementGroupId Raylet::RemovedGroupOf(const Task& task) const {
  if (task.spec.placement_group.IsNil()) return PlacementGroupId();
  for (const PlacementGroupId& pg : removed_groups_)
    if (pg == task.spec.placement_group) return pg;
  return PlacementGroupId();
}

void Raylet::FailRemovedGroupTask(const std::shared_ptr<Task>& task, const PlacementGroupId& pg) {
  Finished(task, Buffer(),
           {wire::ErrorKind::kUnschedulable,
            "task '" + task->spec.name + "': its placement group " + pg.ToString() +
                " was removed"});
}

void Raylet::HandlePgRelease(NodeId from, const Buffer& msg) {
  wire::PgEvent ev;
  if (!DecodeOnePg(from, msg, &ev, "PgRelease")) return;
  auto it = groups_.find(ev.pg);
  if (it == groups_.end()) return;
  ResourceSet sum;
  for (const ResourceSet& b : it->second.bundles) sum.Add(b);
  if (it->second.committed) {
    // The group's own resources go; what its running tasks still hold is not given back.
    for (size_t i = 0; i < it->second.bundles.size(); ++i) {
      ResourceSet cap =
          scheduler::BundleCapacity(it->second.bundles[i], ev.pg, it->second.indices[i]);
      for (const auto& [name, units] : cap.items()) {
        total_.SetUnits(name, 0);
        available_.SetUnits(name, 0);
      }
    }
  }
  available_.Add(sum);
  groups_.erase(it);
  removed_groups_.push_back(ev.pg);
  if (removed_groups_.size() > 1024) removed_groups_.pop_front();
  // Queued work of the group can no longer run anywhere.
  const std::string why = "its placement group " + ev.pg.ToString() + " was removed";
  auto strands = [&](const std::shared_ptr<Task>& t) { return t->spec.placement_group == ev.pg; };
  for (ShapeQueue& q : shapes_) {
    if (q.tasks.empty() || !strands(q.tasks.front())) continue;
    for (auto& t : q.tasks) {
      ready_count_--;
      if (t->actor) {
        CreationDone(t, nullptr, why);
      } else {
        ReleaseArgSlot(t);
        Finished(t, Buffer(), {wire::ErrorKind::kUnschedulable, "task '" + t->spec.name + "': " + why});
      }
    }
    q.tasks.clear();
  }
  std::erase_if(shapes_, [](const ShapeQueue& q) { return q.tasks.empty(); });
  std::deque<std::shared_ptr<Task>> keep;
  for (auto& t : awaiting_args_) {
    if (strands(t)) {
      Finished(t, Buffer(), {wire::ErrorKind::kUnschedulable, "task '" + t->spec.name + "': " + why});
    } else {
      keep.push_back(std::move(t));
    }
  }
  awaiting_args_.swap(keep);
  Dispatch();
}

}  // namespace ferry::raylet
