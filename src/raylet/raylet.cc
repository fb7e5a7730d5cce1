#include "src/raylet/raylet.h"

#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <future>
#include <typeinfo>

#include "ferry/internal/function_registry.h"
#include "ferry/internal/runtime_hooks.h"
#include "src/common/logging.h"

namespace ferry::raylet {
namespace {

thread_local Raylet* t_raylet = nullptr;
thread_local double t_cpus = 0;
thread_local bool t_in_actor = false;
thread_local bool t_actor_restarted = false;

// Marks the calling executor thread as running user code of this raylet (and of an actor).
class BodyScope {
 public:
  BodyScope(Raylet* raylet, double cpus, bool actor, bool restarted) {
    t_raylet = raylet;
    t_cpus = cpus;
    t_in_actor = actor;
    t_actor_restarted = restarted;
  }
  ~BodyScope() {
    t_raylet = nullptr;
    t_cpus = 0;
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
          static_cast<size_t>(std::max(0.0, std::ceil(options.cpus))),
          std::chrono::microseconds(options.executor_spin_us))) {
  max_args_admitted_ = std::max<size_t>(4, 2 * static_cast<size_t>(std::ceil(options.cpus)) + 2);
}

Raylet::~Raylet() { Stop(); }

void Raylet::Stop() {
  if (stop_called_.exchange(true)) return;
  // The queue belongs to the loop: clear it there. Runtime stops the raylet before the loop.
  if (loop_->running()) {
    std::promise<void> cleared;
    loop_->Post([this, &cleared] {
      stopped_ = true;
      ready_.clear();
      awaiting_args_.clear();
      for (auto& [id, actor] : actors_) stopped_actors_.push_back(actor);
      actors_.clear();
      cleared.set_value();
    });
    cleared.get_future().wait();
  } else {
    stopped_ = true;
    ready_.clear();
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
    std::shared_ptr<Task> task = NewTask(from, std::move(spec));
    if (task->unresolved == 0) {
      ready_.push_back(std::move(task));
      continue;
    }
    awaiting_args_.push_back(std::move(task));
  }
  Dispatch();
  AdmitArgs();
}

void Raylet::AdmitArgs() {
  while (!stopped_ && !awaiting_args_.empty() && args_admitted_ < max_args_admitted_) {
    std::shared_ptr<Task> task = std::move(awaiting_args_.front());
    awaiting_args_.pop_front();
    task->holds_args = true;
    args_admitted_++;
    ResolveArgs(task, &Raylet::ArgResolved);  // may complete (and dispatch) right here
  }
}

void Raylet::ReleaseArgSlot(const std::shared_ptr<Task>& task) {
  if (!task->holds_args) return;
  task->holds_args = false;
  args_admitted_--;
}

std::shared_ptr<Raylet::Task> Raylet::NewTask(NodeId owner, wire::TaskSpec spec) {
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
  ready_.push_back(task);
  Dispatch();
}

void Raylet::Dispatch() {
  std::vector<std::function<void()>> batch;
  bool admit = false;
  while (!stopped_ && !ready_.empty()) {
    double need = ready_.front()->spec.cpus();
    // A task that asks for more CPUs than the node has would never start; run it when the
    // node is idle rather than never (the owner only sends feasible work here).
    bool fits = used_cpus_ + need <= options_.cpus + 1e-9 || used_cpus_ <= 1e-9;
    if (!fits) break;
    auto task = std::move(ready_.front());
    ready_.pop_front();
    if (task->actor && task->actor->dying) continue;  // killed before its factory ran
    if (task->holds_args) {
      ReleaseArgSlot(task);  // running now: its arguments stay held by the body alone
      admit = true;
    }
    used_cpus_ += need;
    if (task->actor) task->actor->holds_cpu = true;
    batch.push_back(MakeBody(std::move(task)));
  }
  pool_->Run(std::move(batch));  // one lock and at most one wake-up per idle thread
  if (admit) AdmitArgs();
}

std::function<void()> Raylet::MakeBody(std::shared_ptr<Task> task) {
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
        BodyScope scope(this, 0, true, task->actor->incarnation > 0);
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
  return [this, task] {
    const internal::FunctionEntry* fn = internal::FindFunction(task->spec.function);
    Buffer result;
    wire::ErrorInfo error;
    if (fn == nullptr) {
      error = {wire::ErrorKind::kFunctionNotFound,
               "function '" + task->spec.function + "' is not registered on " +
                   options_.self.ToString() + " (is every rank running the same binary?)"};
    } else if (fn->kind != internal::FunctionKind::kFunction) {
      error = {wire::ErrorKind::kFunctionNotFound,
               "'" + task->spec.function + "' is an actor factory or method, not a task function"};
    } else {
      {
        BodyScope scope(this, task->spec.cpus(), false, false);
        internal::RefCapture returned;  // refs serialized into the result
        try {
          result = fn->invoker(task->args);
          task->result_refs = returned.Take();
        } catch (const std::exception& e) {
          error = {wire::ErrorKind::kTaskError, CurrentExceptionType() + ": " + e.what()};
        } catch (...) {
          error = {wire::ErrorKind::kTaskError, CurrentExceptionType()};
        }
      }
      if (error.kind == wire::ErrorKind::kTaskError) {
        error.message = "task '" +
                        (task->spec.name.empty() ? task->spec.function : task->spec.name) +
                        "' failed on " + options_.self.ToString() + ": " + error.message;
      }
    }
    task->args.clear();  // drop argument bytes on the executor, not the loop
    // A large result goes into the arena here, so the loop never copies bytes.
    if (static_cast<int64_t>(result.size()) > options_.inline_threshold)
      result = store::ObjectStore::CopyIntoArena(store_->arena(), std::move(result));
    loop_->Post([this, task, result = std::move(result), error = std::move(error)]() mutable {
      used_cpus_ -= task->spec.cpus();
      Finished(task, std::move(result), std::move(error));
      Dispatch();
    });
  };
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
  std::erase_if(result_refs_, [&](const auto& kv) { return kv.first.owner() == node; });
}

void Raylet::NotifyBlocked(double cpus) {
  loop_->Post([this, cpus] {
    used_cpus_ -= cpus;
    Dispatch();
  });
}

void Raylet::NotifyUnblocked(double cpus) {
  loop_->Post([this, cpus] { used_cpus_ += cpus; });
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
  actor->incarnation = spec.actor_options.incarnation;
  actor->class_name = spec.actor_options.class_name;
  actor->max_concurrency = std::max(1, spec.actor_options.max_concurrency);
  actor->cpus = spec.cpus();
  actors_[actor->id] = actor;

  std::shared_ptr<Task> task = NewTask(from, std::move(spec));
  task->actor = actor;
  if (task->unresolved == 0) {
    ready_.push_back(std::move(task));
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
    if (actor->holds_cpu) {
      used_cpus_ -= actor->cpus;
      actor->holds_cpu = false;
    }
    MaybeDestroyInstance(actor);
    Dispatch();
    return;
  }
  if (instance == nullptr) {
    if (actor->holds_cpu) {
      used_cpus_ -= actor->cpus;
      actor->holds_cpu = false;
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
      BodyScope scope(this, 0, true, actor->incarnation > 0);
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
  if (actor->holds_cpu) {
    used_cpus_ -= actor->cpus;
    actor->holds_cpu = false;
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

}  // namespace ferry::raylet
