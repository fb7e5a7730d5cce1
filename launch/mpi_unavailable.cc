#include "launch/mpi_factory.h"

namespace ferry::launch {

Result<std::unique_ptr<Bootstrapper>> CreateMpiBootstrapper() {
  return UnavailableError(
      "the MPI bootstrap is not in this build of ferry (install libopenmpi-dev and rebuild "
      "with FERRY_WITH_MPI=ON)");
}

bool HaveMpiBootstrapper() { return false; }

}  // namespace ferry::launch
