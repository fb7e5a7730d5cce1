// The process-wide function table behind FERRY_REMOTE (include/ferry/internal/function_registry.h).
#include "ferry/internal/function_registry.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

namespace ferry::internal {
namespace {

struct Table {
  std::mutex mu;
  std::map<std::string, FunctionEntry> by_name;         // Guarded by mu (ordered: stable hash).
  std::unordered_map<std::string, std::string> by_key;  // Guarded by mu.
};
Table& GetTable() {
  static Table* t = new Table();  // never destroyed: used during static init and exit
  return *t;
}

uint64_t Fnv1a(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

bool RegisterEntry(FunctionEntry entry, const std::string& key) {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_name.find(entry.name);
  if (it != t.by_name.end()) {
    const FunctionEntry& old = it->second;
    if (old.invoker == entry.invoker && old.factory == entry.factory &&
        old.method == entry.method)
      return true;  // same function registered twice
    std::fprintf(stderr, "ferry: FERRY_REMOTE registers two different functions as '%s'\n",
                 entry.name.c_str());
    std::abort();
  }
  std::string name = entry.name;
  t.by_name.emplace(name, std::move(entry));
  t.by_key.emplace(key, std::move(name));
  return true;
}

const FunctionEntry* FindFunction(const std::string& name) {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_name.find(name);
  return it == t.by_name.end() ? nullptr : &it->second;
}

const std::string* FunctionNameOf(const std::string& key) {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_key.find(key);
  return it == t.by_key.end() ? nullptr : &it->second;
}

uint64_t FunctionTableHash() {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& [name, e] : t.by_name) {
    h = Fnv1a(h, name);
    h = Fnv1a(h, "|");
    h = Fnv1a(h, e.signature);
    h = Fnv1a(h, ";");
  }
  return h;
}

size_t FunctionTableSize() {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.by_name.size();
}

}  // namespace ferry::internal
