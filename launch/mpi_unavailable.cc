#include "launch/mpi_factory.h"

namespace ferry::launch {

Result<std::unique_ptr<Bootstrapper>> CreateMpiBootstrapper() {
  return FailedPreconditionError(
      "this process was started by an MPI launcher, but this ferry was built without MPI "
      "(install libopenmpi-dev and rebuild with FERRY_WITH_MPI=ON)");
}

}  // namespace ferry::launch
