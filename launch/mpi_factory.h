// Factory of the MPI bootstrapper. CMake builds mpi_bootstrapper.cc when MPI was found and
// mpi_unavailable.cc otherwise; nothing else needs to know which.
#pragma once

#include <memory>

#include "launch/bootstrapper.h"

namespace ferry::launch {

Result<std::unique_ptr<Bootstrapper>> CreateMpiBootstrapper();
// True when this build contains the MPI bootstrapper.
bool HaveMpiBootstrapper();

}  // namespace ferry::launch
