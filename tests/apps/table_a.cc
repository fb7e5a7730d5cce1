// With table_b: two binaries whose function tables differ, launched together (MPMD) to check
// that the cluster refuses to start.
#include <ferry/ferry.h>

#include <cstdio>

int Alpha(int x) { return x; }
FERRY_REMOTE(Alpha);

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  std::puts("table_a: cluster started (it should not have)");
  ferry::Shutdown();
  return 0;
}
