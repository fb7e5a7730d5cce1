#include "launch/bootstrap_choice.h"

#include <cstdlib>

namespace ferry::launch {
namespace {

// What the launcher's variables say about this process.
struct Launch {
  bool mpi = false;   // an MPI or PMI launcher started it (mpirun, srun with an MPI plugin)
  bool pmix = false;  // a PMIx server is there to talk to
  long tasks = 0;     // the most tasks any launcher says it started (0: none says)
  std::string by;     // who says so, for the error: "srun started 4 tasks (...)"
};

// A positive count from the environment, else 0.
long Count(const EnvLookup& env, const char* name) {
  const char* v = env(name);
  if (v == nullptr) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != v && *end == '\0' && n > 0 ? n : 0;
}

Launch DetectLaunch(const EnvLookup& env) {
  Launch l;
  // PMIx servers (srun --mpi=pmix, prterun, Open MPI's mpirun) set both for every client.
  l.pmix = env("PMIX_RANK") != nullptr || env("PMIX_NAMESPACE") != nullptr;
  l.mpi = l.pmix;
  auto saw = [&](const char* launcher, const char* var) {
    const long n = Count(env, var);
    if (n > l.tasks) {
      l.tasks = n;
      l.by = std::string(launcher) + " started " + std::to_string(n) + " tasks (" + var + "=" +
             env(var) + ")";
    }
    return n > 0;
  };
  // Only a job step's count: a batch script or salloc's shell sees its allocation's
  // SLURM_NTASKS, yet is one process.
  if (env("SLURM_STEP_ID") != nullptr)
    saw("srun", env("SLURM_STEP_NUM_TASKS") != nullptr ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS");
  struct Var {
    const char* name;
    const char* launcher;
  };
  for (const Var& v :
       {Var{"OMPI_COMM_WORLD_SIZE", "mpirun"}, Var{"PMI_SIZE", "a PMI launcher"},
        Var{"PMIX_SIZE", "a PMIx launcher"}, Var{"MPI_LOCALNRANKS", "an MPI launcher"}})
    if (saw(v.launcher, v.name)) l.mpi = true;
  return l;
}

}  // namespace

Result<std::string> ChooseBootstrap(const std::string& kind, const EnvLookup& env, bool has_mpi,
                                    bool has_pmix) {
  if (kind == "local" || kind == "mpi" || kind == "pmix") return kind;
  if (kind != "auto")
    return InvalidArgumentError("unknown bootstrap '" + kind + "' (known: auto, local, mpi, pmix)");
  const Launch l = DetectLaunch(env);
  if (l.mpi && has_mpi) return std::string("mpi");
  if (l.pmix && has_pmix) return std::string("pmix");
  if (l.tasks <= 1) return std::string("local");
  // Going on would make N clusters of one rank each, every one running the whole program.
  std::string why;
  if (!has_mpi && !has_pmix)
    why =
        "this ferry was built with neither MPI nor PMIx: install libpmix-dev (or "
        "libopenmpi-dev), rebuild, and start it with srun --mpi=pmix";
  else if (l.mpi)
    why =
        "its launcher offers no PMIx server and this ferry has no MPI: start it with srun "
        "--mpi=pmix, or rebuild with MPI (libopenmpi-dev)";
  else
    why = "this process sees no PMIx server: run srun --mpi=pmix";
  return FailedPreconditionError(l.by + ", but " + why +
                                 " (FERRY_BOOTSTRAP=local would make every task a one-rank "
                                 "cluster of its own)");
}

}  // namespace ferry::launch
