// The main() of the test programs that run under mpirun: MPI runs for the life of the program,
// as in aimc's main.
#include <gtest/gtest.h>

#include "aimc/common/cluster.h"

int main(int argc, char** argv) {
  aimc::cluster::Session session(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
