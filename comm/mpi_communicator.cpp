// Communicator over MPI on host memory. Every collective is issued nonblocking and polled by
// the watchdog (comm/watchdog.h), so a rank that died or skipped a collective ends the job
// with a message instead of a silent hang.
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi_check.h"
#include "comm/watchdog.h"

namespace sr {
namespace {

// bf16 only moves (broadcast, all_gather): MPI has no bf16 arithmetic.
MPI_Datatype mpi_type(DType t, bool reduces) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::i32: return MPI_INT32_T;
    case DType::u32: return MPI_UINT32_T;
    case DType::u64: return MPI_UINT64_T;
    case DType::u8: return MPI_UINT8_T;
    case DType::bf16:
      SR_ASSERT(!reduces, "MPI reductions of bf16 are not supported: reduce in f32 on the host");
      return MPI_UINT16_T;
  }
  SR_ASSERT(false, "unknown dtype");
  return MPI_DATATYPE_NULL;
}

int mpi_count(int64_t n) {
  SR_ASSERT(n >= 0 && n <= INT_MAX, "an MPI collective moves at most 2^31 - 1 elements");
  return int(n);
}

void check_host(const Tensor& t, const char* what) {
  SR_ASSERT(t.device == Device::cpu,
            std::string("the MPI communicator works on host memory, but ") + what + " is on " +
                device_name(t.device));
  SR_ASSERT(t.numel() == 0 || t.data != nullptr, std::string(what) + " has no memory");
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, double watchdog_seconds) {
    SR_CHECK_MPI(MPI_Comm_dup(comm, &comm_));
    waiter_ = std::make_unique<CollectiveWaiter>(comm_, watchdog_seconds);
    // Errors come back to SR_CHECK_MPI, which names rank, host and device.
    SR_CHECK_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    SR_CHECK_MPI(MPI_Comm_rank(comm_, &rank_));
    SR_CHECK_MPI(MPI_Comm_size(comm_, &size_));
  }

  ~MpiCommunicator() override {
    waiter_.reset();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce(Tensor x, ReduceOp op) override {
    check_host(x, "all_reduce's tensor");
    MPI_Datatype type = mpi_type(x.dtype, true);
    if (size_ == 1 || x.numel() == 0) return;
    MPI_Request req;
    SR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, x.data, mpi_count(x.numel()), type,
                                op == ReduceOp::sum ? MPI_SUM : MPI_MAX, comm_, &req));
    wait(&req, "all_reduce", x.numel(), x.dtype);
  }

  // out may be in's slice `rank` (in place, as NCCL allows).
  void reduce_scatter(Tensor out, Tensor in) override {
    check_host(out, "reduce_scatter's output");
    check_host(in, "reduce_scatter's input");
    SR_ASSERT(out.dtype == in.dtype, "reduce_scatter: input and output dtypes differ");
    SR_ASSERT(in.numel() == int64_t(size_) * out.numel(),
              "reduce_scatter: input has " + std::to_string(in.numel()) + " elements, expected " +
                  std::to_string(size_) + " x " + std::to_string(out.numel()));
    MPI_Datatype type = mpi_type(in.dtype, true);
    if (out.numel() == 0) return;
    char* mine = static_cast<char*>(in.data) + size_t(rank_) * out.bytes();
    if (size_ == 1) {
      if (out.data != in.data) std::memcpy(out.data, in.data, out.bytes());
      return;
    }
    const bool in_place = out.data == mine;
    MPI_Request req;
    // MPI_IN_PLACE leaves the result at the start of `in`; it moves to slice `rank` below.
    SR_CHECK_MPI(MPI_Ireduce_scatter_block(in_place ? MPI_IN_PLACE : in.data,
                                           in_place ? in.data : out.data, mpi_count(out.numel()),
                                           type, MPI_SUM, comm_, &req));
    wait(&req, "reduce_scatter", in.numel(), in.dtype);
    if (in_place && rank_ != 0) std::memmove(mine, in.data, out.bytes());
  }

  // in may be out's slice `rank` (in place).
  void all_gather(Tensor out, Tensor in) override {
    check_host(out, "all_gather's output");
    check_host(in, "all_gather's input");
    SR_ASSERT(out.dtype == in.dtype, "all_gather: input and output dtypes differ");
    SR_ASSERT(out.numel() == int64_t(size_) * in.numel(),
              "all_gather: output has " + std::to_string(out.numel()) + " elements, expected " +
                  std::to_string(size_) + " x " + std::to_string(in.numel()));
    MPI_Datatype type = mpi_type(in.dtype, false);
    if (in.numel() == 0) return;
    char* mine = static_cast<char*>(out.data) + size_t(rank_) * in.bytes();
    if (size_ == 1) {
      if (out.data != in.data) std::memcpy(out.data, in.data, in.bytes());
      return;
    }
    const bool in_place = in.data == mine;
    MPI_Request req;
    SR_CHECK_MPI(MPI_Iallgather(in_place ? MPI_IN_PLACE : in.data, mpi_count(in.numel()), type,
                                out.data, mpi_count(in.numel()), type, comm_, &req));
    wait(&req, "all_gather", out.numel(), out.dtype);
  }

  void broadcast(Tensor x, int root) override {
    check_host(x, "broadcast's tensor");
    SR_ASSERT(root >= 0 && root < size_, "broadcast: root " + std::to_string(root) +
                                             " is not a rank of a communicator of " +
                                             std::to_string(size_));
    MPI_Datatype type = mpi_type(x.dtype, false);
    if (size_ == 1 || x.numel() == 0) return;
    MPI_Request req;
    SR_CHECK_MPI(MPI_Ibcast(x.data, mpi_count(x.numel()), type, root, comm_, &req));
    wait(&req, "broadcast", x.numel(), x.dtype);
  }

  void barrier() override {
    if (size_ == 1) return;
    MPI_Request req;
    SR_CHECK_MPI(MPI_Ibarrier(comm_, &req));
    wait(&req, "barrier", -1, DType::u8);
  }

  void start_all_reduce(Tensor x) override {
    check_host(x, "start_all_reduce's tensor");
    MPI_Datatype type = mpi_type(x.dtype, true);
    if (size_ == 1 || x.numel() == 0) return;
    pending_.emplace_back();
    pending_elements_ += x.numel();
    pending_dtype_ = x.dtype;
    SR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, x.data, mpi_count(x.numel()), type, MPI_SUM, comm_,
                                &pending_.back()));
  }

  void finish_all_reduces() override {
    if (pending_.empty()) return;
    waiter_->wait(int(pending_.size()), pending_.data(),
                  collective_label("overlapped all_reduce", pending_elements_, pending_dtype_));
    pending_.clear();
    pending_elements_ = 0;
  }

 private:
  void wait(MPI_Request* req, const char* name, int64_t count, DType dtype) {
    waiter_->wait(1, req, collective_label(name, count, dtype));
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<CollectiveWaiter> waiter_;
  std::vector<MPI_Request> pending_;  // started, unfinished all-reduces
  int64_t pending_elements_ = 0;
  DType pending_dtype_ = DType::f32;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm, double watchdog_seconds) {
  return std::make_unique<MpiCommunicator>(comm, watchdog_seconds);
}

}  // namespace sr
