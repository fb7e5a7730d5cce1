// ResourceSet: named resource quantities ("CPU", "GPU", "memory", custom names) held in fixed
// point, 1/10000 of a unit, so that four 0.25-CPU tasks fill one CPU exactly and repeated
// acquire/release never drifts. Entries with quantity zero are not stored. Value type;
// thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/common/status.h"

namespace ferry {

class ResourceSet {
 public:
  static constexpr int64_t kScale = 10000;
  using Item = std::pair<std::string, int64_t>;

  ResourceSet() = default;
  static ResourceSet FromPairs(const std::vector<std::pair<std::string, double>>& pairs);
  static ResourceSet FromMap(const std::map<std::string, double>& m);
  std::vector<std::pair<std::string, double>> ToPairs() const;
  std::map<std::string, double> ToMap() const;

  static int64_t ToUnits(double amount);
  static double FromUnits(int64_t units) { return static_cast<double>(units) / kScale; }

  // Replaces the quantity of `name` (zero removes it).
  void Set(std::string_view name, double amount) { SetUnits(name, ToUnits(amount)); }
  void SetUnits(std::string_view name, int64_t units);
  double Get(std::string_view name) const { return FromUnits(Units(name)); }
  int64_t Units(std::string_view name) const;
  bool Has(std::string_view name) const { return Units(name) != 0; }

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<Item>& items() const { return items_; }

  // Whether every positive quantity of `demand` is available here.
  bool Contains(const ResourceSet& demand) const;
  // The names in `demand` (with a positive quantity) that this set lacks, or holds too little
  // of, as "GPU: 2 (have 1)"; empty when Contains(demand).
  std::string Shortfall(const ResourceSet& demand) const;
  void Add(const ResourceSet& other);
  // Quantities may go negative (a node lent the CPU of a blocked task and the task resumed).
  void Subtract(const ResourceSet& other);

  // "{CPU: 1, GPU: 0.5, licenses: 2}"
  std::string ToString() const;
  friend bool operator==(const ResourceSet&, const ResourceSet&) = default;

 private:
  std::vector<Item> items_;  // sorted by name, no zero quantities
};

// Parses a flat JSON object of numbers, e.g. {"licenses": 2, "fpga": 0.5}, as given in
// FERRY_RESOURCES. Names must be non-empty; amounts finite and >= 0.
Result<ResourceSet> ParseResourcesJson(std::string_view json);

// The standard names.
inline constexpr std::string_view kCpu = "CPU";
inline constexpr std::string_view kGpu = "GPU";
inline constexpr std::string_view kMemory = "memory";

}  // namespace ferry
