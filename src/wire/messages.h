// Control messages between ranks and their codec. Every message starts with the wire version
// byte; batches (task specs, completions, frees) carry a count. Decoding is bounds-checked and
// zero-copy: inline values come back as slices of the received buffer.
// Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"
#include "src/common/status.h"

namespace ferry::wire {

using internal::Buffer;

enum class MsgType : uint16_t {
  kSubmitTasks = 1,  // owner -> raylet: TaskSpec batch
  kTaskDone = 2,     // raylet -> owner: TaskResult batch
  kGetObject = 3,    // borrower -> owner: where is / what is this object
  kObjectInfo = 4,   // owner -> borrower: the answer, once the object is ready
  kFreeObjects = 5,  // owner -> holder: drop these copies
  kHeartbeat = 6,    // head -> worker
  kShutdown = 7,     // head -> worker
  kShutdownAck = 8,  // worker -> head
};

// Why an object holds an error instead of a value. Mirrors the public exception types.
enum class ErrorKind : uint8_t {
  kNone = 0,
  kTaskError = 1,
  kFunctionNotFound = 2,
  kObjectLost = 3,
  kOwnerDied = 4,
  kInternal = 5,
};

struct ErrorInfo {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;
};

// Where the bytes of a large object live: registered memory on `node`.
struct Location {
  NodeId node;
  uint64_t address = 0;
  uint64_t size = 0;
  std::string rkey;
};

// An object's content as the owner knows it: the bytes themselves, where they are, or an error.
struct ObjectValue {
  enum class Kind : uint8_t { kInline = 0, kLocation = 1, kError = 2 };
  Kind kind = Kind::kInline;
  Buffer data;        // kInline
  Location location;  // kLocation
  ErrorInfo error;    // kError
};

struct TaskArg {
  enum class Kind : uint8_t { kValue = 0, kRef = 1 };
  Kind kind = Kind::kValue;
  Buffer value;  // kValue: the serialized argument
  ObjectId ref;  // kRef: resolved by the executing raylet before the body runs
};

struct TaskSpec {
  TaskId id;
  ObjectId return_id;
  std::string function;  // registered name
  std::string name;      // display name (defaults to the function's)
  std::vector<TaskArg> args;
  std::vector<std::pair<std::string, double>> resources;
  int32_t max_retries = 3;
  double cpus() const;
};

struct TaskResult {
  TaskId task;
  ObjectId return_id;
  ObjectValue value;
};

struct GetObjectRequest {
  uint64_t request_id = 0;
  ObjectId id;
};

struct ObjectInfoReply {
  uint64_t request_id = 0;
  ObjectId id;
  ObjectValue value;
};

std::string EncodeTaskSpecs(const std::vector<TaskSpec>& specs);
Status DecodeTaskSpecs(const Buffer& msg, std::vector<TaskSpec>* out);

std::string EncodeTaskResults(const std::vector<TaskResult>& results);
Status DecodeTaskResults(const Buffer& msg, std::vector<TaskResult>* out);

std::string EncodeGetObject(const GetObjectRequest& req);
Status DecodeGetObject(const Buffer& msg, GetObjectRequest* out);

std::string EncodeObjectInfo(const ObjectInfoReply& reply);
Status DecodeObjectInfo(const Buffer& msg, ObjectInfoReply* out);

std::string EncodeFreeObjects(const std::vector<ObjectId>& ids);
Status DecodeFreeObjects(const Buffer& msg, std::vector<ObjectId>* out);

// Heartbeat, Shutdown and ShutdownAck carry one sequence number.
std::string EncodeSeq(uint64_t seq);
Status DecodeSeq(const Buffer& msg, uint64_t* seq);

}  // namespace ferry::wire
