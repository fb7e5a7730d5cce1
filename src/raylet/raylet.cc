#include "src/raylet/raylet.h"

#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <future>
#include <typeinfo>

#include "ferry/internal/function_registry.h"
#include "src/common/logging.h"

namespace ferry::raylet {
namespace {

thread_local Raylet* t_raylet = nullptr;
thread_local double t_cpus = 0;

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
          std::chrono::microseconds(options.executor_spin_us))) {}

Raylet::~Raylet() { Stop(); }

void Raylet::Stop() {
  if (stop_called_.exchange(true)) return;
  // The queue belongs to the loop: clear it there. Runtime stops the raylet before the loop.
  if (loop_->running()) {
    std::promise<void> cleared;
    loop_->Post([this, &cleared] {
      stopped_ = true;
      ready_.clear();
      cleared.set_value();
    });
    cleared.get_future().wait();
  } else {
    stopped_ = true;
    ready_.clear();
  }
  pool_->Stop();
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
    auto task = std::make_shared<Task>();
    task->owner = from;
    task->args.resize(spec.args.size());
    task->spec = std::move(spec);
    for (size_t i = 0; i < task->spec.args.size(); ++i) {
      if (task->spec.args[i].kind == wire::TaskArg::Kind::kValue) {
        task->args[i] = task->spec.args[i].value;
      } else {
        task->unresolved++;
      }
    }
    if (task->unresolved == 0) {
      ready_.push_back(std::move(task));
      continue;
    }
    for (size_t i = 0; i < task->spec.args.size(); ++i) {
      if (task->spec.args[i].kind != wire::TaskArg::Kind::kRef) continue;
      objects_->Resolve(task->spec.args[i].ref,
                        [this, task, i](const Resolved& r) { ArgResolved(task, i, r); });
    }
  }
  Dispatch();
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
    // A task whose argument failed fails with the upstream error, its kind and message kept.
    Finished(task, Buffer(), task->error);
    return;
  }
  ready_.push_back(task);
  Dispatch();
}

void Raylet::Dispatch() {
  std::vector<std::function<void()>> batch;
  while (!stopped_ && !ready_.empty()) {
    double need = ready_.front()->spec.cpus();
    // A task that asks for more CPUs than the node has would never start; run it when the
    // node is idle rather than never (the owner only sends feasible work here).
    bool fits = used_cpus_ + need <= options_.cpus + 1e-9 || used_cpus_ <= 1e-9;
    if (!fits) break;
    auto task = std::move(ready_.front());
    ready_.pop_front();
    used_cpus_ += need;
    batch.push_back(MakeBody(std::move(task)));
  }
  pool_->Run(std::move(batch));  // one lock and at most one wake-up per idle thread
}

std::function<void()> Raylet::MakeBody(std::shared_ptr<Task> task) {
  return [this, task] {
    const internal::FunctionEntry* fn = internal::FindFunction(task->spec.function);
    Buffer result;
    wire::ErrorInfo error;
    if (fn == nullptr) {
      error = {wire::ErrorKind::kFunctionNotFound,
               "function '" + task->spec.function + "' is not registered on " +
                   options_.self.ToString() + " (is every rank running the same binary?)"};
    } else {
      t_raylet = this;
      t_cpus = task->spec.cpus();
      try {
        result = fn->invoker(task->args);
      } catch (const std::exception& e) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType() + ": " + e.what()};
      } catch (...) {
        error = {wire::ErrorKind::kTaskError, CurrentExceptionType()};
      }
      t_raylet = nullptr;
      t_cpus = 0;
      if (error.kind == wire::ErrorKind::kTaskError) {
        error.message = "task '" +
                        (task->spec.name.empty() ? task->spec.function : task->spec.name) +
                        "' failed on " + options_.self.ToString() + ": " + error.message;
      }
    }
    task->args.clear();  // drop argument bytes on the executor, not the loop
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
  if (error.kind != wire::ErrorKind::kNone) {
    out.value.kind = wire::ObjectValue::Kind::kError;
    out.value.error = std::move(error);
  } else if (static_cast<int64_t>(result.size()) <= options_.inline_threshold) {
    out.value.kind = wire::ObjectValue::Kind::kInline;
    out.value.data = std::move(result);
  } else {
    const ObjectId& id = task->spec.return_id;
    // Exported even when the owner is local: any rank may later read it as an argument.
    Status st = store_->Seal(id, result, /*exported=*/true, /*primary=*/true);
    const store::StoredObject* obj = st.ok() ? store_->Find(id) : nullptr;
    if (obj == nullptr) {
      out.value.kind = wire::ObjectValue::Kind::kError;
      out.value.error = {wire::ErrorKind::kInternal,
                         "could not store the result of " + task->spec.name + ": " + st.ToString()};
    } else {
      out.value.kind = wire::ObjectValue::Kind::kLocation;
      out.value.location.node = options_.self;
      out.value.location.size = obj->data.size();
      if (obj->registration) {
        out.value.location.address = obj->registration->address();
        out.value.location.rkey = obj->registration->rkey();
      } else {
        out.value.location.address = reinterpret_cast<uint64_t>(obj->data.data());
      }
    }
  }
  Reply(task->owner, std::move(out));
}

void Raylet::Reply(NodeId owner, wire::TaskResult result) {
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

void Raylet::NotifyBlocked(double cpus) {
  loop_->Post([this, cpus] {
    used_cpus_ -= cpus;
    Dispatch();
  });
}

void Raylet::NotifyUnblocked(double cpus) {
  loop_->Post([this, cpus] { used_cpus_ += cpus; });
}

}  // namespace ferry::raylet
