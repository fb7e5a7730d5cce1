// SlurmProvider: the autoscaler's nodes as Slurm work. In "sbatch" mode each node is a job of
// its own, submitted from the sbatch template (ferry.sbatch) with one task: it gets its own
// walltime and queue wait, and drains on the template's walltime signal. In "srun" mode each
// node is a step inside the allocation this head runs in (SLURM_JOB_ID), started at once.
// Nodes end by scancel (sbatch) or by signalling their srun (srun). Used from one thread at a
// time (NodeProvider's rule); its calls block on sbatch, squeue and scancel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/gcs/autoscaler.h"

namespace ferry::slurm {

struct SlurmProviderOptions {
  std::string mode = "sbatch";          // or "srun"
  std::string sbatch_template;          // ferry.sbatch (sbatch mode)
  std::vector<std::string> extra_args;  // given to sbatch or srun (--time, --partition, ...)
  std::string log_dir;                  // where the jobs' output goes ("" : sbatch's default)
};

// `exe`, `args`: the command line that starts this application (the head's own).
Result<std::unique_ptr<gcs::NodeProvider>> MakeSlurmProvider(SlurmProviderOptions options,
                                                             std::string exe,
                                                             std::vector<std::string> args);

// "--time=00:10:00 --partition=debug" -> its words (no quoting: Slurm options need none).
std::vector<std::string> SplitArgs(const std::string& text);

}  // namespace ferry::slurm
