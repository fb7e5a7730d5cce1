// The table of remotely callable functions, filled at static-initialization time by
// FERRY_REMOTE. Every rank runs the same binary, so the same names map to the same code; a
// hash of the table proves it at bootstrap. Thread-safe (registration is serialized).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ferry/internal/buffer.h"
#include "ferry/internal/serialization.h"

namespace ferry::internal {

// Runs a registered function on serialized arguments and returns its serialized result.
// Throws whatever the function throws, or ferry::Error for undecodable arguments.
using Invoker = Buffer (*)(const std::vector<Buffer>& args);
// Runs an actor factory (`static T* Create(args...)`); returns the new instance as void*.
using FactoryInvoker = void* (*)(const std::vector<Buffer>& args);
// Destroys an instance a factory made.
using Deleter = void (*)(void* instance);
// Runs a member function on an instance made by a factory of the same class.
using MethodInvoker = Buffer (*)(void* instance, const std::vector<Buffer>& args);

enum class FunctionKind { kFunction, kFactory, kMethod };

struct FunctionEntry {
  std::string name;
  std::string signature;  // mangled type of the function, part of the table hash
  FunctionKind kind = FunctionKind::kFunction;
  Invoker invoker = nullptr;         // kFunction
  FactoryInvoker factory = nullptr;  // kFactory
  Deleter deleter = nullptr;         // kFactory
  MethodInvoker method = nullptr;    // kMethod
  std::string class_name;            // kFactory, kMethod: mangled name of the class
  size_t arity = 0;
};

// Registers `entry` under its name; `key` identifies it for lookups from Task(f), Actor(f)
// and handle.Task(&T::M) (a function's address, or a member pointer's bytes).
// Returns true (for use in a static initializer). A duplicate name aborts with a message.
bool RegisterEntry(FunctionEntry entry, const std::string& key);
const FunctionEntry* FindFunction(const std::string& name);
// The registered name of the function or member function with `key`, or nullptr.
const std::string* FunctionNameOf(const std::string& key);
// Order-independent hash of every (name, signature) pair.
uint64_t FunctionTableHash();
size_t FunctionTableSize();

inline std::string KeyOf(const void* fn) {
  return std::string(reinterpret_cast<const char*>(&fn), sizeof(fn));
}
// Member pointers cannot become void*: their bytes (and type) are the key. Within one binary
// the same member has the same representation.
template <typename M>
std::string MemberKey(M m) {
  return std::string(typeid(M).name()) + "#" +
         std::string(reinterpret_cast<const char*>(&m), sizeof(m));
}

template <typename F>
struct FunctionTraits;
template <typename R, typename... Args>
struct FunctionTraits<R (*)(Args...)> {
  using Return = R;
  using ArgsTuple = std::tuple<std::decay_t<Args>...>;
  static constexpr size_t kArity = sizeof...(Args);
};

template <typename M>
struct MethodTraits;
#define FERRY_INTERNAL_METHOD_TRAITS(qualifiers)                 \
  template <typename R, typename C, typename... Args>            \
  struct MethodTraits<R (C::*)(Args...) qualifiers> {            \
    using Return = R;                                            \
    using Class = C;                                             \
    using ArgsTuple = std::tuple<std::decay_t<Args>...>;         \
    static constexpr size_t kArity = sizeof...(Args);            \
  };
FERRY_INTERNAL_METHOD_TRAITS()
FERRY_INTERNAL_METHOD_TRAITS(const)
FERRY_INTERNAL_METHOD_TRAITS(noexcept)
FERRY_INTERNAL_METHOD_TRAITS(const noexcept)
#undef FERRY_INTERNAL_METHOD_TRAITS

template <typename T>
struct IsFactoryReturn : std::bool_constant<std::is_pointer_v<T> &&
                                            std::is_class_v<std::remove_pointer_t<T>>> {};

inline void CheckArity(size_t want, size_t got) {
  if (want != got)
    throw Error("ferry: function expects " + std::to_string(want) + " arguments, got " +
                std::to_string(got));
}

// Calls `call(decoded args...)` with each argument decoded to its parameter type.
template <typename ArgsTuple, typename Call, size_t... I>
decltype(auto) CallDecoded(const std::vector<Buffer>& args, Call&& call,
                           std::index_sequence<I...>) {
  CheckArity(sizeof...(I), args.size());
  [[maybe_unused]] auto decoded =
      std::make_tuple(Deserialize<std::tuple_element_t<I, ArgsTuple>>(args[I])...);
  return call(std::move(*std::get<I>(decoded))...);
}

// Decodes the arguments, calls, and serializes the result (nothing for void).
template <typename Traits, typename Call>
Buffer CallAndSerialize(const std::vector<Buffer>& args, Call&& call) {
  constexpr auto kIndices = std::make_index_sequence<Traits::kArity>();
  if constexpr (std::is_void_v<typename Traits::Return>) {
    CallDecoded<typename Traits::ArgsTuple>(args, call, kIndices);
    return Buffer();
  } else {
    return SerializeMove(CallDecoded<typename Traits::ArgsTuple>(args, call, kIndices));
  }
}

// One invoker per function: the function pointer is a template argument.
template <auto Fn>
Buffer Invoke(const std::vector<Buffer>& args) {
  return CallAndSerialize<FunctionTraits<decltype(Fn)>>(
      args, [](auto&&... a) -> decltype(auto) { return Fn(std::forward<decltype(a)>(a)...); });
}

template <auto Fn>
void* InvokeFactory(const std::vector<Buffer>& args) {
  using Traits = FunctionTraits<decltype(Fn)>;
  auto call = [](auto&&... a) { return Fn(std::forward<decltype(a)>(a)...); };
  auto* instance =
      CallDecoded<typename Traits::ArgsTuple>(args, call, std::make_index_sequence<Traits::kArity>());
  if (instance == nullptr) throw Error("ferry: the actor factory returned a null pointer");
  return static_cast<void*>(instance);
}

template <typename T>
void DeleteAs(void* instance) {
  delete static_cast<T*>(instance);
}

template <auto M>
Buffer InvokeMethod(void* instance, const std::vector<Buffer>& args) {
  using Traits = MethodTraits<decltype(M)>;
  auto* self = static_cast<typename Traits::Class*>(instance);
  return CallAndSerialize<Traits>(args, [self](auto&&... a) -> decltype(auto) {
    return (self->*M)(std::forward<decltype(a)>(a)...);
  });
}

// "&Counter::Add" -> "Counter::Add": the name a member registers under.
inline std::string RegisteredName(const char* spelled) {
  std::string s(spelled);
  size_t i = 0;
  while (i < s.size() && (s[i] == '&' || s[i] == ' ' || s[i] == '(')) ++i;
  s.erase(0, i);
  while (!s.empty() && (s.back() == ' ' || s.back() == ')')) s.pop_back();
  return s;
}

template <auto Fn>
bool RegisterRemote(const char* spelled) {
  using F = decltype(Fn);
  FunctionEntry e;
  e.name = RegisteredName(spelled);
  e.signature = typeid(F).name();
  if constexpr (std::is_member_function_pointer_v<F>) {
    using Traits = MethodTraits<F>;
    e.kind = FunctionKind::kMethod;
    e.method = &InvokeMethod<Fn>;
    e.class_name = typeid(typename Traits::Class).name();
    e.arity = Traits::kArity;
    return RegisterEntry(std::move(e), MemberKey(Fn));
  } else {
    static_assert(std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>,
                  "FERRY_REMOTE takes functions, static member functions (actor factories) and "
                  "member functions (&T::Method)");
    using Traits = FunctionTraits<F>;
    e.arity = Traits::kArity;
    if constexpr (IsFactoryReturn<typename Traits::Return>::value) {
      using T = std::remove_pointer_t<typename Traits::Return>;
      e.kind = FunctionKind::kFactory;
      e.factory = &InvokeFactory<Fn>;
      e.deleter = &DeleteAs<T>;
      e.class_name = typeid(T).name();
    } else {
      e.invoker = &Invoke<Fn>;
    }
    return RegisterEntry(std::move(e), KeyOf(reinterpret_cast<const void*>(Fn)));
  }
}

}  // namespace ferry::internal

// --- FERRY_REMOTE(f1, f2, ...) ---------------------------------------------------------------
#define FERRY_INTERNAL_CAT_(a, b) a##b
#define FERRY_INTERNAL_CAT(a, b) FERRY_INTERNAL_CAT_(a, b)
#define FERRY_INTERNAL_REG(f)                                                             \
  [[maybe_unused]] static const bool FERRY_INTERNAL_CAT(ferry_registered_, __COUNTER__) = \
      ::ferry::internal::RegisterRemote<f>(#f);

#define FERRY_INTERNAL_NARGS(...)                                                                \
  FERRY_INTERNAL_NARGS_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, \
                        9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define FERRY_INTERNAL_NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, \
                              _16, _17, _18, _19, _20, _21, _22, _23, _24, N, ...)              \
  N
#define FERRY_INTERNAL_EACH_1(m, x) m(x)
#define FERRY_INTERNAL_EACH_2(m, x, ...) m(x) FERRY_INTERNAL_EACH_1(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_3(m, x, ...) m(x) FERRY_INTERNAL_EACH_2(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_4(m, x, ...) m(x) FERRY_INTERNAL_EACH_3(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_5(m, x, ...) m(x) FERRY_INTERNAL_EACH_4(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_6(m, x, ...) m(x) FERRY_INTERNAL_EACH_5(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_7(m, x, ...) m(x) FERRY_INTERNAL_EACH_6(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_8(m, x, ...) m(x) FERRY_INTERNAL_EACH_7(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_9(m, x, ...) m(x) FERRY_INTERNAL_EACH_8(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_10(m, x, ...) m(x) FERRY_INTERNAL_EACH_9(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_11(m, x, ...) m(x) FERRY_INTERNAL_EACH_10(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_12(m, x, ...) m(x) FERRY_INTERNAL_EACH_11(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_13(m, x, ...) m(x) FERRY_INTERNAL_EACH_12(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_14(m, x, ...) m(x) FERRY_INTERNAL_EACH_13(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_15(m, x, ...) m(x) FERRY_INTERNAL_EACH_14(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_16(m, x, ...) m(x) FERRY_INTERNAL_EACH_15(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_17(m, x, ...) m(x) FERRY_INTERNAL_EACH_16(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_18(m, x, ...) m(x) FERRY_INTERNAL_EACH_17(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_19(m, x, ...) m(x) FERRY_INTERNAL_EACH_18(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_20(m, x, ...) m(x) FERRY_INTERNAL_EACH_19(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_21(m, x, ...) m(x) FERRY_INTERNAL_EACH_20(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_22(m, x, ...) m(x) FERRY_INTERNAL_EACH_21(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_23(m, x, ...) m(x) FERRY_INTERNAL_EACH_22(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH_24(m, x, ...) m(x) FERRY_INTERNAL_EACH_23(m, __VA_ARGS__)
#define FERRY_INTERNAL_EACH(m, ...) \
  FERRY_INTERNAL_CAT(FERRY_INTERNAL_EACH_, FERRY_INTERNAL_NARGS(__VA_ARGS__))(m, __VA_ARGS__)

/// Registers functions for remote execution (up to 24 per use; use it several times for more):
/// free functions, actor factories (static member functions returning T*) and actor methods.
///   int Plus(int a, int b);  FERRY_REMOTE(Plus, Counter::Create, &Counter::Add);
#define FERRY_REMOTE(...) FERRY_INTERNAL_EACH(FERRY_INTERNAL_REG, __VA_ARGS__)

/// Picks one overload: FERRY_FUNC(Scale, double, int) is Scale's (double, int) overload.
/// Use the same expression in FERRY_REMOTE and in Task().
#define FERRY_FUNC(f, ...) (::ferry::internal::PickOverload<__VA_ARGS__>(f))

namespace ferry::internal {
template <typename... Args, typename R>
constexpr auto PickOverload(R (*fn)(Args...)) {
  return fn;
}
}  // namespace ferry::internal
