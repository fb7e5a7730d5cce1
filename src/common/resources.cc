#include "src/common/resources.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ferry {
namespace {

std::string FormatAmount(int64_t units) {
  std::ostringstream os;
  os << ResourceSet::FromUnits(units);
  return os.str();
}

}  // namespace

int64_t ResourceSet::ToUnits(double amount) {
  return static_cast<int64_t>(std::llround(amount * kScale));
}

ResourceSet ResourceSet::FromPairs(const std::vector<std::pair<std::string, double>>& pairs) {
  ResourceSet s;
  for (const auto& [name, amount] : pairs) s.SetUnits(name, s.Units(name) + ToUnits(amount));
  return s;
}

ResourceSet ResourceSet::FromMap(const std::map<std::string, double>& m) {
  ResourceSet s;
  for (const auto& [name, amount] : m) s.Set(name, amount);
  return s;
}

std::vector<std::pair<std::string, double>> ResourceSet::ToPairs() const {
  std::vector<std::pair<std::string, double>> out;
  out.reserve(items_.size());
  for (const auto& [name, units] : items_) out.emplace_back(name, FromUnits(units));
  return out;
}

std::map<std::string, double> ResourceSet::ToMap() const {
  std::map<std::string, double> out;
  for (const auto& [name, units] : items_) out.emplace(name, FromUnits(units));
  return out;
}

void ResourceSet::SetUnits(std::string_view name, int64_t units) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const Item& a, std::string_view n) { return a.first < n; });
  bool found = it != items_.end() && it->first == name;
  if (units == 0) {
    if (found) items_.erase(it);
    return;
  }
  if (found) {
    it->second = units;
  } else {
    items_.insert(it, Item(std::string(name), units));
  }
}

int64_t ResourceSet::Units(std::string_view name) const {
  for (const auto& [n, u] : items_)
    if (n == name) return u;
  return 0;
}

bool ResourceSet::Contains(const ResourceSet& demand) const {
  // Both sorted: one merge pass.
  auto it = items_.begin();
  for (const auto& [name, need] : demand.items_) {
    if (need <= 0) continue;
    while (it != items_.end() && it->first < name) ++it;
    int64_t have = (it != items_.end() && it->first == name) ? it->second : 0;
    if (have < need) return false;
  }
  return true;
}

std::string ResourceSet::Shortfall(const ResourceSet& demand) const {
  std::string out;
  for (const auto& [name, need] : demand.items_) {
    if (need <= 0) continue;
    int64_t have = Units(name);
    if (have >= need) continue;
    if (!out.empty()) out += ", ";
    out += name + ": " + FormatAmount(need) + " (have " + FormatAmount(std::max<int64_t>(have, 0)) + ")";
  }
  return out;
}

void ResourceSet::Add(const ResourceSet& other) {
  for (const auto& [name, units] : other.items_) SetUnits(name, Units(name) + units);
}

void ResourceSet::Subtract(const ResourceSet& other) {
  for (const auto& [name, units] : other.items_) SetUnits(name, Units(name) - units);
}

std::string ResourceSet::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i > 0) out += ", ";
    out += items_[i].first + ": " + FormatAmount(items_[i].second);
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
