// NCCL on several GPUs, under `mpirun -np 2` on a host with a GPU per rank (ctest gpu_np2):
// the grid's NCCL communicators on device memory, data and tensor parallelism (and ZeRO-1) on
// GPUs against one GPU, and checkpoints that move between GPU and CPU runs. Every test skips
// where the ranks lack their own GPU or run alone (CI, and the single-process gpu_1).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "comm/process_grid.h"
#include "gpu_test_util.h"
#include "train_test_util.h"

namespace sr {
namespace {

using namespace traintest;

// The fewest GPUs any rank sees: every rank takes the same skip decision.
int min_visible_gpus() {
  int n = cuda_device_count();
  MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return n;
}

#define SR_REQUIRE_GPU_PER_RANK()                                                             \
  do {                                                                                        \
    if (world_size() < 2)                                                                     \
      GTEST_SKIP() << "needs at least 2 ranks (run under mpirun -np 2): skipped";             \
    if (min_visible_gpus() < world_size())                                                    \
      GTEST_SKIP() << "needs a CUDA device per rank (" << world_size() << " ranks, "          \
                   << cuda_device_count() << " visible, or built without CUDA): skipped";     \
  } while (0)

// ---- a. Collectives of the grid's NCCL communicators --------------------------------------

// Small integers: sums over a few ranks are exact in f32 and bf16, so results compare with ==.
std::vector<float> rank_values(int rank, size_t n) {
  std::vector<float> v(n);  // [n]
  for (size_t i = 0; i < n; ++i) v[i] = float((rank + 1) * int(i % 7 + 1) - 3 * int(i % 2));
  return v;
}

void check_collectives(Communicator& c, DType dtype) {
  const int p = c.size(), r = c.rank();
  const int64_t n = 1000;  // not a multiple of NCCL's chunking
  SCOPED_TRACE(std::string("dtype ") + (dtype == DType::bf16 ? "bf16" : "f32") + ", size " +
               std::to_string(p));
  {
    gputest::DeviceTensor x(dtype, {n});  // [n]
    x.put(rank_values(r, size_t(n)));
    c.all_reduce(x, ReduceOp::sum);
    std::vector<float> want(size_t(n), 0.0f);
    for (int q = 0; q < p; ++q) {
      const auto v = rank_values(q, size_t(n));
      for (size_t i = 0; i < want.size(); ++i) want[i] += v[i];
    }
    EXPECT_EQ(x.get(), want) << "all_reduce sum";
  }
  {
    gputest::DeviceTensor x(dtype, {n});  // [n]
    x.put(rank_values(r, size_t(n)));
    c.all_reduce(x, ReduceOp::max);
    std::vector<float> want = rank_values(0, size_t(n));
    for (int q = 1; q < p; ++q) {
      const auto v = rank_values(q, size_t(n));
      for (size_t i = 0; i < want.size(); ++i) want[i] = std::max(want[i], v[i]);
    }
    EXPECT_EQ(x.get(), want) << "all_reduce max";
  }
  {
    gputest::DeviceTensor in(dtype, {p * n}), out(dtype, {n});  // [p·n], [n]
    in.put(rank_values(r, size_t(p * n)));
    out.poison();
    c.reduce_scatter(out, in);
    std::vector<float> want(size_t(n), 0.0f);  // slice r of the sum
    for (int q = 0; q < p; ++q) {
      const auto v = rank_values(q, size_t(p * n));
      for (int64_t i = 0; i < n; ++i) want[size_t(i)] += v[size_t(r * n + i)];
    }
    EXPECT_EQ(out.get(), want) << "reduce_scatter";
  }
  {
    gputest::DeviceTensor in(dtype, {n}), out(dtype, {p * n});  // [n], [p·n]
    in.put(rank_values(r, size_t(n)));
    out.poison();
    c.all_gather(out, in);
    std::vector<float> want;
    for (int q = 0; q < p; ++q) {
      const auto v = rank_values(q, size_t(n));
      want.insert(want.end(), v.begin(), v.end());
    }
    EXPECT_EQ(out.get(), want) << "all_gather";
  }
  {
    gputest::DeviceTensor x(dtype, {n});  // [n]
    x.put(rank_values(r, size_t(n)));
    c.broadcast(x, p - 1);
    EXPECT_EQ(x.get(), rank_values(p - 1, size_t(n))) << "broadcast from the last rank";
  }
}

TEST(NcclCollectives, WorldAndGroupsOnDeviceMemory) {
  SR_REQUIRE_GPU_PER_RANK();
  // TP 2: the world and TP groups span GPUs through NCCL; the DP group is one rank per
  // TP position when the world is 2, which must leave data as it is.
  auto grid = make_process_grid(2, Device::cuda, 60, MPI_COMM_WORLD);
  for (DType t : {DType::f32, DType::bf16}) {
    check_collectives(*grid->world_comm, t);
    check_collectives(*grid->tp_group, t);
    check_collectives(*grid->dp_group, t);
  }
}

// ---- b–d. Training on GPUs -----------------------------------------------------------------

class NcclTraining : public ScratchDataset {
 protected:
  NcclTraining() : ScratchDataset(272, 91) {}

  // f32 on both devices, so that layouts and devices agree to rounding.
  RunConfig config(const std::string& out) const {
    RunConfig c = run_config(out);
    c.model.hidden_size = 64;  // head dim 16
    c.model.num_hidden_layers = 2;
    c.model.num_attention_heads = 4;
    c.model.num_key_value_heads = 2;
    c.model.intermediate_size = 176;
    c.model.vocab_size = 272;
    c.model.rope_theta = 10000;
    c.model.sliding_window = 24;
    c.model.attention_bias = true;
    c.precision = Precision::f32;
    return c;
  }
};

// A run of one rank (rank 0, over MPI_COMM_SELF; its GPU is 0); every rank gets the losses,
// only rank 0 the parameters.
TrainRun train_on_rank0(const RunConfig& cfg, Device device, int64_t steps, int64_t save_at = 0) {
  TrainRun r;
  if (world_rank() == 0) r = train(cfg, device, MPI_COMM_SELF, 1, steps, save_at);
  int n = int(r.losses.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
  r.losses.resize(size_t(n));
  MPI_Bcast(r.losses.data(), n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return r;
}

// The whole parameters of a checkpoint next to rank 0's reference (the other ranks hold none).
void expect_checkpoint_matches_rank0(const RunConfig& cfg, const std::string& checkpoint,
                                     const std::vector<std::vector<float>>& want, double tol) {
  if (world_rank() == 0) expect_params_close(load_whole(cfg, checkpoint), want, tol);
}

// AdamW divides each element's update by its own gradient scale, so where gradients are ~0
// (biases early on) rounding differences between layouts grow to ~1e-5: parameters are
// compared at 1e-4, losses at 1e-5 relative.
constexpr double kLossRel = 1e-5, kParamTol = 1e-4;

// b. DP over all ranks' GPUs against one GPU with the same global batch.
TEST_F(NcclTraining, DataParallelMatchesOneGpu) {
  SR_REQUIRE_GPU_PER_RANK();
  const RunConfig ref_cfg = config("one_gpu");
  const TrainRun ref = train_on_rank0(ref_cfg, Device::cuda, 6);
  const RunConfig cfg = config("dp");
  const TrainRun run = train(cfg, Device::cuda, MPI_COMM_WORLD, 1, 6, 6);
  expect_losses_close(run.losses, ref.losses, kLossRel);
  expect_checkpoint_matches_rank0(ref_cfg, checkpoint_path(cfg, 6), ref.params, kParamTol);
}

// c. TP 2 (DP = world / 2) against one GPU.
TEST_F(NcclTraining, TensorParallelMatchesOneGpu) {
  SR_REQUIRE_GPU_PER_RANK();
  if (world_size() % 2) GTEST_SKIP() << "TP 2 needs an even number of ranks";
  const RunConfig ref_cfg = config("one_gpu");
  const TrainRun ref = train_on_rank0(ref_cfg, Device::cuda, 6);
  const RunConfig cfg = config("tp2");
  const TrainRun run = train(cfg, Device::cuda, MPI_COMM_WORLD, 2, 6, 6);
  expect_losses_close(run.losses, ref.losses, kLossRel);
  expect_checkpoint_matches_rank0(ref_cfg, checkpoint_path(cfg, 6), ref.params, kParamTol);
}

// c. ZeRO-1 (AdamW state sharded over DP ranks, reduce-scatter + all-gather through NCCL)
// trains the same model as plain DP; each rank holds the whole parameters.
TEST_F(NcclTraining, ZeroOneMatchesPlainDataParallel) {
  SR_REQUIRE_GPU_PER_RANK();
  const TrainRun plain = train(config("plain"), Device::cuda, MPI_COMM_WORLD, 1, 6);
  RunConfig zero = config("zero1");
  zero.zero1 = true;
  const TrainRun z = train(zero, Device::cuda, MPI_COMM_WORLD, 1, 6);
  expect_losses_close(z.losses, plain.losses, kLossRel);
  expect_params_close(z.params, plain.params, kParamTol);
}

// d. A checkpoint written by TP 2 on GPUs resumes on one CPU rank, which continues as the GPU
// run did.
TEST_F(NcclTraining, GpuCheckpointResumesOnCpu) {
  SR_REQUIRE_GPU_PER_RANK();
  if (world_size() % 2) GTEST_SKIP() << "TP 2 needs an even number of ranks";
  const RunConfig cfg = config("gpu_tp2");
  const TrainRun gpu = train(cfg, Device::cuda, MPI_COMM_WORLD, 2, 6, 3);
  RunConfig cpu_cfg = config("cpu_resumed");
  cpu_cfg.resume = checkpoint_path(cfg, 3);
  const TrainRun cpu = train_on_rank0(cpu_cfg, Device::cpu, 6);
  expect_losses_close(cpu.losses, tail(gpu.losses, 3), 1e-4);
}

// d. A checkpoint written on one CPU rank resumes with DP over GPUs, which continues as the
// CPU run did.
TEST_F(NcclTraining, CpuCheckpointResumesOnGpus) {
  SR_REQUIRE_GPU_PER_RANK();
  const RunConfig cpu_cfg = config("cpu");
  const TrainRun cpu = train_on_rank0(cpu_cfg, Device::cpu, 6, 3);
  RunConfig cfg = config("gpu_resumed");
  cfg.resume = checkpoint_path(cpu_cfg, 3);
  const TrainRun gpu = train(cfg, Device::cuda, MPI_COMM_WORLD, 1, 6);
  expect_losses_close(gpu.losses, tail(cpu.losses, 3), 1e-4);
}

}  // namespace
}  // namespace sr
