#include "src/api/exit_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "src/common/logging.h"

namespace ferry::api {
namespace {

char g_path[4096];  // empty: not reporting
bool g_installed = false;

void WriteStatus(int code) {
  if (g_path[0] == '\0') return;
  int fd = ::open(g_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char buf[16];
  int n = std::snprintf(buf, sizeof(buf), "%d\n", code);
  if (n > 0) (void)!::write(fd, buf, static_cast<size_t>(n));
  ::close(fd);
  g_path[0] = '\0';  // once
}

void OnExit(int code, void*) { WriteStatus(code); }

}  // namespace

void InstallExitReport(uint32_t rank) {
  if (g_installed) return;
  g_installed = true;
  const char* dir = std::getenv("FERRY_EXIT_STATUS_DIR");
  if (dir == nullptr || *dir == '\0') return;
  int n = std::snprintf(g_path, sizeof(g_path), "%s/rank-%u", dir, rank);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(g_path)) {
    g_path[0] = '\0';
    return;
  }
  on_exit(OnExit, nullptr);
}

void ExitNow(int code) {
  log::CloseSink();
  std::fflush(stderr);
  std::fflush(stdout);
  WriteStatus(code);
  std::_Exit(code);
}

}  // namespace ferry::api
