// An application that initializes MPI itself, as many HPC codes do, then starts ferry on the
// same ranks: worker ranks serve inside ferry::Init and end there, rank 0 runs tasks on them,
// shuts ferry down and finalizes MPI. The job must exit 0 (a worker rank that ended without
// MPI_Finalize made mpirun report the whole job as failed). Prints "app_mpi: ok".
#include <ferry/ferry.h>
#include <mpi.h>

#include <cstdio>
#include <vector>

long Square(long x) { return x * x; }
FERRY_REMOTE(Square);

int main(int argc, char** argv) {
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return 2;
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ferry::Init(argc, argv);  // ranks other than 0 serve here and end here
  std::vector<ferry::ObjectRef<long>> refs;
  for (long i = 1; i <= 100; ++i) refs.push_back(ferry::Task(Square).Remote(i));
  long sum = 0;
  for (const auto& v : ferry::Get(refs)) sum += *v;
  const size_t nodes = ferry::GetNodes().size();
  ferry::Shutdown();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  if (sum != 338350 || nodes != static_cast<size_t>(size)) {
    std::printf("app_mpi: sum %ld over %zu nodes, wanted 338350 over %d\n", sum, nodes, size);
    return 1;
  }
  std::printf("app_mpi: ok\n");
  return 0;
}
