// Actors: stateful C++ objects living on one rank whose methods are called remotely, mirroring
// Ray's C++ API. Included by ferry/ferry.h. Every function here is thread-safe.
//
//   struct Counter {
//     int n = 0;
//     static Counter* Create(int start) { return new Counter{start}; }
//     int Add(int x) { return n += x; }
//   };
//   FERRY_REMOTE(Counter::Create, &Counter::Add);
//
//   ferry::ActorHandle<Counter> c = ferry::Actor(Counter::Create).SetName("counter").Remote(10);
//   ferry::ObjectRef<int> r = c.Task(&Counter::Add).Remote(5);   // 15
//   auto same = ferry::GetActor<Counter>("counter");              // std::optional<ActorHandle>
//   c.Kill();
//
// Calls from one process run in the order it submitted them; SetMaxConcurrency(n) lets up to n
// run at once on their own threads. By default an actor holds 1 CPU of its node for its whole
// life (SetResource("CPU", 0) makes one that holds none).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferry/ferry.h"

namespace ferry {

/// Whether an actor dies with the process that created it (NON_DETACHED, the default) or lives
/// until it is killed or the cluster shuts down (DETACHED).
enum class ActorLifetime { NON_DETACHED, DETACHED };

/// Builds a call of an actor method: handle.Task(&T::Method).SetName("x").Remote(args...).
template <typename M>
class ActorTaskCaller {
 public:
  using Traits = internal::MethodTraits<M>;
  using R = typename Traits::Return;

  ActorTaskCaller(ActorId actor, M method) : actor_(actor), method_(method) {}

  ActorTaskCaller& SetName(std::string name) {
    options_.name = std::move(name);
    return *this;
  }

  /// Submits the call; returns at once with a reference to the result. Get on it throws
  /// TaskError if the method threw, ActorDiedError if the actor died before the call ran.
  template <typename... Args>
  ObjectRef<R> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::kArity, "wrong number of arguments for this method");
    if (actor_.IsNil()) throw std::invalid_argument("ferry: Task() on an empty ActorHandle");
    const std::string* name = internal::FunctionNameOf(internal::MemberKey(method_));
    if (name == nullptr)
      throw FunctionNotFoundError(
          "ferry: the method passed to Task() is not registered; add &T::Method to "
          "FERRY_REMOTE(...)");
    std::vector<internal::ArgSpec> specs;
    specs.reserve(sizeof...(Args));
    internal::RefCapture nested;  // refs inside argument values live until the call ran
    internal::AddArgs<typename Traits::ArgsTuple>(specs, std::index_sequence_for<Args...>(),
                                                  std::forward<Args>(args)...);
    return ObjectRef<R>(
        internal::SubmitActorTask(actor_, *name, std::move(specs), options_, nested.Take()));
  }

 private:
  ActorId actor_;
  M method_;
  internal::CallOptions options_;
};

/// A reference to a live actor of class T. Cheap to copy; serializable, so it can be passed to
/// tasks and actor methods and returned from them: every copy calls the same actor.
template <typename T>
class ActorHandle {
 public:
  ActorHandle() = default;
  explicit ActorHandle(ActorId id) : id_(id) {}

  /// Starts a call of `method`, a member function of T registered with FERRY_REMOTE.
  template <typename M>
  ActorTaskCaller<M> Task(M method) const {
    static_assert(std::is_member_function_pointer_v<M>, "Task() takes a member function &T::M");
    static_assert(std::is_same_v<typename internal::MethodTraits<M>::Class, T>,
                  "the method must be a member of the actor's own class");
    return ActorTaskCaller<M>(id_, method);
  }

  /// Kills the actor; it is not restarted. Calls not yet run fail with ActorDiedError.
  void Kill() const { Kill(true); }
  /// Kill(false) restarts it (fresh state from its factory) if it has restarts left.
  /// Returns once the GCS has applied the kill.
  void Kill(bool no_restart) const {
    if (id_.IsNil()) throw std::invalid_argument("ferry: Kill() on an empty ActorHandle");
    internal::KillActor(id_, no_restart);
  }

  const ActorId& ID() const { return id_; }
  bool IsNil() const { return id_.IsNil(); }
  friend bool operator==(const ActorHandle& a, const ActorHandle& b) { return a.id_ == b.id_; }

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id_;
  }

 private:
  ActorId id_;
};

/// Builds an actor creation: Actor(T::Create).SetName("a").SetMaxRestarts(2).Remote(args...).
template <typename F>
class ActorCreator : public internal::SchedulingSetters<ActorCreator<F>> {
 public:
  using Traits = internal::FunctionTraits<F>;
  using T = std::remove_pointer_t<typename Traits::Return>;

  explicit ActorCreator(F factory) : factory_(factory) {
    options_.class_name = typeid(T).name();
  }

  /// A name, unique among live actors of the namespace; GetActor<T>(name, ns) finds it.
  ActorCreator& SetName(std::string name, std::string ns = "") {
    if (name.empty()) throw std::invalid_argument("ferry: SetName: empty actor name");
    options_.name = std::move(name);
    options_.ns = std::move(ns);
    return *this;
  }
  /// Resources the actor holds for its whole life (default: 1 CPU).
  ActorCreator& SetResource(const std::string& name, double amount) {
    internal::CheckResource(name, amount);
    options_.resources[name] = amount;
    return *this;
  }
  ActorCreator& SetResources(const std::unordered_map<std::string, double>& resources) {
    for (const auto& [n, v] : resources) SetResource(n, v);
    return *this;
  }
  /// How often the actor is re-created after Kill(false) or its node's death (-1: always).
  ActorCreator& SetMaxRestarts(int n) {
    if (n < -1) throw std::invalid_argument("ferry: SetMaxRestarts: must be >= -1 (-1: unlimited)");
    options_.max_restarts = n;
    return *this;
  }
  /// How many calls may run at once, each on its own thread (default 1: one at a time).
  ActorCreator& SetMaxConcurrency(int n) {
    if (n < 1) throw std::invalid_argument("ferry: SetMaxConcurrency: must be >= 1");
    options_.max_concurrency = n;
    return *this;
  }
  /// How often a call lost to a restart is resent to the new instance (-1: always; default 0:
  /// it fails with ActorDiedError).
  ActorCreator& SetMaxTaskRetries(int n) {
    if (n < -1)
      throw std::invalid_argument("ferry: SetMaxTaskRetries: must be >= -1 (-1: unlimited)");
    options_.max_task_retries = n;
    return *this;
  }
  ActorCreator& SetLifetime(ActorLifetime lifetime) {
    options_.detached = lifetime == ActorLifetime::DETACHED;
    return *this;
  }

  /// Creates the actor; returns at once (a named actor after the GCS accepted the name; a
  /// taken name throws std::invalid_argument). Calls made before it is up wait for it.
  template <typename... Args>
  ActorHandle<T> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::kArity, "wrong number of arguments for the factory");
    const std::string* name =
        internal::FunctionNameOf(internal::KeyOf(reinterpret_cast<const void*>(factory_)));
    if (name == nullptr)
      throw FunctionNotFoundError(
          "ferry: the factory passed to Actor() is not registered; add it to FERRY_REMOTE(...)");
    std::vector<internal::ArgSpec> specs;
    specs.reserve(sizeof...(Args));
    internal::RefCapture nested;  // refs inside the factory's arguments live with the actor
    internal::AddArgs<typename Traits::ArgsTuple>(specs, std::index_sequence_for<Args...>(),
                                                  std::forward<Args>(args)...);
    options_.scheduling = this->scheduling_;
    return ActorHandle<T>(
        internal::CreateActor(*name, std::move(specs), options_, nested.Take()));
  }

 private:
  F factory_;
  internal::ActorCreateOptions options_;
};

/// Starts building an actor from `factory`, a static T* (Args...) registered with FERRY_REMOTE.
template <typename T, typename... Args>
ActorCreator<T* (*)(Args...)> Actor(T* (*factory)(Args...)) {
  static_assert(std::is_class_v<T>, "an actor factory returns a pointer to a class");
  return ActorCreator<T* (*)(Args...)>(factory);
}

/// The live actor named `name` (in namespace `ns`), or nothing if there is none or it died.
/// Throws std::invalid_argument if that actor is not a T.
template <typename T>
std::optional<ActorHandle<T>> GetActor(const std::string& name, const std::string& ns = "") {
  ActorId id;
  if (!internal::LookupActor(name, ns, typeid(T).name(), &id)) return std::nullopt;
  return ActorHandle<T>(id);
}

/// Ends the calling actor from inside one of its methods: it is not restarted, that call fails
/// with ActorDiedError, and so do calls not yet run. Throws RuntimeError outside an actor.
[[noreturn]] void ExitActor();

/// Inside an actor's factory or method: whether this instance is a restart.
bool WasCurrentActorRestarted();

}  // namespace ferry
