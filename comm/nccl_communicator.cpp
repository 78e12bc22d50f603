// Communicator over NCCL on device memory.
//
// Streams: each collective first waits (through an event) for the work already queued on the
// legacy default stream, where smoothread's kernels run, then runs on this communicator's own
// stream, and returns once it has finished: the caller may read the result on any stream.
//
// Watchdog: the NCCL communicator is nonblocking (config.blocking = 0), so no NCCL call can
// hang the host thread (a blocking one waits inside ncclAllReduce itself while the first
// collective connects to its peers). Init and every collective are polled through
// ncclCommGetAsyncError and then cudaStreamQuery until done or the deadline passes; then the
// collective is named with the ranks that did not arrive (CollectiveWaiter's questions over
// MPI), the NCCL communicator is aborted (so no kernel keeps spinning on the GPU) and the job
// is aborted.
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "comm/communicator.h"
#include "comm/mpi_check.h"
#include "comm/nccl_check.h"
#include "comm/watchdog.h"
#include "core/cuda/cuda_check.h"

namespace sr {
namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::bf16: return ncclBfloat16;
    case DType::i32: return ncclInt32;
    case DType::u32: return ncclUint32;
    case DType::u64: return ncclUint64;
    case DType::u8: return ncclUint8;
  }
  SR_ASSERT(false, "unknown dtype");
  return ncclFloat32;
}

void check_device(const Tensor& t, const char* what) {
  SR_ASSERT(t.device == Device::cuda,
            std::string("the NCCL communicator works on GPU memory, but ") + what + " is on " +
                device_name(t.device));
  SR_ASSERT(t.numel() == 0 || t.data != nullptr, std::string(what) + " has no memory");
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm comm, double watchdog_seconds) : watchdog_(watchdog_seconds) {
    SR_CHECK_MPI(MPI_Comm_rank(comm, &rank_));
    SR_CHECK_MPI(MPI_Comm_size(comm, &size_));
    SR_CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    SR_CHECK_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    // A communicator of one rank needs no NCCL: its collectives are copies or nothing.
    if (size_ == 1) return;
    probe_ = std::make_unique<CollectiveWaiter>(comm, watchdog_seconds);
    ncclUniqueId id{};
    if (rank_ == 0) SR_CHECK_NCCL(ncclGetUniqueId(&id));
    MPI_Request req;
    SR_CHECK_MPI(MPI_Ibcast(&id, sizeof id, MPI_BYTE, 0, comm, &req));
    probe_->wait(1, &req, "broadcast(ncclUniqueId)");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    SR_CHECK_NCCL_ASYNC(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    wait("ncclCommInitRank", -1, DType::u8, false);
    SR_CHECK_CUDA(cudaMalloc(&scratch_, sizeof(float)));
    SR_CHECK_CUDA(cudaMemset(scratch_, 0, sizeof(float)));
  }

  // Errors are ignored here: at exit the CUDA context may already be going away, and a
  // failing clean-up must not turn a finished run into an abort. A finalize that does not
  // finish in time (a peer is gone) is abandoned with ncclCommAbort.
  ~NcclCommunicator() override {
    if (comm_) {
      ncclResult_t state = ncclCommFinalize(comm_);
      poll_until(
          [&] {
            if (state == ncclInProgress) ncclCommGetAsyncError(comm_, &state);
            return state != ncclInProgress;
          },
          watchdog_);
      if (state == ncclSuccess)
        ncclCommDestroy(comm_);
      else
        ncclCommAbort(comm_);
    }
    if (scratch_) cudaFree(scratch_);
    cudaEventDestroy(ready_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce(Tensor x, ReduceOp op) override {
    check_device(x, "all_reduce's tensor");
    ncclDataType_t type = nccl_type(x.dtype);
    if (size_ == 1 || x.numel() == 0) return;
    after_default_stream();
    SR_CHECK_NCCL_ASYNC(ncclAllReduce(x.data, x.data, size_t(x.numel()), type,
                                      op == ReduceOp::sum ? ncclSum : ncclMax, comm_, stream_));
    wait("all_reduce", x.numel(), x.dtype);
  }

  // out may be in's slice `rank` (NCCL's in-place convention).
  void reduce_scatter(Tensor out, Tensor in) override {
    check_device(out, "reduce_scatter's output");
    check_device(in, "reduce_scatter's input");
    SR_ASSERT(out.dtype == in.dtype, "reduce_scatter: input and output dtypes differ");
    SR_ASSERT(in.numel() == int64_t(size_) * out.numel(),
              "reduce_scatter: input has " + std::to_string(in.numel()) + " elements, expected " +
                  std::to_string(size_) + " x " + std::to_string(out.numel()));
    ncclDataType_t type = nccl_type(in.dtype);
    if (out.numel() == 0) return;
    after_default_stream();
    if (size_ == 1) {
      copy(out.data, in.data, out.bytes());
      return;
    }
    SR_CHECK_NCCL_ASYNC(
        ncclReduceScatter(in.data, out.data, size_t(out.numel()), type, ncclSum, comm_, stream_));
    wait("reduce_scatter", in.numel(), in.dtype);
  }

  // in may be out's slice `rank` (in place).
  void all_gather(Tensor out, Tensor in) override {
    check_device(out, "all_gather's output");
    check_device(in, "all_gather's input");
    SR_ASSERT(out.dtype == in.dtype, "all_gather: input and output dtypes differ");
    SR_ASSERT(out.numel() == int64_t(size_) * in.numel(),
              "all_gather: output has " + std::to_string(out.numel()) + " elements, expected " +
                  std::to_string(size_) + " x " + std::to_string(in.numel()));
    ncclDataType_t type = nccl_type(in.dtype);
    if (in.numel() == 0) return;
    after_default_stream();
    if (size_ == 1) {
      copy(out.data, in.data, in.bytes());
      return;
    }
    SR_CHECK_NCCL_ASYNC(
        ncclAllGather(in.data, out.data, size_t(in.numel()), type, comm_, stream_));
    wait("all_gather", out.numel(), out.dtype);
  }

  void broadcast(Tensor x, int root) override {
    check_device(x, "broadcast's tensor");
    SR_ASSERT(root >= 0 && root < size_, "broadcast: root " + std::to_string(root) +
                                             " is not a rank of a communicator of " +
                                             std::to_string(size_));
    ncclDataType_t type = nccl_type(x.dtype);
    if (size_ == 1 || x.numel() == 0) return;
    after_default_stream();
    SR_CHECK_NCCL_ASYNC(
        ncclBroadcast(x.data, x.data, size_t(x.numel()), type, root, comm_, stream_));
    wait("broadcast", x.numel(), x.dtype);
  }

  // Enqueued on our stream after the kernels that produced `x`; the host returns once NCCL has
  // accepted the call, while the GPU goes on with backward on the default stream.
  void start_all_reduce(Tensor x) override {
    check_device(x, "start_all_reduce's tensor");
    ncclDataType_t type = nccl_type(x.dtype);
    if (size_ == 1 || x.numel() == 0) return;
    after_default_stream();
    SR_CHECK_NCCL_ASYNC(ncclAllReduce(x.data, x.data, size_t(x.numel()), type, ncclSum, comm_, stream_));
    // A nonblocking communicator may still be enqueueing: no other NCCL call before it is done.
    wait("all_reduce", x.numel(), x.dtype, false);
    pending_elements_ += x.numel();
    pending_dtype_ = x.dtype;
    ++pending_;
  }

  void finish_all_reduces() override {
    if (pending_ == 0) return;
    wait("overlapped all_reduce", pending_elements_, pending_dtype_);
    pending_ = 0;
    pending_elements_ = 0;
  }

  // NCCL has no barrier: a one-element all-reduce that every rank must join.
  void barrier() override {
    if (size_ == 1) return;
    after_default_stream();
    SR_CHECK_NCCL_ASYNC(
        ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_));
    wait("barrier", -1, DType::f32);
  }

 private:
  int pending_ = 0;  // started, unfinished all-reduces (all on stream_)
  int64_t pending_elements_ = 0;
  DType pending_dtype_ = DType::f32;

  // Orders our stream after the kernels that produced the input.
  void after_default_stream() {
    SR_CHECK_CUDA(cudaEventRecord(ready_, cudaStreamLegacy));
    SR_CHECK_CUDA(cudaStreamWaitEvent(stream_, ready_, 0));
  }

  void copy(void* dst, const void* src, size_t bytes) {
    if (dst != src)
      SR_CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    SR_CHECK_CUDA(cudaStreamSynchronize(stream_));
  }

  // Polls until NCCL has finished the call (a nonblocking call may still be in progress) and,
  // with `on_stream`, until the stream has run it.
  void wait(const char* name, int64_t count, DType dtype, bool on_stream = true) {
    if (probe_) probe_->begin();
    int64_t polls = 0;
    bool done = poll_until(
        [&] {
          if (probe_ && (++polls & 63) == 0) probe_->answer_questions();
          ncclResult_t state = ncclSuccess;
          SR_CHECK_NCCL(ncclCommGetAsyncError(comm_, &state));
          if (state == ncclInProgress) return false;
          if (state != ncclSuccess) {
            std::string text = nccl_error_text(state, comm_);
            ncclCommAbort(comm_);
            comm_ = nullptr;
            fatal(name, __FILE__, __LINE__, text, nccl_hint(state));
          }
          if (!on_stream) return true;
          cudaError_t e = cudaStreamQuery(stream_);
          if (e == cudaErrorNotReady) return false;
          SR_CHECK_CUDA(e);
          return true;
        },
        watchdog_);
    if (done) return;
    print_watchdog_message(collective_label(name, count, dtype), size_, watchdog_,
                           probe_ ? probe_->absent_ranks() : "a rank has died or is stuck");
    // Stops NCCL's kernels, which would otherwise spin on the GPU for the missing peer.
    ncclCommAbort(comm_);
    comm_ = nullptr;
    abort_job();
  }

  int rank_ = 0, size_ = 1;
  double watchdog_;
  // Names the ranks that did not arrive when a collective times out (over MPI on the same ranks).
  std::unique_ptr<CollectiveWaiter> probe_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  float* scratch_ = nullptr;  // [1] device, for barrier()
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, double watchdog_seconds) {
  return std::make_unique<NcclCommunicator>(comm, watchdog_seconds);
}

}  // namespace sr
