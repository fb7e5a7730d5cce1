#include "store/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "src/common/files.h"
#include "src/common/logging.h"

namespace ferry::store {
namespace {

Status WriteFile(const std::string& path, const Buffer& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot create spill file " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : ENOSPC;
      close(fd);
      unlink(path.c_str());
      return ResourceExhaustedError("spilling to " + path + " failed after " +
                                    std::to_string(done) + " of " + std::to_string(data.size()) +
                                    " bytes: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(path.c_str());
    return ResourceExhaustedError("spilling to " + path + " failed: " + std::strerror(err));
  }
  return Status::Ok();
}

Status ReadFile(const std::string& path, uint8_t* dst, size_t size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("cannot open spill file " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t n = read(fd, dst + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return UnavailableError("spill file " + path + " ends after " + std::to_string(done) +
                              " of " + std::to_string(size) + " bytes" +
                              (n < 0 ? std::string(": ") + std::strerror(err) : ""));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> ObjectStore::Create(const StoreOptions& options,
                                                         transport::Transport* transport) {
  std::unique_ptr<ObjectStore> s(new ObjectStore(options.self, transport));
  s->spill_dir_ = options.spill_dir;
  if (options.capacity > 0) {
    FERRY_ASSIGN_OR_RETURN(s->arena_, Arena::Create(options.name, options.capacity));
    // One registration for every object this rank will ever hold.
    FERRY_ASSIGN_OR_RETURN(
        s->arena_registration_,
        transport->Register(s->arena_->base(), s->arena_->capacity()));
  }
  return s;
}

ObjectStore::~ObjectStore() {
  for (const auto& [id, obj] : objects_)
    if (!obj.spill_path.empty()) unlink(obj.spill_path.c_str());
}

Status ObjectStore::Spill(const ObjectId& id, StoredObject& obj) {
  if (spill_dir_.empty())
    return ResourceExhaustedError("object store full and no spill directory is set");
  if (!spill_dir_made_) {
    FERRY_RETURN_IF_ERROR(MakeDirs(spill_dir_, "spill directory"));
    spill_dir_made_ = true;
  }
  if (obj.spill_path.empty()) {  // a restored object keeps its file: no second write
    std::string path = spill_dir_ + "/" + self_.ToString() + "-" + id.ToString();
    FERRY_RETURN_IF_ERROR(WriteFile(path, obj.data));
    obj.spill_path = std::move(path);
    spill_count_++;
  }
  obj.data = Buffer();  // the block returns to the arena
  return Status::Ok();
}

Result<Buffer> ObjectStore::AllocateInArena(uint64_t size, const ObjectId* keep,
                                            bool* spill_failed) {
  Result<Buffer> block = arena_->Allocate(size);
  if (block.ok() || size > arena_->capacity()) return block;
  // Make room: cached copies nobody reads now first (they are refetched on demand), then
  // primary copies to disk; least recently used first in each group.
  std::vector<std::tuple<bool, uint64_t, ObjectId>> candidates;
  for (const auto& [id, obj] : objects_) {
    if (obj.data.empty() || obj.registration || !arena_->Contains(obj.data.data())) continue;
    if (obj.data.keepalive().use_count() > 1) continue;  // pinned by a reader
    if (keep != nullptr && id == *keep) continue;
    candidates.emplace_back(obj.primary, obj.last_use, id);
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [primary, use, id] : candidates) {
    auto it = objects_.find(id);
    if (!primary) {
      evicted_objects_++;
      evicted_bytes_ += it->second.size;
      bytes_ -= it->second.size;
      objects_.erase(it);
    } else if (Status st = Spill(id, it->second); !st.ok()) {
      FERRY_LOG_RATE_LIMITED(ERROR) << "cannot spill " << id << ": " << st.ToString();
      if (spill_failed != nullptr) *spill_failed = true;
      return ResourceExhaustedError("object store full (" + std::to_string(size) +
                                    " bytes wanted) and spilling failed: " + st.message());
    }
    block = arena_->Allocate(size);
    if (block.ok()) return block;
  }
  return block;
}

Result<Buffer> ObjectStore::Allocate(uint64_t size) {
  if (!arena_) return Buffer::Allocate(size);
  if (size > arena_->capacity())
    return ResourceExhaustedError("an object of " + std::to_string(size) +
                                  " bytes does not fit in this rank's object store of " +
                                  std::to_string(arena_->capacity()) + " bytes");
  Result<Buffer> block = AllocateInArena(size);
  if (block.ok()) return block;
  return Buffer::Allocate(size);  // every byte pinned: this one waits on the heap
}

Status ObjectStore::Seal(const ObjectId& id, Buffer data, bool primary) {
  if (objects_.count(id) != 0) return Status::Ok();
  if (arena_ && data.size() > arena_->capacity())
    return ResourceExhaustedError("an object of " + std::to_string(data.size()) +
                                  " bytes does not fit in this rank's object store of " +
                                  std::to_string(arena_->capacity()) + " bytes");
  StoredObject obj;
  obj.primary = primary;
  obj.last_use = ++clock_;
  obj.size = data.size();
  const bool in_arena = arena_ && data.size() > 0 && arena_->Contains(data.data());
  if (in_arena || data.empty()) {
    obj.data = std::move(data);
  } else {
    bool spill_failed = false;
    Result<Buffer> block = arena_ ? AllocateInArena(data.size(), nullptr, &spill_failed)
                                  : Result<Buffer>(ResourceExhaustedError("no arena"));
    if (block.ok()) {
      Buffer copy = std::move(block).value();
      std::memcpy(copy.mutable_data(), data.data(), data.size());
      obj.data = std::move(copy);
    } else if (spill_failed) {
      return block.status();  // no room can be made: the caller learns why
    } else {
      // Every byte of the arena is pinned by readers: the object keeps its own memory.
      if (arena_)
        FERRY_LOG_RATE_LIMITED(WARNING) << "object " << id << " (" << data.size()
                                        << " bytes) finds no room in the object store: "
                                        << block.status().message() << "; kept on the heap";
      FERRY_ASSIGN_OR_RETURN(obj.registration, transport_->Register(data.data(), data.size()));
      obj.data = std::move(data);
    }
  }
  bytes_ += obj.size;
  objects_.emplace(id, std::move(obj));
  return Status::Ok();
}

const StoredObject* ObjectStore::Find(const ObjectId& id) const {
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : &it->second;
}

Result<Buffer> ObjectStore::Read(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return NotFoundError(id.ToString() + " is not in this rank's store");
  StoredObject& obj = it->second;
  obj.last_use = ++clock_;
  if (!obj.spilled()) return obj.data;
  Result<Buffer> block = AllocateInArena(obj.size, &id);  // never erases `id`: `obj` stays valid
  std::unique_ptr<transport::MemoryRegistration> registration;
  if (!block.ok()) {
    // Every byte of the arena is pinned: read it back into its own memory rather than fail.
    block = Buffer::Allocate(obj.size);
    FERRY_ASSIGN_OR_RETURN(registration, transport_->Register(block->data(), obj.size));
  }
  FERRY_RETURN_IF_ERROR(ReadFile(obj.spill_path, block->mutable_data(), obj.size));
  restore_count_++;
  obj.registration = std::move(registration);
  obj.data = std::move(block).value();
  return obj.data;
}

std::optional<Buffer> ObjectStore::Get(const ObjectId& id) {
  Result<Buffer> r = Read(id);
  if (r.ok()) return std::move(r).value();
  if (r.status().code() != StatusCode::kNotFound)
    FERRY_LOG_RATE_LIMITED(ERROR) << "cannot read " << id << ": " << r.status().ToString();
  return std::nullopt;
}

bool ObjectStore::MakePrimary(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return false;
  it->second.primary = true;
  return true;
}

void ObjectStore::Erase(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  bytes_ -= it->second.size;
  if (!it->second.spill_path.empty()) unlink(it->second.spill_path.c_str());
  objects_.erase(it);  // an arena block returns once no reader holds it
}

Result<wire::Location> ObjectStore::LocationOf(const ObjectId& id) const {
  auto it = objects_.find(id);
  if (it == objects_.end()) return NotFoundError("object " + id.ToString() + " is not stored here");
  const StoredObject& obj = it->second;
  wire::Location loc;
  loc.node = self_;
  loc.size = obj.size;
  if (obj.registration) {
    loc.address = obj.registration->address();
    loc.rkey = obj.registration->rkey();
  } else if (arena_registration_ && !obj.data.empty()) {
    loc.address = arena_registration_->address() + arena_->OffsetOf(obj.data.data());
    loc.rkey = arena_registration_->rkey();
  } else {
    loc.address = reinterpret_cast<uint64_t>(obj.data.data());  // spilled: 0; pin to learn it
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
  s.spill_count = spill_count_;
  s.restore_count = restore_count_;
  for (const auto& [id, obj] : objects_) {
    s.primary_objects += obj.primary;
    if (obj.spilled()) {
      s.spilled_objects++;
      s.spilled_bytes += obj.size;
      continue;
    }
    if (obj.data.keepalive().use_count() > 1) {
      s.pinned_objects++;
      s.pinned_bytes += obj.size;
    }
    if (!arena_ || obj.data.empty() || !arena_->Contains(obj.data.data())) {
      s.heap_objects++;
      s.heap_bytes += obj.size;
    }
  }
  return s;
}

}  // namespace ferry::store
