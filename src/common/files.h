// Small file-system helpers. Thread-compatible (no shared state).
#pragma once

#include <string>

#include "src/common/status.h"

namespace ferry {

// Creates `path` and its missing parents with mode 0700 (mkdir -p). `what` names the
// directory in the error ("spill directory", "session directory").
Status MakeDirs(const std::string& path, const std::string& what);

}  // namespace ferry
