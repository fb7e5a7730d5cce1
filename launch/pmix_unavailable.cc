#include "launch/pmix_factory.h"

namespace ferry::launch {

Result<std::unique_ptr<Bootstrapper>> CreatePmixBootstrapper() {
  return UnavailableError(
      "the PMIx bootstrap is not in this build of ferry (install libpmix-dev and rebuild with "
      "FERRY_WITH_PMIX=ON)");
}

bool HavePmixBootstrapper() { return false; }

}  // namespace ferry::launch
