#include "src/raylet/memory_monitor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ferry::raylet {
namespace {

namespace fs = std::filesystem;

// A directory laid out like / with just the files a test writes.
class FakeRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ferry-memtest-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  fs::path root_;
};

TEST_F(FakeRoot, TheProcessCgroupV2LimitWins) {
  Write("proc/self/cgroup", "0::/job/step\n");
  Write("sys/fs/cgroup/job/step/memory.max", "1073741824\n");
  Write("sys/fs/cgroup/job/step/memory.current", "805306368\n");
  Write("proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 50 kB\n");
  MemoryUsage u = ReadMemoryUsage(root_.string());
  EXPECT_EQ(u.source, "cgroup v2");
  EXPECT_EQ(u.total, 1073741824u);
  EXPECT_EQ(u.used, 805306368u);
  EXPECT_DOUBLE_EQ(u.fraction(), 0.75);
}

TEST_F(FakeRoot, AnUnlimitedCgroupFallsBackToTheHost) {
  Write("proc/self/cgroup", "0::/user.slice\n");
  Write("sys/fs/cgroup/user.slice/memory.max", "max\n");
  Write("sys/fs/cgroup/user.slice/memory.current", "123\n");
  Write("proc/meminfo", "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    4000 kB\n");
  MemoryUsage u = ReadMemoryUsage(root_.string());
  EXPECT_EQ(u.source, "host");
  EXPECT_EQ(u.total, 16000u * 1024);
  EXPECT_EQ(u.used, 12000u * 1024);
}

TEST_F(FakeRoot, CgroupV1LimitAndItsUnlimitedValue) {
  Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "2147483648\n");
  Write("sys/fs/cgroup/memory/memory.usage_in_bytes", "1073741824\n");
  MemoryUsage u = ReadMemoryUsage(root_.string());
  EXPECT_EQ(u.source, "cgroup v1");
  EXPECT_DOUBLE_EQ(u.fraction(), 0.5);
  Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  Write("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
  EXPECT_EQ(ReadMemoryUsage(root_.string()).source, "host");
}

TEST_F(FakeRoot, NothingReadableMeansNoMonitor) {
  MemoryUsage u = ReadMemoryUsage(root_.string());
  EXPECT_EQ(u.total, 0u);
  EXPECT_EQ(u.fraction(), 0.0);
  Write("proc/meminfo", "MemTotal: garbage\n");
  EXPECT_EQ(ReadMemoryUsage(root_.string()).total, 0u);
}

TEST(MemoryUsageTest, ThisMachineHasAReading) {
  MemoryUsage u = ReadMemoryUsage();
  EXPECT_GT(u.total, 0u);
  EXPECT_LE(u.used, u.total);
}

}  // namespace
}  // namespace ferry::raylet
