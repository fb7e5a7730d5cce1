// Factory of the PMIx bootstrapper. CMake builds pmix_bootstrapper.cc when libpmix was found
// and pmix_unavailable.cc otherwise; nothing else needs to know which.
#pragma once

#include <memory>

#include "launch/bootstrapper.h"

namespace ferry::launch {

Result<std::unique_ptr<Bootstrapper>> CreatePmixBootstrapper();
// True when this build contains the PMIx bootstrapper.
bool HavePmixBootstrapper();

}  // namespace ferry::launch
