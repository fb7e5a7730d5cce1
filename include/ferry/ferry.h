// ferry: distributed tasks and objects for C++ on HPC clusters. The public API, mirroring
// Ray's C++ API. Every function here is thread-safe: the driver, task bodies and user threads
// may all call it once ferry::Init has returned.
//
//   #include <ferry/ferry.h>
//   int Plus(int a, int b) { return a + b; }
//   FERRY_REMOTE(Plus);
//   int main(int argc, char** argv) {
//     ferry::Init(argc, argv);  // on worker ranks this serves tasks and never returns
//     auto r = ferry::Task(Plus).Remote(1, 2);
//     int v = *ferry::Get(r);
//     ferry::Shutdown();
//   }
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferry/config.h"
#include "ferry/errors.h"
#include "ferry/ids.h"
#include "ferry/internal/function_registry.h"
#include "ferry/internal/runtime_hooks.h"
#include "ferry/internal/serialization.h"
#include "ferry/object_ref.h"
#include "ferry/scheduling.h"

namespace ferry {

/// Starts ferry with the configuration from FERRY_* environment variables.
/// With no launcher: an embedded cluster in this process. Under mpirun/srun: rank 0 returns
/// as the driver; the other ranks serve tasks and exit(0) when the driver shuts down.
void Init();
/// Same, also consuming --ferry-<name>=value flags from argv.
void Init(int& argc, char**& argv);
/// Same, starting from `config` (environment and flags still override it).
void Init(const Config& config, int& argc, char**& argv);
bool IsInitialized();
/// Stops the cluster: worker ranks exit, objects are freed. Also runs if main returns.
void Shutdown();

/// Stores `value` in the object store; the caller owns it.
///   auto ref = ferry::Put(std::vector<double>(1 << 20, 1.0));
template <typename T>
ObjectRef<std::decay_t<T>> Put(T&& value) {
  using V = std::decay_t<T>;
  if constexpr (internal::IsRawVector<V>::value && std::is_lvalue_reference_v<T>) {
    // Copied once, straight into the store, before Put returns.
    internal::Buffer borrowed(nullptr, reinterpret_cast<const uint8_t*>(value.data()),
                              value.size() * sizeof(typename V::value_type));
    return ObjectRef<V>(internal::PutObject(std::move(borrowed), /*borrowed=*/true));
  } else {
    // Put(std::move(vector)) hands the vector's storage over: one copy into the store. Refs
    // nested in the value stay alive as long as the object.
    internal::RefCapture nested;
    internal::Buffer bytes = internal::SerializeMove(std::forward<T>(value));
    return ObjectRef<V>(internal::PutObject(std::move(bytes), false, nested.Take()));
  }
}

/// A read-only view of a stored array, in place (no copy, no decode); the object stays pinned
/// while the view lives. Throws like Get.
///   ferry::ArrayView<double> v = ferry::GetView(ref);  // ref: ObjectRef<std::vector<double>>
template <typename T>
ArrayView<T> GetView(const ObjectRef<std::vector<T>>& ref, int64_t timeout_ms = -1) {
  if (ref.IsNil()) throw std::invalid_argument("ferry::GetView: empty ObjectRef");
  return ArrayView<T>(internal::GetObject(ref.ID(), timeout_ms));
}

/// Waits for the object and returns it. Throws TaskError (the task threw), ObjectLostError,
/// OwnerDiedError, FunctionNotFoundError.
template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref, int64_t timeout_ms) {
  if (ref.IsNil()) throw std::invalid_argument("ferry::Get: empty ObjectRef");
  if constexpr (std::is_void_v<T>) {
    internal::GetObject(ref.ID(), timeout_ms);
    return nullptr;
  } else {
    return internal::Deserialize<T>(internal::GetObject(ref.ID(), timeout_ms));
  }
}
template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref) {
  return Get(ref, -1);
}

/// Gets many objects at once; the order of the results is the order of `refs`.
template <typename T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>>& refs,
                                    int64_t timeout_ms = -1) {
  std::vector<ObjectId> ids;
  ids.reserve(refs.size());
  for (const auto& r : refs) {
    if (r.IsNil()) throw std::invalid_argument("ferry::Get: empty ObjectRef in the list");
    ids.push_back(r.ID());
  }
  std::vector<internal::Buffer> bufs = internal::GetObjects(ids, timeout_ms);
  std::vector<std::shared_ptr<T>> out;
  out.reserve(bufs.size());
  for (const auto& b : bufs) {
    if constexpr (std::is_void_v<T>) {
      out.push_back(nullptr);
    } else {
      out.push_back(internal::Deserialize<T>(b));
    }
  }
  return out;
}

template <typename T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;
  std::vector<ObjectRef<T>> unready;
};

/// Waits until `num_objects` of `refs` are ready or `timeout_ms` passes (negative: no limit).
/// Objects that failed count as ready (Get on them throws).
template <typename T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>& refs, int num_objects, int64_t timeout_ms) {
  if (num_objects < 0 || static_cast<size_t>(num_objects) > refs.size())
    throw std::invalid_argument("ferry::Wait: num_objects " + std::to_string(num_objects) +
                                " is outside [0, " + std::to_string(refs.size()) + "]");
  std::vector<ObjectId> ids;
  ids.reserve(refs.size());
  for (const auto& r : refs) {
    if (r.IsNil()) throw std::invalid_argument("ferry::Wait: empty ObjectRef in the list");
    ids.push_back(r.ID());
  }
  std::vector<bool> ready =
      internal::WaitObjects(ids, static_cast<size_t>(num_objects), timeout_ms);
  WaitResult<T> out;
  for (size_t i = 0; i < refs.size(); ++i) (ready[i] ? out.ready : out.unready).push_back(refs[i]);
  return out;
}

namespace internal {

// Throws std::invalid_argument for an empty name or a negative, NaN or infinite amount.
inline void CheckResource(const std::string& name, double amount) {
  if (name.empty()) throw std::invalid_argument("ferry: SetResource: empty resource name");
  if (std::isnan(amount) || amount < 0 || std::isinf(amount))
    throw std::invalid_argument("ferry: SetResource(\"" + name +
                                "\"): amount must be a finite value >= 0");
}

template <typename Param, typename Arg>
ArgSpec MakeArg(Arg&& arg) {
  using A = std::decay_t<Arg>;
  using P = std::decay_t<Param>;
  ArgSpec spec;
  if constexpr (IsObjectRef<A>::value && !IsObjectRef<P>::value) {
    if constexpr (IsArrayView<P>::value) {
      static_assert(std::is_same_v<typename A::ValueType, std::vector<typename P::value_type>>,
                    "an ArrayView<T> parameter takes an ObjectRef<std::vector<T>>");
    } else {
      static_assert(std::is_same_v<typename A::ValueType, P>,
                    "an ObjectRef<T> argument must match a parameter of type T");
    }
    if (arg.IsNil()) throw std::invalid_argument("ferry: empty ObjectRef passed as an argument");
    spec.is_ref = true;
    spec.ref = arg.ID();
    spec.keep = arg.handle();
  } else if constexpr (std::is_same_v<A, P>) {
    spec.value = SerializeMove(std::forward<Arg>(arg));
  } else if constexpr (IsArrayView<P>::value && IsRawVector<A>::value) {
    static_assert(std::is_same_v<typename A::value_type, typename P::value_type>,
                  "an ArrayView<T> parameter takes a std::vector<T>");
    spec.value = SerializeMove(std::forward<Arg>(arg));  // same bytes as the view reads
  } else {
    static_assert(std::is_convertible_v<Arg, P>,
                  "argument is not convertible to the parameter type");
    spec.value = Serialize<P>(static_cast<P>(std::forward<Arg>(arg)));
  }
  return spec;
}

// Encodes each argument for the parameter at its position in `ArgsTuple`.
template <typename ArgsTuple, size_t... I, typename... Args>
void AddArgs(std::vector<ArgSpec>& specs, std::index_sequence<I...>, Args&&... args) {
  (specs.push_back(MakeArg<std::tuple_element_t<I, ArgsTuple>>(std::forward<Args>(args))), ...);
}

}  // namespace internal

/// Builds a remote call of a registered function: Task(f).SetName("x").Remote(args...).
template <typename F>
class TaskCaller : public internal::SchedulingSetters<TaskCaller<F>> {
 public:
  using Traits = internal::FunctionTraits<F>;
  using R = typename Traits::Return;

  explicit TaskCaller(F fn) : fn_(fn) {}

  TaskCaller& SetName(std::string name) {
    options_.name = std::move(name);
    return *this;
  }
  /// A resource this task needs while it runs: "CPU" (default 1), "GPU", "memory" (bytes) or
  /// any custom name a node offers; fractions allowed (four 0.25-CPU tasks share one CPU).
  /// Throws std::invalid_argument for an empty name or a negative or NaN amount.
  TaskCaller& SetResource(const std::string& name, double amount) {
    internal::CheckResource(name, amount);
    options_.resources[name] = amount;
    return *this;
  }
  TaskCaller& SetResources(const std::unordered_map<std::string, double>& resources) {
    for (const auto& [n, v] : resources) SetResource(n, v);
    return *this;
  }
  /// How often the task is re-run on a live node when its node dies while running it, or
  /// when its result is lost with a node and must be rebuilt (default 3; -1: unlimited; 0:
  /// never). Once they are spent, Get throws ObjectLostError naming the task, the node and
  /// the cause.
  TaskCaller& SetMaxRetries(int n) {
    if (n < -1) throw std::invalid_argument("ferry: SetMaxRetries: must be >= -1 (-1: unlimited)");
    options_.max_retries = n;
    return *this;
  }
  /// Also re-run the task when its body throws, within the same max_retries (default false).
  /// When the retries are spent, Get throws the last attempt's TaskError.
  TaskCaller& SetRetryExceptions(bool retry = true) {
    options_.retry_exceptions = retry;
    return *this;
  }

  /// Submits the call; returns at once with a reference to the result.
  template <typename... Args>
  ObjectRef<R> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::kArity, "wrong number of arguments for this function");
    const std::string* name = internal::FunctionNameOf(internal::KeyOf(reinterpret_cast<const void*>(fn_)));
    if (name == nullptr)
      throw FunctionNotFoundError(
          "ferry: the function passed to Task() is not registered; add it to FERRY_REMOTE(...)");
    std::vector<internal::ArgSpec> specs;
    specs.reserve(sizeof...(Args));
    internal::RefCapture nested;  // refs inside argument values live until the task ran
    internal::AddArgs<typename Traits::ArgsTuple>(specs, std::index_sequence_for<Args...>(),
                                                  std::forward<Args>(args)...);
    options_.scheduling = this->scheduling_;
    return ObjectRef<R>(internal::SubmitTask(*name, std::move(specs), options_, nested.Take()));
  }

 private:
  F fn_;
  internal::CallOptions options_;
};

/// Starts building a remote call of `fn`, which must be registered with FERRY_REMOTE.
template <typename R, typename... Args>
TaskCaller<R (*)(Args...)> Task(R (*fn)(Args...)) {
  return TaskCaller<R (*)(Args...)>(fn);
}

}  // namespace ferry

#include "ferry/actor.h"  // IWYU pragma: export
