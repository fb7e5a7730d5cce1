// Bootstrapper: how the ranks of one cluster find each other at start. Each produces the
// initial Topology (every rank's transport address, host, resources and function-table hash).
// After bootstrap nothing depends on it: the MPI and PMIx ones finalize at the end of Exchange,
// so that a rank's later death concerns only ferry's failure detection.
// Implementations: LocalBootstrapper (no launcher: the embedded default), MpiBootstrapper
// (mpirun, or srun with an MPI build), PmixBootstrapper (srun --mpi=pmix without MPI); which
// one is ChooseBootstrap's (bootstrap_choice.h). Thread-compatible; used by the main thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/resources.h"
#include "src/common/status.h"

namespace ferry::transport {
class Transport;
}  // namespace ferry::transport

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
  // Rank 0 only: where its join listener is (host:port, "" when it has none) and the session
  // token joiners must present. The bootstrap channel is private to the job.
  std::string listen_address;
  std::string token;
};

struct Topology {
  uint32_t rank = 0;
  std::vector<PeerInfo> peers;  // every member (by rank at bootstrap; a joiner's: the live ones)
  std::string session_id;
  // Set by the join bootstrapper only (the others find them in rank 0's PeerInfo): the
  // session directory's name, the head's listener and the token.
  std::string session_name;
  std::string head_listen;
  std::string token;
};

class Bootstrapper {
 public:
  virtual ~Bootstrapper() = default;
  virtual std::string Name() const = 0;
  virtual uint32_t Rank() const = 0;
  virtual uint32_t Size() const = 0;
  // The rank's transport, created before Exchange; the join bootstrapper talks to the head
  // through it, the others ignore it.
  virtual void UseTransport(transport::Transport* /*transport*/) {}
  // Collective: every rank passes its own info and gets everyone's.
  virtual Result<Topology> Exchange(const PeerInfo& mine) = 0;
  // Collective clean end, if Exchange has not ended it already; only when every rank is alive.
  virtual void Finalize() = 0;
  // A worker rank ends inside Init and never returns to the application: what the application
  // would have ended itself (its own MPI) ends here too.
  virtual void FinalizeAtExit() { Finalize(); }
  // Ends every rank at once (a failed bootstrap); after the exchange, only this one (the
  // others learn of it by its silence). Does not return.
  [[noreturn]] virtual void Abort(int code) = 0;
};

// `kind`: "auto", "local", "mpi" or "pmix"; see ChooseBootstrap for what auto picks.
Result<std::unique_ptr<Bootstrapper>> CreateBootstrapper(const std::string& kind);

std::string EncodePeerInfo(const PeerInfo& info);
Status DecodePeerInfo(const uint8_t* data, size_t size, PeerInfo* out);

}  // namespace ferry::launch
