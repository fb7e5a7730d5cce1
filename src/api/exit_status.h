// How a rank's end is told to a launcher wrapper. Under `mpirun --enable-recovery` (what
// ferry-mpirun runs, so that a killed worker does not end the job) mpirun exits 0 whatever the
// ranks did; ferry-mpirun therefore sets FERRY_EXIT_STATUS_DIR and each rank leaves its exit
// code there as the file rank-<N>. A rank that leaves none was killed or crashed.
#pragma once

#include <cstdint>

namespace ferry::api {

// Records `rank`'s exit code in $FERRY_EXIT_STATUS_DIR/rank-<rank> when the process exits
// through exit() or ExitNow(); does nothing when the variable is unset. Idempotent.
void InstallExitReport(uint32_t rank);

// Ends the process at once (no destructors, no atexit handlers: other threads may be in any
// state), after flushing the log and recording `code` as above.
[[noreturn]] void ExitNow(int code);

}  // namespace ferry::api
