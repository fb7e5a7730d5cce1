// The raw UCX floors for ferry-bench, measured between rank 0 and rank 1 with nothing of
// ferry: ucp_get_nbx bandwidth (rank 1 reads rank 0's memory, one size or a sweep of sizes
// over one setup) and the round trip of an 8-byte tagged message. Each rank has its own UCX
// context and worker; worker addresses are exchanged with MPI_Allgather. Not thread-safe:
// one call at a time, from the thread that initialized MPI.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

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

/// One size of MeasureUcxGets. A timed sample is `batch` gets of `bytes`, one after the other
/// (each waited for before the next is issued, as one fetch of an object is), so that a
/// sample of a small size lasts long enough to time; the figure is bytes * batch / seconds.
struct UcxGetPlan {
  size_t bytes = 0;
  int warmups = 1;  // untimed samples
  int reps = 3;     // timed samples, at most
  int batch = 1;
  double budget_s = 10;  // timed seconds, as in MeasureUcxGet
  // Rank 0 (the target) polls its worker without sleeping while these gets run, as
  // ucx_perftest's target does. Over shared memory a get turned out to need the target's
  // progress: with the target sleeping between polls, a 1 KiB get took about 600 us on a
  // loaded 2-core host, against about 1.5 us with it polling. Off (polite polling, as
  // MeasureUcxGet does), the target leaves its core to other ranks.
  bool target_polls = false;
};

struct UcxGetFigure {
  double gb_per_s = 0.0;  // median over the timed samples
  double best_gb_per_s = 0.0;
  int samples = 0;
};

struct RawUcxSweepResult {
  bool ok = false;
  std::string error;                  // the same on every rank
  std::vector<UcxGetFigure> figures;  // one per plan, in order; valid on every rank
  std::string transports;
};

/// MeasureUcxGet for several sizes over one UCX setup (one buffer of the largest size on
/// each side, registered once). Collective, like MeasureUcxGet. Every plan's first get is
/// checked: the bytes read must be the source's.
RawUcxSweepResult MeasureUcxGets(const std::vector<UcxGetPlan>& plans);

struct RawUcxPingPong {
  bool ok = false;
  std::string error;       // the same on every rank
  double median_us = 0.0;  // median round trip, valid on every rank
  double min_us = 0.0;
  int iterations = 0;  // timed round trips
};

/// Round trip of an 8-byte message between rank 0 and rank 1 with ucp_tag_send_nbx and
/// ucp_tag_recv_nbx, both sides polling ucp_worker_progress: `warmups` untimed round trips,
/// then up to `iterations` timed ones while they fit in `budget_s` seconds (rank 0 decides
/// and tells rank 1 when to stop). Collective, like MeasureUcxGet; a lost peer ends the wait
/// after a few seconds with an error, never a hang.
RawUcxPingPong MeasureUcxPingPong(int warmups, int iterations, double budget_s);

}  // namespace ferry_bench
