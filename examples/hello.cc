// The smallest ferry program: a remote function, Put/Get, and a chain of ObjectRef arguments.
//
//   ./hello                                                   # embedded: no launcher
//   mpirun --allow-run-as-root --oversubscribe -n 4 ./hello   # rank 0 drives, 1..3 serve
#include <ferry/ferry.h>

#include <cstdio>
#include <exception>

int Plus(int a, int b) { return a + b; }
FERRY_REMOTE(Plus);

int main(int argc, char** argv) {
  try {
    ferry::Init(argc, argv);  // on worker ranks this serves tasks and never returns
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 2;
  }

  // A task: returns at once with a reference; Get waits for the value.
  ferry::ObjectRef<int> r = ferry::Task(Plus).Remote(1, 2);
  int three = *ferry::Get(r);
  std::printf("Plus(1, 2)           = %d\n", three);

  // An object put by the driver, read back.
  ferry::ObjectRef<int> forty = ferry::Put(40);
  std::printf("Get(Put(40))         = %d\n", *ferry::Get(forty));

  // A chain: results flow between tasks as ObjectRef arguments, never through the driver.
  auto c = ferry::Task(Plus).Remote(r, forty);  // 3 + 40
  auto d = ferry::Task(Plus).Remote(c, c);      // 43 + 43
  int result = *d.Get();
  std::printf("Plus(Plus(r, p), ..) = %d\n", result);

  ferry::Shutdown();
  bool ok = three == 3 && result == 86;
  std::printf("%s\n", ok ? "hello: OK" : "hello: WRONG RESULT");
  return ok ? 0 : 1;
}
