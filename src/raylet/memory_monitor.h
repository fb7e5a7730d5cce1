// How much of the memory this process may use is in use: its cgroup's usage against the
// cgroup's limit when there is one (v2 memory.current / memory.max, v1 usage_in_bytes /
// limit_in_bytes), else the host's (MemTotal - MemAvailable of /proc/meminfo). The raylet
// reads it every memory_monitor_ms and stops starting tasks above memory_usage_threshold.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace ferry::raylet {

struct MemoryUsage {
  uint64_t used = 0;
  uint64_t total = 0;   // 0: nothing could be read
  std::string source;   // "cgroup v2", "cgroup v1" or "host"
  double fraction() const {
    return total == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(total);
  }
};

// `root` prefixes every path read (/proc/self/cgroup, /sys/fs/cgroup/..., /proc/meminfo): empty
// for the real ones, a directory of the same layout in tests.
MemoryUsage ReadMemoryUsage(const std::string& root = "");

}  // namespace ferry::raylet
