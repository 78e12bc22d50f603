// Communicator: the collectives smoothread needs, typed and in element counts (a Tensor's
// numel and dtype). Implementations: MPI on host memory, NCCL on device memory. Every
// collective is guarded by a watchdog: one that does not finish in time prints a message
// naming the collective on every rank and aborts the job.
#pragma once
#include <mpi.h>

#include <memory>
#include <string>

#include "core/tensor.h"

namespace sr {

enum class ReduceOp { sum, max };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place over every rank's `x`.
  virtual void all_reduce(Tensor x, ReduceOp op) = 0;
  // in.numel == size · out.numel; rank r receives the sum of every rank's slice r.
  virtual void reduce_scatter(Tensor out, Tensor in) = 0;
  // out.numel == size · in.numel; slice r of out is rank r's `in`.
  virtual void all_gather(Tensor out, Tensor in) = 0;
  virtual void broadcast(Tensor x, int root) = 0;
  virtual void barrier() = 0;

  // Overlapped reduction (DP gradients during backward): starts an in-place sum all-reduce of
  // `x` and returns at once; `x` must not be touched until finish_all_reduces() returns, which
  // waits for every started one (under the watchdog). Every rank starts the same sequence.
  virtual void start_all_reduce(Tensor x) = 0;
  virtual void finish_all_reduces() = 0;
};

// MPI over host memory on `comm` (duplicated; the caller keeps its own).
// watchdog_seconds <= 0 disables the watchdog.
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm, double watchdog_seconds);

// NCCL over device memory for the ranks of `comm`; the ncclUniqueId travels over MPI.
// The CUDA device must be selected first. Collectives are synchronous: each waits for the work
// already queued on the legacy default stream, runs on the communicator's own stream and
// returns once finished. Fails with a clear message when built without CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, double watchdog_seconds);

}  // namespace sr
