#include "src/common/resources.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(ResourceSet, FourQuartersFillOneCpuExactly) {
  ResourceSet node;
  node.Set("CPU", 1);
  ResourceSet quarter;
  quarter.Set("CPU", 0.25);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(node.Contains(quarter)) << i;
    node.Subtract(quarter);
  }
  EXPECT_FALSE(node.Contains(quarter));
  EXPECT_TRUE(node.empty());  // exactly zero, not a rounding residue
  for (int i = 0; i < 4; ++i) node.Add(quarter);
  EXPECT_EQ(node.Get("CPU"), 1.0);
}

TEST(ResourceSet, ContainsChecksEveryDemandedName) {
  ResourceSet node = ResourceSet::FromPairs({{"CPU", 4}, {"GPU", 1}, {"licenses", 2}});
  EXPECT_TRUE(node.Contains(ResourceSet::FromPairs({{"CPU", 4}, {"licenses", 2}})));
  EXPECT_FALSE(node.Contains(ResourceSet::FromPairs({{"CPU", 1}, {"GPU", 2}})));
  EXPECT_FALSE(node.Contains(ResourceSet::FromPairs({{"fpga", 1}})));
  EXPECT_TRUE(node.Contains(ResourceSet()));
  EXPECT_TRUE(node.Contains(ResourceSet::FromPairs({{"fpga", 0}})));
  EXPECT_EQ(node.Shortfall(ResourceSet::FromPairs({{"CPU", 1}, {"GPU", 2}, {"fpga", 1}})),
            "GPU: 2 (have 1), fpga: 1 (have 0)");
}

TEST(ResourceSet, KeepsNamesSortedAndDropsZeros) {
  ResourceSet s = ResourceSet::FromPairs({{"b", 1}, {"a", 2}, {"c", 0}});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.ToString(), "{a: 2, b: 1}");
  s.Subtract(ResourceSet::FromPairs({{"a", 2}}));
  EXPECT_EQ(s.ToString(), "{b: 1}");
  s.Subtract(ResourceSet::FromPairs({{"b", 1.5}}));
  EXPECT_EQ(s.Get("b"), -0.5);  // lent CPUs may drive a quantity below zero
}

TEST(ResourceSet, ParsesFlatJsonObjects) {
  auto r = ParseResourcesJson(R"( {"licenses": 2, "fpga":0.5 , "GPU": 1e0} )");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ToString(), "{GPU: 1, fpga: 0.5, licenses: 2}");
  EXPECT_TRUE(ParseResourcesJson("{}").ok());
  for (const char* bad : {"", "[]", "{\"a\": }", "{\"a\": -1}", "{\"\": 1}", "{\"a\": 1,}",
                          "{\"a\": 1} x", "{\"a\": \"2\"}", "{\"a\": 1, \"a\": 2}", "{\"a\": nan}",
                          "{\"a\" 1}", "{\"a\": 1"}) {
    auto bad_r = ParseResourcesJson(bad);
    EXPECT_FALSE(bad_r.ok()) << bad;
    if (!bad_r.ok()) {
      EXPECT_NE(bad_r.status().message().find("resources"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ferry
