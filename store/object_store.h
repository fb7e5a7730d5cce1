// ObjectStore: this rank's sealed objects. Their bytes live in the rank's Arena, which is
// registered with the transport once, so a peer reads any object with one RMA get at
// (arena address + offset) with the arena's key: no per-object registration. Holds primary
// copies (made here) and secondary copies (fetched from peers, cached). When the arena has no
// room, unpinned secondary copies are evicted, least recently used first; an object that still
// does not fit is kept in its own heap buffer, registered on its own (spilling to disk is not
// built yet). Objects never move once sealed, so a location handed out stays valid until the
// object is freed.
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
};

struct StoredObject {
  Buffer data;
  bool primary = true;
  uint64_t last_use = 0;
  // Set only for objects outside the arena that peers may read.
  std::unique_ptr<transport::MemoryRegistration> registration;
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
};

class ObjectStore {
 public:
  static Result<std::unique_ptr<ObjectStore>> Create(const StoreOptions& options,
                                                     transport::Transport* transport);

  // A writable buffer for `size` bytes, in the arena if there is room (evicting unpinned
  // secondary copies if needed), else on the heap. Fill it, then Seal it.
  Result<Buffer> Allocate(uint64_t size);
  // Seals `data` under `id`: bytes already in the arena are kept in place, others are copied
  // in (one copy), or kept on the heap when the arena has no room. Sealing an id twice keeps
  // the first copy (objects are immutable).
  Status Seal(const ObjectId& id, Buffer data, bool primary);
  const StoredObject* Find(const ObjectId& id) const;
  // The bytes (pinned while the returned Buffer lives); marks the object recently used.
  std::optional<Buffer> Get(const ObjectId& id);
  void Erase(const ObjectId& id);
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
  uint64_t capacity() const { return arena_ ? arena_->capacity() : 0; }

 private:
  ObjectStore(NodeId self, transport::Transport* transport) : self_(self), transport_(transport) {}
  // Evicts unpinned secondary copies, least recently used first, until an arena block of
  // `size` bytes is free or none is left to evict.
  Result<Buffer> AllocateInArena(uint64_t size);

  const NodeId self_;
  transport::Transport* const transport_;
  std::shared_ptr<Arena> arena_;  // Immutable after Create.
  std::unique_ptr<transport::MemoryRegistration> arena_registration_;
  std::unordered_map<ObjectId, StoredObject> objects_;
  uint64_t clock_ = 0;
  uint64_t bytes_ = 0;
  uint64_t evicted_objects_ = 0;
  uint64_t evicted_bytes_ = 0;
};

}  // namespace ferry::store
