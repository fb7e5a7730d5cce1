#include "launch/session.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

namespace ferry::launch {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(Session, NamesAreKeyedBySlurmJobAndStep) {
  const std::string uid = std::to_string(getuid());
  EXPECT_EQ(SessionName("a1b2", Env({})), "ferry-" + uid + "-a1b2");
  EXPECT_EQ(SessionName("a1b2", Env({{"SLURM_JOB_ID", "812"}, {"SLURM_STEP_ID", "3"}})),
            "ferry-" + uid + "-slurm-812.3");
  // A batch script may start several clusters: the session id tells them apart.
  EXPECT_EQ(SessionName("a1b2", Env({{"SLURM_JOB_ID", "812"}})),
            "ferry-" + uid + "-slurm-812-a1b2");
  EXPECT_EQ(DefaultSessionDir("x", Env({{"TMPDIR", "/scratch/local"}})), "/scratch/local/x");
  EXPECT_EQ(DefaultSessionDir("x", Env({})), "/tmp/x");
}

TEST(Session, TokensAreFreshAndLong) {
  const std::string a = NewToken(), b = NewToken();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

class SessionFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-session-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(SessionFilesTest, WrittenFilesReadBackWithAPrivateToken) {
  ASSERT_TRUE(WriteSessionFiles(dir_, "n001:40123", "feedbeef").ok());
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto files = ReadSessionFiles(dir_, true);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->head, "n001:40123");
  EXPECT_EQ(files->token, "feedbeef");
}

TEST_F(SessionFilesTest, ProblemsAreNamed) {
  auto missing = ReadSessionFiles(dir_ + "/nope", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
  auto no_head = ReadSessionFiles(dir_, true);
  ASSERT_FALSE(no_head.ok());
  EXPECT_NE(no_head.status().message().find("has no head file"), std::string::npos);
  ASSERT_TRUE(WriteSessionFiles(dir_, "n001:40123", "feedbeef").ok());
  chmod((dir_ + "/token").c_str(), 0644);
  auto open_token = ReadSessionFiles(dir_, true);
  ASSERT_FALSE(open_token.ok());
  EXPECT_NE(open_token.status().message().find("may be read by others (mode 0644"),
            std::string::npos)
      << open_token.status().message();
  std::ofstream(dir_ + "/head") << "no-port\n";
  auto bad_head = ReadSessionFiles(dir_, false);
  ASSERT_FALSE(bad_head.ok());
  EXPECT_NE(bad_head.status().message().find("expected host:port"), std::string::npos);
}

}  // namespace
}  // namespace ferry::launch
