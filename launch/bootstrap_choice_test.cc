#include "launch/bootstrap_choice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ferry::launch {
namespace {

using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

// What each launcher leaves in a task's environment (as seen under a real Slurm and mpirun).
const Env kSbatchScript = {
    {"SLURM_JOB_ID", "7"}, {"SLURM_NTASKS", "4"}, {"SLURM_NPROCS", "4"}, {"SLURM_PROCID", "0"}};
const Env kSrun1 = {{"SLURM_JOB_ID", "7"},
                    {"SLURM_STEP_ID", "0"},
                    {"SLURM_NTASKS", "1"},
                    {"SLURM_STEP_NUM_TASKS", "1"},
                    {"SLURM_PROCID", "0"}};
const Env kSrun4 = {{"SLURM_JOB_ID", "7"},
                    {"SLURM_STEP_ID", "0"},
                    {"SLURM_NTASKS", "4"},
                    {"SLURM_STEP_NUM_TASKS", "4"},
                    {"SLURM_PROCID", "2"}};
const Env kPmixServer = {{"PMIX_RANK", "2"},
                         {"PMIX_NAMESPACE", "slurm.pmix.7.0"},
                         {"PMIX_SERVER_URI41", "pmix-server.1;tcp4://127.0.0.1:1"}};
const Env kMpirun4 = {{"OMPI_COMM_WORLD_SIZE", "4"},
                      {"OMPI_COMM_WORLD_RANK", "1"},
                      {"PMIX_RANK", "1"},
                      {"PMIX_NAMESPACE", "prterun-host-1@1"}};

Env Merge(Env a, const Env& b) {
  for (const auto& [k, v] : b) a[k] = v;
  return a;
}

struct Build {
  bool mpi;
  bool pmix;
};
constexpr Build kFull{true, true}, kMpiOnly{true, false}, kPmixOnly{false, true},
    kBare{false, false};

Result<std::string> Choose(const std::string& kind, const Env& env, Build build) {
  return ChooseBootstrap(
      kind,
      [&env](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      build.mpi, build.pmix);
}

std::string Chosen(const std::string& kind, const Env& env, Build build) {
  Result<std::string> r = Choose(kind, env, build);
  return r.ok() ? r.value() : "error: " + r.status().ToString();
}

TEST(ChooseBootstrap, NoLauncherIsLocalInEveryBuild) {
  for (Build b : {kFull, kMpiOnly, kPmixOnly, kBare}) EXPECT_EQ(Chosen("auto", {}, b), "local");
}

TEST(ChooseBootstrap, BatchScriptAndOneTaskStepAreLocal) {
  for (Build b : {kFull, kMpiOnly, kPmixOnly, kBare}) {
    EXPECT_EQ(Chosen("auto", kSbatchScript, b), "local");
    EXPECT_EQ(Chosen("auto", kSrun1, b), "local");
    // srun -n 1 inside a batch script of 4 tasks: the step's count wins.
    EXPECT_EQ(Chosen("auto", Merge(kSbatchScript, kSrun1), b), "local");
  }
}

TEST(ChooseBootstrap, SrunWithPmixUsesMpiWhenBuiltElsePmix) {
  const Env env = Merge(kSrun4, kPmixServer);
  EXPECT_EQ(Chosen("auto", env, kFull), "mpi");
  EXPECT_EQ(Chosen("auto", env, kMpiOnly), "mpi");
  EXPECT_EQ(Chosen("auto", env, kPmixOnly), "pmix");
}

TEST(ChooseBootstrap, MpirunUsesMpiWhenBuiltElseItsPmixServer) {
  EXPECT_EQ(Chosen("auto", kMpirun4, kFull), "mpi");
  EXPECT_EQ(Chosen("auto", kMpirun4, kPmixOnly), "pmix");
  // An MPI launcher without a PMIx server, in a build without MPI.
  Result<std::string> r = Choose("auto", {{"PMI_SIZE", "3"}, {"PMI_RANK", "0"}}, kPmixOnly);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("a PMI launcher started 3 tasks (PMI_SIZE=3)"));
  EXPECT_THAT(r.status().message(), HasSubstr("srun --mpi=pmix"));
}

TEST(ChooseBootstrap, SeveralTasksWithoutPmixServerFailLoudly) {
  for (Build b : {kFull, kMpiOnly, kPmixOnly}) {
    Result<std::string> r = Choose("auto", kSrun4, b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(r.status().message(),
                HasSubstr("srun started 4 tasks (SLURM_STEP_NUM_TASKS=4), but this process sees "
                          "no PMIx server: run srun --mpi=pmix"));
  }
}

TEST(ChooseBootstrap, SeveralTasksInABareBuildSayWhatIsMissing) {
  for (const Env& env : {kSrun4, Merge(kSrun4, kPmixServer), kMpirun4}) {
    Result<std::string> r = Choose("auto", env, kBare);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("built with neither MPI nor PMIx"));
  }
}

TEST(ChooseBootstrap, StepWithoutStepCountFallsBackToNtasks) {
  const Env env = {{"SLURM_STEP_ID", "3"}, {"SLURM_NTASKS", "2"}};
  Result<std::string> r = Choose("auto", env, kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("srun started 2 tasks (SLURM_NTASKS=2)"));
}

TEST(ChooseBootstrap, ForcedKindsAreTakenAsGiven) {
  const Env srun_pmix = Merge(kSrun4, kPmixServer);
  EXPECT_EQ(Chosen("pmix", srun_pmix, kFull), "pmix");
  EXPECT_EQ(Chosen("local", kSrun4, kFull), "local");
  EXPECT_EQ(Chosen("local", srun_pmix, kBare), "local");
  // The factory of a kind the build lacks says so; the choice does not second-guess.
  EXPECT_EQ(Chosen("mpi", {}, kPmixOnly), "mpi");
}

TEST(ChooseBootstrap, UnknownKindListsTheKnownOnes) {
  Result<std::string> r = Choose("slurm", {}, kFull);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("unknown bootstrap 'slurm'"));
  EXPECT_THAT(r.status().message(), HasSubstr("auto, local, mpi, pmix"));
}

}  // namespace
}  // namespace ferry::launch
