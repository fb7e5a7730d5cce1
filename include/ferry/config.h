// ferry::Config: every runtime knob, generated from include/ferry/internal/config_def.h.
// Values come from the defaults, then FERRY_<NAME> environment variables, then
// --ferry-<name>=value flags given to ferry::Init. Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

/// Runtime configuration. Example:
///   ferry::Config cfg;  cfg.num_cpus = 4;  ferry::Init(cfg, argc, argv);
struct Config {
#define FERRY_CONFIG(type, name, def, help) type name = def;
#include "ferry/internal/config_def.h"
#undef FERRY_CONFIG

  /// Applies FERRY_<NAME> environment variables. Throws std::invalid_argument on a bad value.
  void ApplyEnvironment();
  /// Consumes --ferry-<name>=value (or --ferry-<name> value) from argv, compacting argv.
  /// Throws std::invalid_argument on an unknown --ferry-* flag or a bad value.
  void ApplyFlags(int& argc, char**& argv);
  /// Sets one knob by name (e.g. "head_cpus", "4"). Throws std::invalid_argument.
  void Set(const std::string& name, const std::string& value);
  /// One line per knob: name, value, help.
  std::vector<std::string> Dump() const;
};

}  // namespace ferry
