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

struct FunctionEntry {
  std::string name;
  std::string signature;  // mangled type of the function, part of the table hash
  Invoker invoker = nullptr;
  size_t arity = 0;
};

// Registers `name`; `key` identifies the function pointer for lookups from Task(f).
// Returns true (for use in a static initializer). A duplicate name aborts with a message.
bool RegisterFunction(const std::string& name, const void* key, std::string signature,
                      Invoker invoker, size_t arity);
const FunctionEntry* FindFunction(const std::string& name);
// The registered name of the function at `key`, or nullptr.
const std::string* FunctionNameOf(const void* key);
// Order-independent hash of every (name, signature) pair.
uint64_t FunctionTableHash();
size_t FunctionTableSize();

template <typename F>
struct FunctionTraits;
template <typename R, typename... Args>
struct FunctionTraits<R (*)(Args...)> {
  using Return = R;
  using ArgsTuple = std::tuple<std::decay_t<Args>...>;
  static constexpr size_t kArity = sizeof...(Args);
};

template <typename R, typename... Args, size_t... I>
Buffer InvokeImpl(R (*fn)(Args...), const std::vector<Buffer>& args, std::index_sequence<I...>) {
  if (args.size() != sizeof...(Args))
    throw Error("ferry: function expects " + std::to_string(sizeof...(Args)) + " arguments, got " +
                std::to_string(args.size()));
  auto decoded = std::make_tuple(Deserialize<std::decay_t<Args>>(args[I])...);
  if constexpr (std::is_void_v<R>) {
    fn(std::move(*std::get<I>(decoded))...);
    return Buffer();
  } else {
    return SerializeMove(fn(std::move(*std::get<I>(decoded))...));
  }
}

// One invoker per function: the function pointer is a template argument.
template <auto Fn>
Buffer Invoke(const std::vector<Buffer>& args) {
  using Traits = FunctionTraits<decltype(Fn)>;
  return InvokeImpl(Fn, args, std::make_index_sequence<Traits::kArity>());
}

template <auto Fn>
bool RegisterRemote(const char* name) {
  using F = decltype(Fn);
  static_assert(std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>,
                "FERRY_REMOTE takes functions (free functions or static member functions)");
  return RegisterFunction(name, reinterpret_cast<const void*>(Fn), typeid(F).name(), &Invoke<Fn>,
                          FunctionTraits<F>::kArity);
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

/// Registers functions for remote execution (up to 24 per use; use it several times for more).
///   int Plus(int a, int b);  FERRY_REMOTE(Plus);
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
