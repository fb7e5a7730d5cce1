// Bootstrapper: how the ranks of one cluster find each other at start. Each produces the
// initial Topology (every rank's transport address, host, resources and function-table hash).
// After bootstrap nothing depends on it: the MPI one finalizes MPI at the end of Exchange (when
// it initialized MPI), so that a rank's later death concerns only ferry's failure detection.
// Implementations: LocalBootstrapper (no launcher: the embedded default), MpiBootstrapper
// (mpirun, or srun with an MPI build). Thread-compatible; used by the main thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/resources.h"
#include "src/common/status.h"

namespace ferry::launch {

struct PeerInfo {
  uint32_t rank = 0;
  std::string address;  // transport address bytes
  std::string hostname;
  int32_t pid = 0;
  ResourceSet resources;  // what the rank offers (memory follows in its first report)
  uint64_t function_hash = 0;
  uint64_t function_count = 0;
  std::string session_id;  // rank 0's is the cluster's
};

struct Topology {
  uint32_t rank = 0;
  std::vector<PeerInfo> peers;  // indexed by rank
  std::string session_id;
};

class Bootstrapper {
 public:
  virtual ~Bootstrapper() = default;
  virtual std::string Name() const = 0;
  virtual uint32_t Rank() const = 0;
  virtual uint32_t Size() const = 0;
  // Collective: every rank passes its own info and gets everyone's.
  virtual Result<Topology> Exchange(const PeerInfo& mine) = 0;
  // Collective clean end, if Exchange has not ended it already; only when every rank is alive.
  virtual void Finalize() = 0;
  // Ends every rank at once (a failed bootstrap); after the exchange, only this one (the
  // others learn of it by its silence). Does not return.
  [[noreturn]] virtual void Abort(int code) = 0;
};

// `kind`: "auto" (MPI when an MPI launcher started this process, else local), "local", "mpi".
Result<std::unique_ptr<Bootstrapper>> CreateBootstrapper(const std::string& kind);
// True when the environment shows an MPI/PMI launcher (mpirun, srun) started this process
// as part of a job of more than one rank.
bool LaunchedByMpi();

std::string EncodePeerInfo(const PeerInfo& info);
Status DecodePeerInfo(const uint8_t* data, size_t size, PeerInfo* out);

}  // namespace ferry::launch
