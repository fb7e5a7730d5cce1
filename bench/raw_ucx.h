// The data-movement floor for ferry-bench: one ucp_get_nbx of a large buffer between rank 0
// (the target, whose memory is read) and rank 1 (the initiator), each with its own UCX context
// and worker, worker addresses exchanged with MPI_Allgather. Nothing of ferry is used.
#pragma once

#include <cstddef>
#include <string>

namespace ferry_bench {

struct RawUcxResult {
  bool ok = false;
  std::string error;      // why it failed (ok == false); the same on every rank
  double gb_per_s = 0.0;  // median over `reps` timed gets, 1 GB = 1e9 bytes; valid on every rank
  double best_gb_per_s = 0.0;
  std::string transports;  // what UCX chose for the rank 1 -> rank 0 endpoint, when known
};

/// Collective over MPI_COMM_WORLD (every rank calls it; needs at least 2 ranks and MPI
/// initialized). Ranks other than 0 and 1 only take part in the collectives. Never hangs on a
/// one-sided failure: every phase ends with an agreement on errors.
/// `warmups` untimed gets, then up to `reps` timed ones, stopping early (after at least one)
/// when the next would end past `budget_s` seconds.
RawUcxResult MeasureUcxGet(size_t bytes, int warmups, int reps, double budget_s);

}  // namespace ferry_bench
