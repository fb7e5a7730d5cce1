// Which bootstrapper a process uses: a pure function of the configured kind, the environment
// the launcher left and what this build contains, so that every launch situation can be
// tested without a launcher. Thread-safe (no state).
#pragma once

#include <functional>
#include <string>

#include "src/common/status.h"

namespace ferry::launch {

// One environment variable's value, nullptr when unset (std::getenv's contract).
using EnvLookup = std::function<const char*(const char*)>;

// `kind` "local", "mpi" or "pmix" is taken as given. "auto" picks MPI when an MPI or PMI
// launcher started this process and the build has MPI; else PMIx when a PMIx server started it
// (PMIX_RANK, PMIX_NAMESPACE) and the build has PMIx; else local. A process that was clearly
// started as one of several tasks (srun -n 4, mpirun -n 4) with none of those usable fails,
// saying what it saw and what to do: it never runs as one of N separate one-rank clusters.
Result<std::string> ChooseBootstrap(const std::string& kind, const EnvLookup& env, bool has_mpi,
                                    bool has_pmix);

}  // namespace ferry::launch
