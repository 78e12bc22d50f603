// gtest main for every test binary. The unit tests (built with SR_TEST_WITHOUT_MPI) run one
// process per test and never touch MPI, so they skip its initialisation, which costs about a
// second per process. The other binaries initialise MPI once (a singleton run under plain
// execution, a real job under mpirun), and only rank 0 prints gtest's progress.
#include <gtest/gtest.h>

#ifndef SR_TEST_WITHOUT_MPI
#include <mpi.h>

#include "core/error.h"
#include "core/log.h"
#endif

int main(int argc, char** argv) {
#ifdef SR_TEST_WITHOUT_MPI
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
#else
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  sr::set_log_rank(rank);
  sr::error_context().rank = rank;
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int result = RUN_ALL_TESTS();
  // A test that failed on any rank fails the job.
  int worst = 0;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
#endif
}
