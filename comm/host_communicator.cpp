// HostCommunicator: host numbers over MPI, every collective under the watchdog.
#include "comm/host_communicator.h"

#include <climits>
#include <string>

#include "comm/mpi_check.h"
#include "comm/watchdog.h"

namespace sr {

namespace {
int mpi_count(int64_t n, const char* what) {
  SR_ASSERT(n >= 0 && n <= INT_MAX,
            std::string(what) + ": an MPI collective moves at most 2^31 - 1 elements");
  return int(n);
}

std::string label(const char* op, const char* what, int64_t n, const char* type) {
  std::string s = std::string(op) + "(";
  if (n >= 0) s += std::to_string(n) + " " + type + ": ";
  return s + what + ")";
}
}  // namespace

HostCommunicator::HostCommunicator(MPI_Comm comm, double watchdog_seconds) {
  SR_CHECK_MPI(MPI_Comm_dup(comm, &comm_));
  SR_CHECK_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  SR_CHECK_MPI(MPI_Comm_rank(comm_, &rank_));
  SR_CHECK_MPI(MPI_Comm_size(comm_, &size_));
  waiter_ = std::make_unique<CollectiveWaiter>(comm_, watchdog_seconds);
}

HostCommunicator::~HostCommunicator() {
  waiter_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

void HostCommunicator::reduce(void* x, int64_t n, MPI_Datatype type, ReduceOp op,
                              const char* what, const char* type_name) {
  if (size_ == 1 || n == 0) return;
  MPI_Request req;
  SR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, x, mpi_count(n, what), type,
                              op == ReduceOp::sum ? MPI_SUM : MPI_MAX, comm_, &req));
  waiter_->wait(1, &req, label("all_reduce", what, n, type_name));
}

void HostCommunicator::all_reduce(double* x, int64_t n, ReduceOp op, const char* what) {
  reduce(x, n, MPI_DOUBLE, op, what, "f64");
}
void HostCommunicator::all_reduce(float* x, int64_t n, ReduceOp op, const char* what) {
  reduce(x, n, MPI_FLOAT, op, what, "f32");
}
void HostCommunicator::all_reduce(int64_t* x, int64_t n, ReduceOp op, const char* what) {
  reduce(x, n, MPI_INT64_T, op, what, "i64");
}

bool HostCommunicator::all_true(bool ok, const char* what) {
  int64_t failed = ok ? 0 : 1;
  all_reduce(&failed, 1, ReduceOp::max, what);
  return failed == 0;
}

void HostCommunicator::all_gather_bytes(const void* mine, void* all, size_t bytes,
                                        const char* what) {
  const int n = mpi_count(int64_t(bytes), what);
  MPI_Request req;
  SR_CHECK_MPI(MPI_Iallgather(mine, n, MPI_BYTE, all, n, MPI_BYTE, comm_, &req));
  waiter_->wait(1, &req, label("all_gather", what, int64_t(bytes), "bytes"));
}

void HostCommunicator::broadcast_bytes(void* data, size_t bytes, int root, const char* what) {
  if (size_ == 1 || bytes == 0) return;
  MPI_Request req;
  SR_CHECK_MPI(MPI_Ibcast(data, mpi_count(int64_t(bytes), what), MPI_BYTE, root, comm_, &req));
  waiter_->wait(1, &req, label("broadcast", what, int64_t(bytes), "bytes"));
}

void HostCommunicator::barrier(const char* what) {
  if (size_ == 1) return;
  MPI_Request req;
  SR_CHECK_MPI(MPI_Ibarrier(comm_, &req));
  waiter_->wait(1, &req, label("barrier", what, -1, ""));
}

}  // namespace sr
