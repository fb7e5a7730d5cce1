// The untyped entry points the public templates call. Implemented by the runtime (libferry).
// Thread-safe: callable from the driver, executor threads and any user thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"

namespace ferry::internal {

// One local handle on an object. The last copy of an ObjectRef dropping it tells the owner.
class RefHandle {
 public:
  RefHandle(ObjectId id, uint64_t epoch) : id_(id), epoch_(epoch) {}
  ~RefHandle();
  RefHandle(const RefHandle&) = delete;
  RefHandle& operator=(const RefHandle&) = delete;
  const ObjectId& id() const { return id_; }

 private:
  ObjectId id_;
  uint64_t epoch_;  // which Init() the handle belongs to; stale handles release nothing
};

struct ArgSpec {
  bool is_ref = false;
  Buffer value;                     // !is_ref
  ObjectId ref;                     // is_ref
  std::shared_ptr<RefHandle> keep;  // keeps a ref argument alive until submitted
};

struct CallOptions {
  std::string name;
  std::unordered_map<std::string, double> resources;
  int max_retries = 3;
};

// Each throws ferry::RuntimeError when ferry is not initialized.
std::shared_ptr<RefHandle> SubmitTask(const std::string& function, std::vector<ArgSpec> args,
                                      const CallOptions& options);
std::shared_ptr<RefHandle> PutObject(Buffer value);
// Blocks until the object is available; throws the ferry::Error subclass the object holds,
// or TimeoutError after `timeout_ms` (negative: no limit).
Buffer GetObject(const ObjectId& id, int64_t timeout_ms);
std::vector<Buffer> GetObjects(const std::vector<ObjectId>& ids, int64_t timeout_ms);
// Returns, for each id, whether it was ready when `num_ready` were ready or the timeout passed.
std::vector<bool> WaitObjects(const std::vector<ObjectId>& ids, size_t num_ready,
                              int64_t timeout_ms);
// A handle for an id that arrived inside a value (a borrowed or re-entered reference).
std::shared_ptr<RefHandle> AdoptRef(const ObjectId& id);

// What this process holds right now (the stats API of the object-store work will replace it).
struct LocalStats {
  size_t owned_objects = 0;  // objects this process owns (pending or ready)
  size_t pending_tasks = 0;  // tasks it submitted that have not completed
  size_t store_objects = 0;  // objects in this rank's store (primary and cached copies)
  size_t store_bytes = 0;
};
LocalStats GetLocalStats();

}  // namespace ferry::internal
