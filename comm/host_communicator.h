// HostCommunicator: collectives over a few host numbers per step (target counts, loss sums,
// the gradient norm's partial sums, the preemption flag, checkpoint agreement) and host
// buffers (checkpoint moments), over MPI on the ranks of one group. Every call is a
// nonblocking MPI collective waited on under the watchdog (comm/watchdog.h), so a rank that
// stops or dies ends the job with a message naming the operation and the missing rank, and
// every MPI error comes back through SR_CHECK_MPI. `what` names the operation in messages.
#pragma once
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"

namespace sr {

class CollectiveWaiter;

class HostCommunicator {
 public:
  // Over `comm` (duplicated; the caller keeps its own). watchdog_seconds <= 0: no watchdog.
  HostCommunicator(MPI_Comm comm, double watchdog_seconds);
  ~HostCommunicator();
  HostCommunicator(const HostCommunicator&) = delete;
  HostCommunicator& operator=(const HostCommunicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // In place over every rank's x[0, n).
  void all_reduce(double* x, int64_t n, ReduceOp op, const char* what);
  void all_reduce(float* x, int64_t n, ReduceOp op, const char* what);
  void all_reduce(int64_t* x, int64_t n, ReduceOp op, const char* what);
  // Whether `ok` holds on every rank.
  bool all_true(bool ok, const char* what);
  // Every rank's `bytes` bytes at `mine`, in rank order, into `all` (size · bytes).
  void all_gather_bytes(const void* mine, void* all, size_t bytes, const char* what);
  void broadcast_bytes(void* data, size_t bytes, int root, const char* what);
  void barrier(const char* what);

 private:
  void reduce(void* x, int64_t n, MPI_Datatype type, ReduceOp op, const char* what,
              const char* type_name);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<CollectiveWaiter> waiter_;
};

}  // namespace sr
