// Threads per rank: the configured number, else the launcher's OMP_NUM_THREADS, else the CPUs
// of this process shared by the node's ranks.
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>

#include "core/threads.h"

namespace sr {
namespace {

TEST(Threads, ConfiguredWinsThenEnvironmentThenAffinity) {
  EXPECT_EQ(threads_per_rank(3, 8), 3);
  setenv("OMP_NUM_THREADS", "5", 1);
  EXPECT_EQ(threads_per_rank(0, 2), 5);
  unsetenv("OMP_NUM_THREADS");
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int cpus = CPU_COUNT(&set);
  EXPECT_GE(threads_per_rank(0, 1), 1);
  EXPECT_LE(threads_per_rank(0, 1), cpus);
  EXPECT_EQ(threads_per_rank(0, 1000), 1);  // never below one thread
}

}  // namespace
}  // namespace sr
