#include "src/common/files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace ferry {

Status MakeDirs(const std::string& path, const std::string& what) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
        return UnavailableError("cannot create " + what + " " + cur + ": " + std::strerror(errno));
    }
    if (i < path.size()) cur += path[i];
  }
  return Status::Ok();
}

}  // namespace ferry
