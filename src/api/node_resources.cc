#include "src/api/node_resources.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ferry::api {
namespace {

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

uint64_t ReadNumber(const std::string& path) {
  std::string s = ReadFirstLine(path);
  if (s.empty() || s[0] < '0' || s[0] > '9') return 0;  // "max" reads as 0: no limit
  return std::strtoull(s.c_str(), nullptr, 10);
}

// This process's cgroup v2 directory (from /proc/self/cgroup's "0::/path"), or the root.
std::string CgroupV2Dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {
      std::string rel = line.substr(3);
      if (rel == "/") rel.clear();
      return "/sys/fs/cgroup" + rel;
    }
  }
  return "/sys/fs/cgroup";
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string Fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Devices the CUDA driver reports, or 0 when there is no driver or no device. The driver is
// opened at run time, so builds and hosts without CUDA are unaffected.
int CudaDriverDeviceCount() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return 0;
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int*);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "cuDeviceGetCount"));
  int n = 0;
  if (init == nullptr || count == nullptr || init(0) != 0 || count(&n) != 0) n = 0;
  // The library stays loaded: unloading a CUDA driver after cuInit is not supported.
  return n;
}

}  // namespace

double UsableCpus(std::string* why) {
  cpu_set_t set;
  int n = 0;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  std::string source = "affinity mask";
  if (n <= 0) {
    n = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    source = "online CPUs";
  }
  double cpus = n;
  // cgroup v2 quota: "<quota> <period>" or "max <period>", here or at the root.
  for (const std::string& dir : {CgroupV2Dir(), std::string("/sys/fs/cgroup")}) {
    std::string line = ReadFirstLine(dir + "/cpu.max");
    long long quota = 0, period = 0;
    if (std::sscanf(line.c_str(), "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
      double q = std::max(1.0, std::floor(100.0 * static_cast<double>(quota) / period) / 100.0);
      if (q < cpus) {
        cpus = q;
        source = "cgroup cpu.max";
      }
      break;
    }
  }
  // cgroup v1 quota.
  for (const char* dir : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
    std::string q = ReadFirstLine(std::string(dir) + "/cpu.cfs_quota_us");
    long long quota = std::atoll(q.c_str());
    long long period = static_cast<long long>(ReadNumber(std::string(dir) + "/cpu.cfs_period_us"));
    if (quota > 0 && period > 0) {
      double c = std::max(1.0, std::floor(100.0 * static_cast<double>(quota) / period) / 100.0);
      if (c < cpus) {
        cpus = c;
        source = "cgroup cpu.cfs_quota_us";
      }
      break;
    }
  }
  if (std::string s = Env("SLURM_CPUS_PER_TASK"); !s.empty()) {
    int slurm = std::atoi(s.c_str());
    if (slurm > 0 && slurm < cpus) {
      cpus = slurm;
      source = "SLURM_CPUS_PER_TASK";
    }
  }
  if (why != nullptr) *why = source;
  return std::max(cpus, 1.0);
}

uint64_t UsableMemory(double cpus) {
  uint64_t avail = 0;
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      unsigned long long kb = 0;
      if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = kb * 1024;
    }
    std::fclose(f);
  }
  if (avail == 0) avail = static_cast<uint64_t>(sysconf(_SC_AVPHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  auto cap = [&avail](uint64_t limit) {
    if (limit > 0 && limit < avail) avail = limit;
  };
  for (const std::string& dir : {CgroupV2Dir(), std::string("/sys/fs/cgroup")}) {
    if (uint64_t max = ReadNumber(dir + "/memory.max"); max > 0) {
      cap(max - std::min(max, ReadNumber(dir + "/memory.current")));
      break;
    }
  }
  if (uint64_t lim = ReadNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
      lim > 0 && lim < (1ull << 60))
    cap(lim - std::min(lim, ReadNumber("/sys/fs/cgroup/memory/memory.usage_in_bytes")));
  if (std::string s = Env("SLURM_MEM_PER_NODE"); !s.empty()) cap(std::strtoull(s.c_str(), nullptr, 10) << 20);
  if (std::string s = Env("SLURM_MEM_PER_CPU"); !s.empty())
    cap(static_cast<uint64_t>(std::strtoull(s.c_str(), nullptr, 10) * std::max(1.0, cpus)) << 20);
  return avail;
}

int CountDeviceList(const std::string& list) {
  if (list.empty() || list == "-1" || list == "NoDevFiles" || list == "none") return -1;
  int n = 0;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) ++n;
  return n;
}

Result<NodeResources> DetectNodeResources(const Config& config, bool is_head, size_t local_ranks,
                                          uint64_t store_bytes) {
  NodeResources out;
  std::string why;
  double cpus = 0;
  if (is_head && config.head_cpus >= 0) {
    cpus = config.head_cpus;
    why = "FERRY_HEAD_CPUS";
  } else if (config.num_cpus >= 0) {
    cpus = config.num_cpus;
    why = "FERRY_NUM_CPUS";
  } else {
    cpus = UsableCpus(&why);
  }
  out.total.Set(kCpu, cpus);
  out.explain = Fmt(cpus) + " CPU (" + why + ")";

  int gpus = 0;
  std::string gpu_why = "none found";
  if (config.num_gpus >= 0) {
    gpus = config.num_gpus;
    gpu_why = "FERRY_NUM_GPUS";
  } else if (const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES"); cvd != nullptr) {
    gpus = std::max(0, CountDeviceList(cvd));
    gpu_why = "CUDA_VISIBLE_DEVICES";
  } else if (std::string sg = Env("SLURM_STEP_GPUS").empty() ? Env("SLURM_JOB_GPUS")
                                                            : Env("SLURM_STEP_GPUS");
             !sg.empty()) {
    gpus = std::max(0, CountDeviceList(sg));
    gpu_why = "Slurm GPU allocation";
  } else if (int n = CudaDriverDeviceCount(); n > 0) {
    gpus = n;
    gpu_why = "CUDA driver";
  }
  if (gpus > 0) {
    out.total.Set(kGpu, gpus);
    for (int i = 0; i < gpus; ++i) out.gpu_ids.push_back(i);
  }
  out.explain += ", " + std::to_string(gpus) + " GPU (" + gpu_why + ")";

  const uint64_t share = UsableMemory(cpus) / std::max<size_t>(local_ranks, 1);
  const uint64_t memory = share > store_bytes ? share - store_bytes : 0;
  // Whole MiB, so that a byte-exact figure does not dwarf the fixed-point scale.
  out.total.Set(kMemory, static_cast<double>(memory >> 20) * (1 << 20));
  out.explain += ", " + std::to_string(memory >> 20) + " MiB memory";

  if (!config.resources.empty()) {
    Result<ResourceSet> custom = ParseResourcesJson(config.resources);
    if (!custom.ok()) return Status(custom.status()).WithContext("FERRY_RESOURCES");
    for (const auto& [name, units] : custom->items()) {
      out.total.SetUnits(name, units);
      if (name == kGpu) {
        out.gpu_ids.clear();
        for (int i = 0; i < static_cast<int>(ResourceSet::FromUnits(units)); ++i) out.gpu_ids.push_back(i);
      }
    }
    out.explain += ", custom " + custom->ToString();
  }
  return out;
}

}  // namespace ferry::api
