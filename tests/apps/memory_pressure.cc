// The memory monitor with real memory: the threshold is set just above what the node uses now,
// then the driver touches enough memory to cross it. New tasks must wait while it is held and
// run once it is freed. Prints "memory: ok".
#include <ferry/ferry.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

int Twice(int x) { return 2 * x; }
FERRY_REMOTE(Twice);

int main(int argc, char** argv) {
  ferry::Config probe;
  probe.num_cpus = 2;
  probe.object_store_memory = 64 << 20;
  ferry::Init(probe, argc, argv);
  ferry::internal::LocalStats before = ferry::internal::GetLocalStats();
  ferry::Shutdown();
  if (before.memory_total == 0 || before.memory_used >= before.memory_total) {
    std::printf("memory: no usable reading of this node's memory\n");
    return 1;
  }
  const uint64_t free_bytes = before.memory_total - before.memory_used;
  const uint64_t hold = std::min<uint64_t>(uint64_t{2} << 30, free_bytes / 2);
  ferry::Config cfg = probe;
  // Crossed by half of what is held: other processes may use a little more or less meanwhile.
  cfg.memory_usage_threshold =
      static_cast<double>(before.memory_used + hold / 2) / static_cast<double>(before.memory_total);
  cfg.memory_monitor_ms = 20;
  ferry::Init(cfg, argc, argv);
  std::printf("memory: %.1f%% in use, threshold %.3f, holding %.2f GiB\n",
              100.0 * before.memory_used / before.memory_total, cfg.memory_usage_threshold,
              hold / double(1 << 30));
  auto held = std::make_unique<std::vector<char>>(hold, 1);  // every page touched
  bool pressure = false;
  for (int i = 0; i < 250 && !pressure; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pressure = ferry::internal::GetLocalStats().memory_pressure;
  }
  std::vector<ferry::ObjectRef<int>> refs;
  for (int i = 0; i < 4; ++i) refs.push_back(ferry::Task(Twice).Remote(i));
  size_t ran_while_held = 0;
  {
    auto w = ferry::Wait(refs, 4, 1000);
    ran_while_held = w.ready.size();
  }
  ferry::internal::LocalStats during = ferry::internal::GetLocalStats();
  held.reset();
  auto w = ferry::Wait(refs, 4, 30000);
  int sum = 0;
  for (auto& r : refs) sum += *ferry::Get(r);
  std::printf("memory: pressure seen %d at %.1f%%, %zu of 4 tasks ran while held, %zu after, "
              "sum %d\n",
              pressure, 100.0 * during.memory_used / std::max<uint64_t>(1, during.memory_total),
              ran_while_held, w.ready.size(), sum);
  const bool ok = pressure && ran_while_held == 0 && w.ready.size() == 4 && sum == 12;
  if (ok) std::printf("memory: ok\n");
  ferry::Shutdown();
  return ok ? 0 : 1;
}
