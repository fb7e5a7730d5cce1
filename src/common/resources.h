// ResourceSet: named resource quantities ("CPU", "GPU", "memory", custom names) held in fixed
// point, 1/10000 of a unit, so that four 0.25-CPU tasks fill one CPU exactly and repeated
// acquire/release never drifts. Names are interned into small integer ids for the process's
// life (CPU, GPU and memory are 0, 1 and 2), so the scheduler's hot paths compare integers;
// names appear only at the edges (wire, API, logs). Entries with quantity zero are not
// stored, and up to two entries live inline, without allocation. Value type;
// thread-compatible (the name registry itself is thread-safe).
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/common/status.h"

namespace ferry {

using ResourceId = uint32_t;
// The standard resources.
inline constexpr ResourceId kCpu = 0;
inline constexpr ResourceId kGpu = 1;
inline constexpr ResourceId kMemory = 2;

// The id of `name`, registering it on first use. Thread-safe. Ids are never reused: a
// process that invents a new resource name per placement group registers a few names each.
ResourceId ResourceIdOf(std::string_view name);
// The name of a registered id. Thread-safe; the reference stays valid.
const std::string& ResourceName(ResourceId id);

class ResourceSet {
 public:
  static constexpr int64_t kScale = 10000;
  using Item = std::pair<ResourceId, int64_t>;
  using Items = boost::container::small_vector<Item, 2>;

  ResourceSet() = default;
  static ResourceSet FromPairs(const std::vector<std::pair<std::string, double>>& pairs);
  std::vector<std::pair<std::string, double>> ToPairs() const;  // by name
  std::map<std::string, double> ToMap() const;

  static int64_t ToUnits(double amount);
  static double FromUnits(int64_t units) { return static_cast<double>(units) / kScale; }

  // Replaces the quantity (zero removes it).
  void Set(std::string_view name, double amount) { SetUnits(ResourceIdOf(name), ToUnits(amount)); }
  void Set(ResourceId id, double amount) { SetUnits(id, ToUnits(amount)); }
  void SetUnits(ResourceId id, int64_t units);
  void SetUnits(std::string_view name, int64_t units) { SetUnits(ResourceIdOf(name), units); }
  // Adds `delta` (may be negative) to the quantity.
  void AddUnits(ResourceId id, int64_t delta);
  int64_t Units(ResourceId id) const;
  int64_t Units(std::string_view name) const;
  double Get(ResourceId id) const { return FromUnits(Units(id)); }
  double Get(std::string_view name) const { return FromUnits(Units(name)); }
  bool Has(ResourceId id) const { return Units(id) != 0; }
  bool Has(std::string_view name) const { return Units(name) != 0; }

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // Sorted by id (not by name).
  const Items& items() const { return items_; }

  // Whether every positive quantity of `demand` is available here.
  bool Contains(const ResourceSet& demand) const;
  // The names in `demand` (with a positive quantity) that this set lacks, or holds too little
  // of, as "GPU: 2 (have 1)"; empty when Contains(demand).
  std::string Shortfall(const ResourceSet& demand) const;
  void Add(const ResourceSet& other);
  // Quantities may go negative (a node lent the CPU of a blocked task and the task resumed).
  void Subtract(const ResourceSet& other);

  // "{CPU: 1, GPU: 0.5, licenses: 2}", by name.
  std::string ToString() const;
  friend bool operator==(const ResourceSet&, const ResourceSet&) = default;

 private:
  Items items_;  // sorted by id, no zero quantities
};

// Parses a flat JSON object of numbers, e.g. {"licenses": 2, "fpga": 0.5}, as given in
// FERRY_RESOURCES. Names must be non-empty; amounts finite and >= 0.
Result<ResourceSet> ParseResourcesJson(std::string_view json);

}  // namespace ferry
