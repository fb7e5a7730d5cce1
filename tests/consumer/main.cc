// The smallest program written against the installed ferry package: one remote task and one
// actor call in the embedded runtime. Prints "consumer ok" and exits 0 when the result is right.
#include <ferry/ferry.h>

#include <cstdio>
#include <exception>

int Plus(int a, int b) { return a + b; }
struct Acc {
  int n = 0;
  static Acc* Create(int s) { return new Acc{s}; }
  int Add(int x) { return n += x; }
};
FERRY_REMOTE(Plus, Acc::Create, &Acc::Add);

int main(int argc, char** argv) {
  int v = 0;
  try {
    ferry::Init(argc, argv);
    auto r = ferry::Task(Plus).Remote(1, 2);
    auto acc = ferry::Actor(Acc::Create).SetResource("CPU", 0).Remote(-3);
    v = *acc.Task(&Acc::Add).Remote(r).Get() + 3;
    ferry::Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  if (v != 3) {
    std::fprintf(stderr, "consumer: Plus(1, 2) through an actor gave %d\n", v);
    return 1;
  }
  std::puts("consumer ok");
  return 0;
}
