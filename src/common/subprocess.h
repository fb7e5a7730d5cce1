// Starting other programs: the autoscaler's providers start nodes (this binary again, sbatch,
// srun) and end them (scancel). Thread-compatible (no shared state); the calls that wait
// block, so run them off the event loop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "src/common/status.h"

namespace ferry {

// This process's environment with `set` added (replacing variables of the same name).
std::vector<std::string> EnvironmentWith(const std::vector<std::pair<std::string, std::string>>& set);

// Starts argv[0] (searched in PATH) with `env`; its stdin is /dev/null, its stdout and stderr
// go to `log_path` (appended; the parent's when empty). Returns its pid; the caller reaps it.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path);

// Runs argv to the end (killed after `timeout`) and returns its stdout; a non-zero exit is an
// error carrying its stderr.
Result<std::string> RunCommand(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env,
                               std::chrono::milliseconds timeout);

// Whether `pid` (a child) still runs; reaps it once it ended.
bool ChildRunning(pid_t pid);
// Gives a child `grace` to end by itself, then kills it; reaps it either way. Blocks.
void AwaitOrKillChild(pid_t pid, std::chrono::milliseconds grace);

// The command line this process was started with (/proc/self/cmdline) and its executable.
std::vector<std::string> OwnCommandLine();
std::string OwnExecutable();

}  // namespace ferry
