// ObjectStore: this rank's store of sealed objects (plain memory for now; the shared-memory
// arena replaces it later). Large objects are registered with the transport when sealed so a
// peer can read them with one RMA get. Holds primary copies (made here) and cached secondary
// copies (fetched from peers). Confined to the event loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"
#include "src/common/status.h"
#include "src/transport/transport.h"

namespace ferry::store {

using internal::Buffer;

struct StoredObject {
  Buffer data;
  std::unique_ptr<transport::MemoryRegistration> registration;  // null if not exported
  bool primary = true;
};

struct StoreStats {
  size_t objects = 0;
  size_t bytes = 0;
};

class ObjectStore {
 public:
  explicit ObjectStore(transport::Transport* transport) : transport_(transport) {}

  // Seals `data` under `id`. With `exported`, registers it so peers can read it remotely.
  // Sealing an id twice keeps the first copy (objects are immutable).
  Status Seal(const ObjectId& id, Buffer data, bool exported, bool primary);
  const StoredObject* Find(const ObjectId& id) const;
  std::optional<Buffer> Get(const ObjectId& id) const;
  void Erase(const ObjectId& id);
  StoreStats stats() const { return stats_; }

 private:
  transport::Transport* transport_;
  std::unordered_map<ObjectId, StoredObject> objects_;
  StoreStats stats_;
};

}  // namespace ferry::store
