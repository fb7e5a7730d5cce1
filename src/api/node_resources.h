// What this rank offers to tasks, from the process's real allocation: CPUs from the affinity
// mask capped by the cgroup CPU quota and SLURM_CPUS_PER_TASK; GPUs from CUDA_VISIBLE_DEVICES,
// SLURM_STEP_GPUS / SLURM_JOB_GPUS, or the CUDA driver when it is installed; memory from the
// cgroup limit or the available memory, shared among the host's ranks; custom resources from
// FERRY_RESOURCES (a JSON object). Config overrides win. Reads /proc and /sys; no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/config.h"
#include "src/common/resources.h"
#include "src/common/status.h"

namespace ferry::api {

struct NodeResources {
  ResourceSet total;
  // CUDA device ordinals of this process that the GPU resource stands for.
  std::vector<int> gpu_ids;
  // Where each figure came from, for the startup log.
  std::string explain;
};

// CPUs the process may really use and why: the affinity mask, capped by the cgroup quota
// (v2 cpu.max or v1 cfs_quota_us) and SLURM_CPUS_PER_TASK.
double UsableCpus(std::string* why);
// Bytes of memory this host may still give the processes of this job: MemAvailable, capped by
// the cgroup limit (v2 or v1) and Slurm's memory allocation.
uint64_t UsableMemory(double cpus);

Result<NodeResources> DetectNodeResources(const Config& config, bool is_head, size_t local_ranks,
                                          uint64_t store_bytes);

// "2,3" / "GPU-uuid,..." (CUDA_VISIBLE_DEVICES, SLURM_STEP_GPUS): how many devices it names;
// -1 when it names none on purpose ("", "-1", "NoDevFiles").
int CountDeviceList(const std::string& list);

}  // namespace ferry::api
