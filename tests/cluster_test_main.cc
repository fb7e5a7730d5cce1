// main() of the multi-rank test programs: every rank joins the cluster; the workers serve in
// Init and exit there, and only the driver (rank 0) runs the tests.
#include <ferry/ferry.h>
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ferry::Init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  ferry::Shutdown();
  return rc;
}
