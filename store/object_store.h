// ObjectStore: this rank's sealed objects. Their bytes live in the rank's Arena, which is
// registered with the transport once, so a peer reads any object with one RMA get at
// (arena address + offset) with the arena's key: no per-object registration. Holds primary
// copies (made here) and secondary copies (fetched from peers, cached). When the arena has no
// room, unpinned secondary copies are evicted, least recently used first, then unpinned
// primary copies are spilled to files in the spill directory (restored on their next read).
// An object larger than the arena is refused (ResourceExhausted naming the sizes); one that
// fits but finds every byte pinned keeps its own heap buffer, registered on its own. A spilled
// and restored object may sit at a new address: peers ask this rank for the current location
// (and a pin) before reading.
// Confined to the event loop thread (the Buffers it hands out may go anywhere: a Buffer into
// the arena pins its block until dropped).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "ferry/ids.h"
#include "ferry/internal/buffer.h"
#include "src/common/status.h"
#include "src/transport/transport.h"
#include "src/wire/messages.h"
#include "store/arena.h"

namespace ferry::store {

using internal::Buffer;

struct StoreOptions {
  NodeId self;
  std::string name;       // of the arena's segment: "ferry-<session>-rank-<N>"
  uint64_t capacity = 0;  // arena bytes; 0: no arena, every object on the heap
  std::string spill_dir;  // where primary copies go when the arena is full (made on first use)
};

struct StoredObject {
  Buffer data;  // empty while spilled
  uint64_t size = 0;
  bool primary = true;
  uint64_t last_use = 0;
  // Set only for objects outside the arena that peers may read.
  std::unique_ptr<transport::MemoryRegistration> registration;
  std::string spill_path;  // non-empty once written to disk (kept until the object is freed)
  bool spilled() const { return data.empty() && !spill_path.empty(); }
};

struct StoreStats {
  uint64_t capacity = 0;        // arena bytes
  uint64_t arena_used = 0;      // arena bytes allocated (objects, blocks being filled, pins)
  size_t objects = 0;           // sealed objects (primary and secondary)
  uint64_t bytes = 0;           // their sizes
  size_t primary_objects = 0;
  size_t pinned_objects = 0;    // held by a reader right now
  uint64_t pinned_bytes = 0;
  size_t heap_objects = 0;      // did not fit in the arena
  uint64_t heap_bytes = 0;
  uint64_t evicted_objects = 0;  // secondary copies dropped for room, since start
  uint64_t evicted_bytes = 0;
  size_t spilled_objects = 0;    // on disk only, now
  uint64_t spilled_bytes = 0;
  uint64_t spill_count = 0;      // objects written to disk, since start
  uint64_t restore_count = 0;    // objects read back from disk, since start
};

// How a failure to store an object shows to the user: no room is ObjectStoreFullError.
inline wire::ErrorKind StoreErrorKind(const Status& st) {
  return st.code() == StatusCode::kResourceExhausted ? wire::ErrorKind::kStoreFull
                                                     : wire::ErrorKind::kInternal;
}

class ObjectStore {
 public:
  static Result<std::unique_ptr<ObjectStore>> Create(const StoreOptions& options,
                                                     transport::Transport* transport);
  // Removes the spill files left.
  ~ObjectStore();

  // A writable buffer for `size` bytes, in the arena if there is room (evicting unpinned
  // secondary copies if needed), else on the heap. Fill it, then Seal it.
  Result<Buffer> Allocate(uint64_t size);
  // Seals `data` under `id`: bytes already in the arena are kept in place, others are copied
  // in (one copy), or kept on the heap when the arena has no room. Sealing an id twice keeps
  // the first copy (objects are immutable).
  Status Seal(const ObjectId& id, Buffer data, bool primary);
  const StoredObject* Find(const ObjectId& id) const;
  // The bytes (pinned while the returned Buffer lives), read back from disk if spilled; marks
  // the object recently used. NotFound if it is not here; ResourceExhausted or Unavailable if
  // a spilled object cannot be restored (no room, file unreadable).
  Result<Buffer> Read(const ObjectId& id);
  // Read, with every failure as "not here" (the caller then asks the owner).
  std::optional<Buffer> Get(const ObjectId& id);
  void Erase(const ObjectId& id);
  // Makes a cached copy the primary one (spilled when room is short, never evicted): its
  // holder left and handed it over. False if it is not here.
  bool MakePrimary(const ObjectId& id);
  // Where a peer reads the object: this node, address, size and the packed key.
  Result<wire::Location> LocationOf(const ObjectId& id) const;
  // Seal(id, data, primary=true), then LocationOf(id).
  Result<wire::Location> SealPrimary(const ObjectId& id, Buffer data);

  // Thread-safe. The arena (null without one), for threads that fill objects off the loop.
  const std::shared_ptr<Arena>& arena() const { return arena_; }
  // Thread-safe. `data` copied into a new block of `arena`, or `data` itself when it already
  // lives there or the arena has no free block that large (Seal then deals with it).
  static Buffer CopyIntoArena(const std::shared_ptr<Arena>& arena, Buffer data);
  StoreStats stats() const;
  // Calls fn(id, object) for every stored object.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& [id, obj] : objects_) fn(id, obj);
  }
  uint64_t capacity() const { return arena_ ? arena_->capacity() : 0; }

 private:
  ObjectStore(NodeId self, transport::Transport* transport) : self_(self), transport_(transport) {}
  // An arena block of `size` bytes, making room by evicting unpinned secondary copies, then
  // spilling unpinned primary copies (least recently used first). `keep` is never spilled.
  // `*spill_failed` tells a failed spill (an error to report) from an arena whose every byte is
  // pinned (the caller may fall back to the heap).
  Result<Buffer> AllocateInArena(uint64_t size, const ObjectId* keep = nullptr,
                                 bool* spill_failed = nullptr);
  Status Spill(const ObjectId& id, StoredObject& obj);

  const NodeId self_;
  transport::Transport* const transport_;
  std::shared_ptr<Arena> arena_;  // Immutable after Create.
  std::unique_ptr<transport::MemoryRegistration> arena_registration_;
  std::unordered_map<ObjectId, StoredObject> objects_;
  uint64_t clock_ = 0;
  uint64_t bytes_ = 0;
  uint64_t evicted_objects_ = 0;
  uint64_t evicted_bytes_ = 0;
  uint64_t spill_count_ = 0;
  uint64_t restore_count_ = 0;
  std::string spill_dir_;
  bool spill_dir_made_ = false;
};

}  // namespace ferry::store
