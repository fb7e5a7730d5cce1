// The exceptions of the public API. Inside the runtime errors are Status values; they become
// these exceptions only at the API boundary (Get, Remote, Init).
#pragma once

#include <stdexcept>
#include <string>

namespace ferry {

/// Base of every ferry exception.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// A task (or an argument it depended on) threw. what() names the remote exception's type and
/// message, the task and the node it ran on.
class TaskError : public Error {
 public:
  using Error::Error;
};

/// Get or Wait did not finish within its timeout.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// The function was not registered with FERRY_REMOTE (locally, or on the executing node).
class FunctionNotFoundError : public Error {
 public:
  using Error::Error;
};

/// Every copy of the object is gone and it cannot be rebuilt.
class ObjectLostError : public Error {
 public:
  using Error::Error;
};

/// The process that owned the object died, so its value can no longer be known.
class OwnerDiedError : public Error {
 public:
  using Error::Error;
};

/// The actor a call was sent to is dead, or died before the call ran. what() says why: killed,
/// exited through ExitActor(), its constructor threw (with the constructor's message), its node
/// or its creator died, or the cluster shut down.
class ActorDiedError : public Error {
 public:
  using Error::Error;
};

/// An object does not fit in the object store: larger than a rank's whole store, or the
/// store could not make room (spilling to disk failed). what() names the sizes or the cause.
class ObjectStoreFullError : public Error {
 public:
  using Error::Error;
};

/// The task or actor can never be placed as asked: hard node affinity to a dead or unknown
/// node (or one too small), or its placement group was removed. what() names the node or group.
class TaskUnschedulableError : public Error {
 public:
  using Error::Error;
};

/// ferry was used before Init, after Shutdown, or the runtime failed.
class RuntimeError : public Error {
 public:
  using Error::Error;
};

}  // namespace ferry
