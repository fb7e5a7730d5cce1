// The smallest program written against the installed ferry package: one remote task in
// the embedded runtime. Prints "consumer ok" and exits 0 when the result is right.
#include <ferry/ferry.h>

#include <cstdio>
#include <exception>

int Plus(int a, int b) { return a + b; }
FERRY_REMOTE(Plus);

int main(int argc, char** argv) {
  int v = 0;
  try {
    ferry::Init(argc, argv);
    auto r = ferry::Task(Plus).Remote(1, 2);
    v = *ferry::Get(r);
    ferry::Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  if (v != 3) {
    std::fprintf(stderr, "consumer: Plus(1, 2) returned %d\n", v);
    return 1;
  }
  std::puts("consumer ok");
  return 0;
}
