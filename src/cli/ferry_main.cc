// The `ferry` command. For now: `ferry config --dump` (every knob, its value after FERRY_*
// environment overrides, and its help) and `ferry version`.
#include <cstdio>
#include <cstring>
#include <exception>

#include "ferry/config.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: ferry config --dump    print every setting (after FERRY_* overrides)\n"
               "       ferry version          print the version\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "version") == 0) {
    std::printf("ferry %s\n", FERRY_VERSION);
    return 0;
  }
  if (argc >= 3 && std::strcmp(argv[1], "config") == 0 && std::strcmp(argv[2], "--dump") == 0) {
    ferry::Config config;
    try {
      config.ApplyEnvironment();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ferry: %s\n", e.what());
      return 1;
    }
    for (const auto& line : config.Dump()) std::printf("%s\n", line.c_str());
    return 0;
  }
  return Usage();
}
