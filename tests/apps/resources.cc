// Prints what this process offers, as detected at Init, and runs a GPU task if it has GPUs:
//   resources: CPU 2 GPU 0 memory>0 1 licenses 0
//   gpu task ids: 0
// Run under taskset, a Slurm allocation's environment, CUDA_VISIBLE_DEVICES or
// FERRY_RESOURCES by tests/CMakeLists.txt, which checks the figures.
#include <ferry/ferry.h>

#include <cstdio>
#include <string>
#include <vector>

std::string GpuIds() {
  std::string s;
  for (int id : ferry::GetGpuIds()) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}
FERRY_REMOTE(GpuIds);

int main(int argc, char** argv) {
  try {
    ferry::Init(argc, argv);
  } catch (const std::exception& e) {
    std::printf("init failed: %s\n", e.what());
    return 2;
  }
  auto r = ferry::GetClusterResources();
  std::printf("resources: CPU %g GPU %g memory>0 %d licenses %g\n", r["CPU"], r["GPU"],
              r["memory"] > 0 ? 1 : 0, r["licenses"]);
  if (r["GPU"] >= 1) {
    std::vector<ferry::ObjectRef<std::string>> refs;
    for (int i = 0; i < static_cast<int>(r["GPU"]); ++i)
      refs.push_back(ferry::Task(GpuIds).SetResource("GPU", 1).Remote());
    for (auto& ref : refs) std::printf("gpu task ids: %s\n", ref.Get()->c_str());
  }
  std::fflush(stdout);
  ferry::Shutdown();
  return 0;
}
