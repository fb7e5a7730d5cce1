#include "store/object_store.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/common/logging.h"

namespace ferry::store {

Result<std::unique_ptr<ObjectStore>> ObjectStore::Create(const StoreOptions& options,
                                                         transport::Transport* transport) {
  std::unique_ptr<ObjectStore> s(new ObjectStore(options.self, transport));
  if (options.capacity > 0) {
    FERRY_ASSIGN_OR_RETURN(s->arena_, Arena::Create(options.name, options.capacity));
    // One registration for every object this rank will ever hold.
    FERRY_ASSIGN_OR_RETURN(
        s->arena_registration_,
        transport->Register(s->arena_->base(), s->arena_->capacity()));
  }
  return s;
}

Result<Buffer> ObjectStore::AllocateInArena(uint64_t size) {
  Result<Buffer> block = arena_->Allocate(size);
  if (block.ok() || size > arena_->capacity()) return block;
  // Evict cached copies nobody reads now, oldest first, until the block fits.
  std::vector<std::pair<uint64_t, ObjectId>> candidates;
  for (const auto& [id, obj] : objects_) {
    if (obj.primary || obj.registration || !arena_->Contains(obj.data.data())) continue;
    if (obj.data.keepalive().use_count() > 1) continue;  // pinned by a reader
    candidates.emplace_back(obj.last_use, id);
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [use, id] : candidates) {
    auto it = objects_.find(id);
    evicted_objects_++;
    evicted_bytes_ += it->second.data.size();
    bytes_ -= it->second.data.size();
    objects_.erase(it);
    block = arena_->Allocate(size);
    if (block.ok()) return block;
  }
  return block;
}

Result<Buffer> ObjectStore::Allocate(uint64_t size) {
  if (arena_) {
    Result<Buffer> block = AllocateInArena(size);
    if (block.ok()) return block;
  }
  return Buffer::Allocate(size);
}

Status ObjectStore::Seal(const ObjectId& id, Buffer data, bool primary) {
  if (objects_.count(id) != 0) return Status::Ok();
  StoredObject obj;
  obj.primary = primary;
  obj.last_use = ++clock_;
  const bool in_arena = arena_ && data.size() > 0 && arena_->Contains(data.data());
  if (in_arena || data.empty()) {
    obj.data = std::move(data);
  } else if (Result<Buffer> block = arena_ ? AllocateInArena(data.size())
                                           : Result<Buffer>(ResourceExhaustedError("no arena"));
             block.ok()) {
    Buffer copy = std::move(block).value();
    std::memcpy(copy.mutable_data(), data.data(), data.size());
    obj.data = std::move(copy);
  } else {
    // No room in the arena: the object keeps its own memory, registered on its own.
    if (arena_)
      FERRY_LOG_RATE_LIMITED(WARNING) << "object " << id << " (" << data.size()
                                      << " bytes) does not fit in the object store: "
                                      << block.status().message() << "; kept on the heap";
    FERRY_ASSIGN_OR_RETURN(obj.registration, transport_->Register(data.data(), data.size()));
    obj.data = std::move(data);
  }
  bytes_ += obj.data.size();
  objects_.emplace(id, std::move(obj));
  return Status::Ok();
}

const StoredObject* ObjectStore::Find(const ObjectId& id) const {
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : &it->second;
}

std::optional<Buffer> ObjectStore::Get(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return std::nullopt;
  it->second.last_use = ++clock_;
  return it->second.data;
}

void ObjectStore::Erase(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  bytes_ -= it->second.data.size();
  objects_.erase(it);  // an arena block returns once no reader holds it
}

Result<wire::Location> ObjectStore::LocationOf(const ObjectId& id) const {
  auto it = objects_.find(id);
  if (it == objects_.end()) return NotFoundError("object " + id.ToString() + " is not stored here");
  const StoredObject& obj = it->second;
  wire::Location loc;
  loc.node = self_;
  loc.size = obj.data.size();
  if (obj.registration) {
    loc.address = obj.registration->address();
    loc.rkey = obj.registration->rkey();
  } else if (arena_registration_ && !obj.data.empty()) {
    loc.address = arena_registration_->address() + arena_->OffsetOf(obj.data.data());
    loc.rkey = arena_registration_->rkey();
  } else {
    loc.address = reinterpret_cast<uint64_t>(obj.data.data());
  }
  return loc;
}

Result<wire::Location> ObjectStore::SealPrimary(const ObjectId& id, Buffer data) {
  FERRY_RETURN_IF_ERROR(Seal(id, std::move(data), /*primary=*/true));
  return LocationOf(id);
}

Buffer ObjectStore::CopyIntoArena(const std::shared_ptr<Arena>& arena, Buffer data) {
  if (!arena || data.empty() || arena->Contains(data.data())) return data;
  Result<Buffer> block = arena->Allocate(data.size());
  if (!block.ok()) return data;
  Buffer copy = std::move(block).value();
  std::memcpy(copy.mutable_data(), data.data(), data.size());
  return copy;
}

StoreStats ObjectStore::stats() const {
  StoreStats s;
  s.capacity = capacity();
  s.arena_used = arena_ ? arena_->used() : 0;
  s.objects = objects_.size();
  s.bytes = bytes_;
  s.evicted_objects = evicted_objects_;
  s.evicted_bytes = evicted_bytes_;
  for (const auto& [id, obj] : objects_) {
    s.primary_objects += obj.primary;
    if (obj.data.keepalive().use_count() > 1) {
      s.pinned_objects++;
      s.pinned_bytes += obj.data.size();
    }
    if (!arena_ || obj.data.empty() || !arena_->Contains(obj.data.data())) {
      s.heap_objects++;
      s.heap_bytes += obj.data.size();
    }
  }
  return s;
}

}  // namespace ferry::store
