// MpiBootstrapper: MPI_Init, then one MPI_Allgather of lengths and one MPI_Allgatherv of the
// encoded PeerInfo, then at once MPI_Finalize (when ferry initialized MPI): MPI is used for
// nothing else, and a process still inside MPI ties its fate to every other one (srun's PMIx
// plugin ends the whole step when one rank dies, and a late MPI_Finalize waits for the dead).
// An application that initialized MPI itself keeps it, and finalizes it.
#include <mpi.h>

#include <string>
#include <vector>

#include "launch/mpi_factory.h"
#include "src/common/logging.h"

namespace ferry::launch {
namespace {

std::string MpiError(int code) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, msg, &len);
  return std::string(msg, static_cast<size_t>(len));
}

class MpiBootstrapper final : public Bootstrapper {
 public:
  static Result<std::unique_ptr<Bootstrapper>> Create() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      if (rc != MPI_SUCCESS) return UnavailableError("MPI_Init_thread failed: " + MpiError(rc));
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return std::unique_ptr<Bootstrapper>(new MpiBootstrapper(rank, size, !initialized));
  }

  std::string Name() const override { return "mpi"; }
  uint32_t Rank() const override { return rank_; }
  uint32_t Size() const override { return size_; }

  Result<Topology> Exchange(const PeerInfo& mine) override {
    FERRY_LOG(INFO) << "bootstrap: mpi, rank " << rank_ << " of " << size_;
    std::string blob = EncodePeerInfo(mine);
    int len = static_cast<int>(blob.size());
    std::vector<int> lens(size_);
    int rc = MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return UnavailableError("MPI_Allgather failed: " + MpiError(rc));
    std::vector<int> displs(size_);
    int total = 0;
    for (uint32_t i = 0; i < size_; ++i) {
      displs[i] = total;
      total += lens[i];
    }
    std::vector<char> all(static_cast<size_t>(total));
    rc = MPI_Allgatherv(blob.data(), len, MPI_BYTE, all.data(), lens.data(), displs.data(),
                        MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return UnavailableError("MPI_Allgatherv failed: " + MpiError(rc));
    Topology t;
    t.rank = rank_;
    t.peers.resize(size_);
    for (uint32_t i = 0; i < size_; ++i) {
      FERRY_RETURN_IF_ERROR(DecodePeerInfo(reinterpret_cast<const uint8_t*>(all.data()) + displs[i],
                                           static_cast<size_t>(lens[i]), &t.peers[i])
                                .WithContext("bootstrap data of rank " + std::to_string(i)));
      t.peers[i].rank = i;
    }
    t.session_id = t.peers[0].session_id;
    // Every rank got here: from now on ranks fail alone, and ferry's heartbeats tell.
    if (owns_mpi_) Finalize();
    return t;
  }

  void Finalize() override {
    if (!owns_mpi_) return;  // the application's MPI: it finalizes it
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  void FinalizeAtExit() override {
    // An application that initialized MPI itself finalizes it after main's work; a worker
    // rank never gets back there, and a launcher counts a rank that exits without
    // MPI_Finalize as failed (mpirun then exits non-zero for a job that succeeded).
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Finalize();
  }

  [[noreturn]] void Abort(int code) override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    // After the exchange MPI is gone: the other ranks see this one's death by its silence.
    if (!finalized) MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  MpiBootstrapper(int rank, int size, bool owns_mpi)
      : rank_(static_cast<uint32_t>(rank)), size_(static_cast<uint32_t>(size)), owns_mpi_(owns_mpi) {}
  const uint32_t rank_;
  const uint32_t size_;
  const bool owns_mpi_;  // ferry called MPI_Init, so it finalizes MPI
};

}  // namespace

Result<std::unique_ptr<Bootstrapper>> CreateMpiBootstrapper() { return MpiBootstrapper::Create(); }

bool HaveMpiBootstrapper() { return true; }

}  // namespace ferry::launch
