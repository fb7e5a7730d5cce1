#include "store/object_store.h"

namespace ferry::store {

Status ObjectStore::Seal(const ObjectId& id, Buffer data, bool exported, bool primary) {
  if (objects_.count(id) != 0) return Status::Ok();
  StoredObject obj;
  if (exported && data.size() > 0) {
    FERRY_ASSIGN_OR_RETURN(obj.registration, transport_->Register(data.data(), data.size()));
  }
  stats_.objects += 1;
  stats_.bytes += data.size();
  obj.data = std::move(data);
  obj.primary = primary;
  objects_.emplace(id, std::move(obj));
  return Status::Ok();
}

const StoredObject* ObjectStore::Find(const ObjectId& id) const {
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : &it->second;
}

std::optional<Buffer> ObjectStore::Get(const ObjectId& id) const {
  auto it = objects_.find(id);
  if (it == objects_.end()) return std::nullopt;
  return it->second.data;
}

void ObjectStore::Erase(const ObjectId& id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  stats_.objects -= 1;
  stats_.bytes -= it->second.data.size();
  objects_.erase(it);
}

}  // namespace ferry::store
