// ferry-bench-instructions: fixed workloads for counting instructions with callgrind, which is
// repeatable whatever the machine's noise. Embedded mode only. Usage:
//   export FERRY_SPIN_US=0 FERRY_EXECUTOR_SPIN_US=0 FERRY_NUM_CPUS=1
//   valgrind --tool=callgrind ferry-bench-instructions empty    # 20 x 1,000 empty async tasks
//   valgrind --tool=callgrind ferry-bench-instructions scalars  # 20 x (1,000 Plus(int, int)
//                                                               #   + 1,000 Put/Get of an int)
//   valgrind --tool=callgrind ferry-bench-instructions sync     # 20,000 empty tasks, each
//                                                               #   awaited before the next
//   valgrind --tool=callgrind ferry-bench-instructions actor_sync  # the same, actor calls
#include <ferry/ferry.h>

#include <cstdio>
#include <cstring>

namespace {

void Empty() {}
int Plus(int a, int b) { return a + b; }
FERRY_REMOTE(Empty, Plus);

struct Target {
  static Target* Create() { return new Target(); }
  void Empty() {}
};
FERRY_REMOTE(Target::Create, &Target::Empty);

}  // namespace

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  const char* mode = argc > 1 ? argv[1] : "";
  long sum = 0;
  if (std::strcmp(mode, "empty") == 0) {
    for (int round = 0; round < 20; ++round) {
      std::vector<ferry::ObjectRef<void>> refs;
      for (int i = 0; i < 1000; ++i) refs.push_back(ferry::Task(Empty).Remote());
      ferry::Get(refs);
    }
  } else if (std::strcmp(mode, "sync") == 0) {
    for (int i = 0; i < 20000; ++i) ferry::Get(ferry::Task(Empty).Remote());
  } else if (std::strcmp(mode, "actor_sync") == 0) {
    auto a = ferry::Actor(Target::Create).SetResource("CPU", 0).Remote();
    for (int i = 0; i < 20000; ++i) ferry::Get(a.Task(&Target::Empty).Remote());
  } else if (std::strcmp(mode, "scalars") == 0) {
    for (int round = 0; round < 20; ++round) {
      std::vector<ferry::ObjectRef<int>> refs;
      for (int i = 0; i < 1000; ++i) refs.push_back(ferry::Task(Plus).Remote(i, 1));
      for (auto& v : ferry::Get(refs)) sum += *v;
      for (int i = 0; i < 1000; ++i) sum += *ferry::Get(ferry::Put(i));
    }
  } else {
    std::fprintf(stderr, "usage: ferry-bench-instructions empty|scalars|sync|actor_sync\n");
    ferry::Shutdown();
    return 2;
  }
  ferry::Shutdown();
  std::printf("done (%ld)\n", sum);
  return 0;
}
