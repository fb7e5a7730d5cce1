#include <ferry/ferry.h>

#include <cstdio>

int Beta(int x) { return x + 1; }
FERRY_REMOTE(Beta);

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  std::puts("table_b: cluster started (it should not have)");
  ferry::Shutdown();
  return 0;
}
