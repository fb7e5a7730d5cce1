#include "src/raylet/memory_monitor.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace ferry::raylet {
namespace {

// The first line of a file as a number; 0 if missing or not a number ("max": no limit).
uint64_t ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty() || line[0] < '0' || line[0] > '9') return 0;
  return std::strtoull(line.c_str(), nullptr, 10);
}

// This process's cgroup v2 directory (the "0::/path" line of /proc/self/cgroup), if any.
std::string CgroupV2Dir(const std::string& root) {
  std::ifstream in(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    std::string rel = line.substr(3);
    if (rel == "/") rel.clear();
    return root + "/sys/fs/cgroup" + rel;
  }
  return "";
}

}  // namespace

MemoryUsage ReadMemoryUsage(const std::string& root) {
  MemoryUsage u;
  // cgroup v2: the process's own group, then the root of the hierarchy.
  for (const std::string& dir : {CgroupV2Dir(root), root + "/sys/fs/cgroup"}) {
    if (dir.empty()) continue;
    const uint64_t max = ReadNumber(dir + "/memory.max");
    if (max == 0) continue;
    u.total = max;
    u.used = ReadNumber(dir + "/memory.current");
    u.source = "cgroup v2";
    return u;
  }
  // cgroup v1: an unlimited group reports a limit near 2^63.
  const std::string v1 = root + "/sys/fs/cgroup/memory";
  if (uint64_t lim = ReadNumber(v1 + "/memory.limit_in_bytes"); lim > 0 && lim < (1ull << 60)) {
    u.total = lim;
    u.used = ReadNumber(v1 + "/memory.usage_in_bytes");
    u.source = "cgroup v1";
    return u;
  }
  if (FILE* f = std::fopen((root + "/proc/meminfo").c_str(), "r")) {
    uint64_t total = 0, avail = 0;
    bool have_avail = false;
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      unsigned long long kb = 0;
      if (std::sscanf(line, "MemTotal: %llu kB", &kb) == 1) total = kb * 1024;
      if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
        avail = kb * 1024;
        have_avail = true;
      }
    }
    std::fclose(f);
    if (total > 0 && have_avail) {
      u.total = total;
      u.used = total - std::min(total, avail);
      u.source = "host";
    }
  }
  return u;
}

}  // namespace ferry::raylet
