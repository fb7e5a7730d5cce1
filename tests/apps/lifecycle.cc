// How a cluster ends: `lifecycle no-shutdown` returns from main without Shutdown (every rank
// must exit 0); `lifecycle crash` aborts the driver mid-run and `lifecycle throw` lets an
// exception escape main (every rank must exit non-zero within seconds).
#include <ferry/ferry.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

int Twice(int x) { return 2 * x; }
int Slow(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
FERRY_REMOTE(Twice, Slow);

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  const char* mode = argc > 1 ? argv[1] : "no-shutdown";
  int v = *ferry::Get(ferry::Task(Twice).Remote(21));
  std::printf("lifecycle: %s, result %d\n", mode, v);
  std::fflush(stdout);
  for (int i = 0; i < 8; ++i) (void)ferry::Task(Slow).Remote(200);
  if (std::strcmp(mode, "crash") == 0) std::abort();
  if (std::strcmp(mode, "throw") == 0) throw std::runtime_error("driver failed on purpose");
  return v == 42 ? 0 : 1;  // no Shutdown: the runtime shuts down at exit
}
