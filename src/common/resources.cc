#include "src/common/resources.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>

namespace ferry {
namespace {

std::string FormatAmount(int64_t units) {
  std::ostringstream os;
  os << ResourceSet::FromUnits(units);
  return os.str();
}

}  // namespace

namespace {

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// The process's resource names. Append-only: ids index `names`, whose strings never move.
struct Registry {
  std::shared_mutex mu;
  std::unordered_map<std::string, ResourceId, NameHash, std::equal_to<>> ids;
  std::deque<std::string> names;
  Registry() {
    for (const char* n : {"CPU", "GPU", "memory"}) {
      ids.emplace(n, static_cast<ResourceId>(names.size()));
      names.emplace_back(n);
    }
  }
};

Registry& Names() {
  static Registry* r = new Registry();  // never destroyed: used until the process ends
  return *r;
}

// The id of a registered name, without registering it.
bool FindId(std::string_view name, ResourceId* id) {
  if (name == "CPU") {
    *id = kCpu;
    return true;
  }
  Registry& r = Names();
  std::shared_lock<std::shared_mutex> lock(r.mu);
  auto it = r.ids.find(name);
  if (it == r.ids.end()) return false;
  *id = it->second;
  return true;
}

}  // namespace

ResourceId ResourceIdOf(std::string_view name) {
  ResourceId id = 0;
  if (FindId(name, &id)) return id;
  Registry& r = Names();
  std::unique_lock<std::shared_mutex> lock(r.mu);
  auto it = r.ids.find(name);
  if (it != r.ids.end()) return it->second;
  id = static_cast<ResourceId>(r.names.size());
  r.names.emplace_back(name);
  r.ids.emplace(std::string(name), id);
  return id;
}

const std::string& ResourceName(ResourceId id) {
  Registry& r = Names();
  std::shared_lock<std::shared_mutex> lock(r.mu);
  static const std::string kUnknown = "?";
  return id < r.names.size() ? r.names[id] : kUnknown;
}

int64_t ResourceSet::ToUnits(double amount) {
  return static_cast<int64_t>(std::llround(amount * kScale));
}

ResourceSet ResourceSet::FromPairs(const std::vector<std::pair<std::string, double>>& pairs) {
  ResourceSet s;
  for (const auto& [name, amount] : pairs) s.AddUnits(ResourceIdOf(name), ToUnits(amount));
  return s;
}

std::vector<std::pair<std::string, double>> ResourceSet::ToPairs() const {
  std::vector<std::pair<std::string, double>> out;
  out.reserve(items_.size());
  for (const auto& [id, units] : items_) out.emplace_back(ResourceName(id), FromUnits(units));
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, double> ResourceSet::ToMap() const {
  std::map<std::string, double> out;
  for (const auto& [id, units] : items_) out.emplace(ResourceName(id), FromUnits(units));
  return out;
}

void ResourceSet::SetUnits(ResourceId id, int64_t units) {
  auto it = std::lower_bound(items_.begin(), items_.end(), id,
                             [](const Item& a, ResourceId b) { return a.first < b; });
  bool found = it != items_.end() && it->first == id;
  if (units == 0) {
    if (found) items_.erase(it);
    return;
  }
  if (found) {
    it->second = units;
  } else {
    items_.insert(it, Item(id, units));
  }
}

void ResourceSet::AddUnits(ResourceId id, int64_t delta) {
  auto it = std::lower_bound(items_.begin(), items_.end(), id,
                             [](const Item& a, ResourceId b) { return a.first < b; });
  if (it != items_.end() && it->first == id) {
    it->second += delta;
    if (it->second == 0) items_.erase(it);
  } else if (delta != 0) {
    items_.insert(it, Item(id, delta));
  }
}

int64_t ResourceSet::Units(ResourceId id) const {
  for (const auto& [i, u] : items_)
    if (i == id) return u;
  return 0;
}

int64_t ResourceSet::Units(std::string_view name) const {
  ResourceId id = 0;
  return FindId(name, &id) ? Units(id) : 0;
}

bool ResourceSet::Contains(const ResourceSet& demand) const {
  // Both sorted: one merge pass.
  auto it = items_.begin();
  for (const auto& [id, need] : demand.items_) {
    if (need <= 0) continue;
    while (it != items_.end() && it->first < id) ++it;
    int64_t have = (it != items_.end() && it->first == id) ? it->second : 0;
    if (have < need) return false;
  }
  return true;
}

std::string ResourceSet::Shortfall(const ResourceSet& demand) const {
  std::vector<std::pair<std::string, std::string>> parts;
  for (const auto& [id, need] : demand.items_) {
    if (need <= 0) continue;
    int64_t have = Units(id);
    if (have >= need) continue;
    parts.emplace_back(ResourceName(id), FormatAmount(need) + " (have " +
                                             FormatAmount(std::max<int64_t>(have, 0)) + ")");
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& [name, text] : parts) out += (out.empty() ? "" : ", ") + name + ": " + text;
  return out;
}

void ResourceSet::Add(const ResourceSet& other) {
  for (const auto& [id, units] : other.items_) AddUnits(id, units);
}

void ResourceSet::Subtract(const ResourceSet& other) {
  for (const auto& [id, units] : other.items_) AddUnits(id, -units);
}

std::string ResourceSet::ToString() const {
  std::vector<std::pair<std::string, int64_t>> named;
  for (const auto& [id, units] : items_) named.emplace_back(ResourceName(id), units);
  std::sort(named.begin(), named.end());
  std::string out = "{";
  for (size_t i = 0; i < named.size(); ++i) {
    if (i > 0) out += ", ";
    out += named[i].first + ": " + FormatAmount(named[i].second);
  }
  return out + "}";
}

Result<ResourceSet> ParseResourcesJson(std::string_view json) {
  size_t p = 0;
  auto skip = [&] {
    while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
  };
  auto fail = [&](const std::string& what) {
    return InvalidArgumentError("resources '" + std::string(json) + "': " + what + " at offset " +
                                std::to_string(p) +
                                " (expected a JSON object of numbers, e.g. {\"licenses\": 2})");
  };
  ResourceSet out;
  skip();
  if (p >= json.size() || json[p] != '{') return fail("no opening '{'");
  ++p;
  skip();
  if (p < json.size() && json[p] == '}') {
    ++p;
  } else {
    while (true) {
      skip();
      if (p >= json.size() || json[p] != '"') return fail("expected a quoted name");
      ++p;
      std::string name;
      while (p < json.size() && json[p] != '"') {
        if (json[p] == '\\') return fail("escapes are not supported in names");
        name += json[p++];
      }
      if (p >= json.size()) return fail("unterminated name");
      ++p;
      if (name.empty()) return fail("empty resource name");
      skip();
      if (p >= json.size() || json[p] != ':') return fail("expected ':'");
      ++p;
      skip();
      std::string number;
      while (p < json.size() && (std::isdigit(static_cast<unsigned char>(json[p])) ||
                                 json[p] == '.' || json[p] == '-' || json[p] == '+' ||
                                 json[p] == 'e' || json[p] == 'E'))
        number += json[p++];
      char* end = nullptr;
      double v = number.empty() ? NAN : std::strtod(number.c_str(), &end);
      if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(v))
        return fail("the amount of '" + name + "' is not a number");
      if (v < 0) return fail("the amount of '" + name + "' is negative");
      if (out.Has(name)) return fail("'" + name + "' appears twice");
      out.Set(name, v);
      skip();
      if (p < json.size() && json[p] == ',') {
        ++p;
        continue;
      }
      if (p < json.size() && json[p] == '}') {
        ++p;
        break;
      }
      return fail("expected ',' or '}'");
    }
  }
  skip();
  if (p != json.size()) return fail("trailing characters");
  return out;
}

}  // namespace ferry
