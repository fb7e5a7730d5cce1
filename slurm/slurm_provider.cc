#include "slurm/slurm_provider.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "src/common/logging.h"
#include "src/common/subprocess.h"

namespace ferry::slurm {
namespace {

constexpr std::chrono::seconds kCommandTimeout{60};

class SlurmProvider final : public gcs::NodeProvider {
 public:
  SlurmProvider(SlurmProviderOptions options, std::string exe, std::vector<std::string> args)
      : options_(std::move(options)), exe_(std::move(exe)), args_(std::move(args)) {}
  ~SlurmProvider() override {
    for (pid_t pid : steps_) AwaitOrKillChild(pid, std::chrono::seconds(2));
  }

  std::string Name() const override { return "slurm " + options_.mode; }

  Result<std::string> Launch(const gcs::LaunchRequest& req) override {
    std::vector<std::pair<std::string, std::string>> vars = {
        {"FERRY_ADDRESS", req.address},
        {"FERRY_TOKEN", req.token},
        {"FERRY_LAUNCH_ID", req.launch_id},
        {"FERRY_AUTOSCALER_PROVIDER", ""},  // a node does not scale the cluster itself
        {"FERRY_ACCEPT_JOINS", "0"},
        {"FERRY_SESSION_DIR", ""},  // its own host's default, keyed by its job and step
    };
    std::vector<std::string> app = args_;
    if (app.empty()) app.push_back(exe_);
    app[0] = exe_;
    std::vector<std::string> argv;
    if (options_.mode == "srun") {
      argv = {"srun", "--jobid=" + job_, "--ntasks=1", "--nodes=1", "--overlap",
              "--mpi=none", "--job-name=ferry-node"};
      argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
      argv.insert(argv.end(), app.begin(), app.end());
      const std::string log =
          options_.log_dir.empty() ? "" : options_.log_dir + "/srun-" + req.launch_id + ".out";
      FERRY_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, EnvironmentWith(vars), log));
      steps_.push_back(pid);
      return "srun pid " + std::to_string(pid);
    }
    argv = {"sbatch", "--parsable", "--job-name=ferry-node", "--nodes=1", "--ntasks=1",
            "--ntasks-per-node=1"};
    if (!options_.log_dir.empty())
      argv.push_back("--output=" + options_.log_dir + "/slurm-node-%j.out");
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    argv.push_back(options_.sbatch_template);
    argv.insert(argv.end(), app.begin(), app.end());
    FERRY_ASSIGN_OR_RETURN(std::string out, RunCommand(argv, EnvironmentWith(vars),
                                                       kCommandTimeout));
    // --parsable: "jobid" or "jobid;cluster".
    std::string id = out.substr(0, out.find_first_of(";\n"));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return UnavailableError("sbatch printed '" + out + "', not a job id");
    return "job " + id;
  }

  Status Terminate(const std::string& handle) override {
    if (handle.rfind("job ", 0) == 0)
      return RunCommand({"scancel", handle.substr(4)}, EnvironmentWith({}), kCommandTimeout)
          .status();
    if (const pid_t pid = StepPid(handle); pid > 0 && ChildRunning(pid)) kill(pid, SIGTERM);
    return Status::Ok();
  }

  bool Alive(const std::string& handle) override {
    if (handle.rfind("job ", 0) == 0) {
      Result<std::string> state = RunCommand({"squeue", "-h", "-j", handle.substr(4), "-o", "%T"},
                                             EnvironmentWith({}), kCommandTimeout);
      return state.ok() && state->find_first_not_of(" \n") != std::string::npos;
    }
    const pid_t pid = StepPid(handle);
    return pid > 0 && ChildRunning(pid);
  }

  Status Check() {
    if (options_.mode == "srun") {
      const char* job = std::getenv("SLURM_JOB_ID");
      if (job == nullptr || *job == '\0')
        return FailedPreconditionError(
            "the autoscaler's srun mode starts nodes inside this Slurm allocation, and this "
            "process runs in none (no SLURM_JOB_ID)");
      job_ = job;
      return Status::Ok();
    }
    if (options_.mode != "sbatch")
      return InvalidArgumentError("autoscaler slurm mode '" + options_.mode +
                                  "' is neither sbatch nor srun");
    struct stat st {};
    if (options_.sbatch_template.empty() || ::stat(options_.sbatch_template.c_str(), &st) != 0)
      return NotFoundError("the sbatch template '" + options_.sbatch_template +
                           "' does not exist (FERRY_AUTOSCALER_SLURM_TEMPLATE)");
    return Status::Ok();
  }

 private:
  static pid_t StepPid(const std::string& handle) {
    if (handle.rfind("srun pid ", 0) != 0) return -1;
    return static_cast<pid_t>(std::strtol(handle.c_str() + 9, nullptr, 10));
  }
  const SlurmProviderOptions options_;
  const std::string exe_;
  const std::vector<std::string> args_;
  std::string job_;
  std::vector<pid_t> steps_;
};

}  // namespace

std::vector<std::string> SplitArgs(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

Result<std::unique_ptr<gcs::NodeProvider>> MakeSlurmProvider(SlurmProviderOptions options,
                                                             std::string exe,
                                                             std::vector<std::string> args) {
  auto p = std::make_unique<SlurmProvider>(std::move(options), std::move(exe), std::move(args));
  FERRY_RETURN_IF_ERROR(p->Check());
  return std::unique_ptr<gcs::NodeProvider>(std::move(p));
}

}  // namespace ferry::slurm
