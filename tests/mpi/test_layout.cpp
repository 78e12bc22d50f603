// Layout invariance and exact resume, under mpirun with 1, 2 and 4 ranks: any (DP, TP) layout
// computes the losses and parameters of one rank with the same global batch, and a run that is
// checkpointed and resumed continues bit for bit (same layout) or to float tolerance (another).
#include <gtest/gtest.h>

#include "train_test_util.h"

namespace sr {
namespace {

using namespace traintest;

class LayoutTest : public ScratchDataset {
 protected:
  LayoutTest() : ScratchDataset(40, 77) {}
  RunConfig config(const std::string& out) const {
    RunConfig c = run_config(out);
    c.model.hidden_size = 32;
    c.model.num_hidden_layers = 2;
    c.model.num_attention_heads = 4;
    c.model.num_key_value_heads = 4;
    c.model.intermediate_size = 48;
    c.model.vocab_size = 48;
    c.model.rope_theta = 10000;
    c.model.sliding_window = 16;
    return c;
  }
};

constexpr double kLossRel = 1e-5, kParamTol = 2e-5;

// Every TP size that divides the world (and the 4 heads) against one rank.
TEST_F(LayoutTest, EveryLayoutMatchesOneRank) {
  const TrainRun ref = train(config("single_" + std::to_string(world_rank())), Device::cpu,
                             MPI_COMM_SELF, 1, 6);
  for (int tp = 1; tp <= world_size(); tp *= 2) {
    if (world_size() % tp) continue;
    const RunConfig cfg = config("tp" + std::to_string(tp));
    const TrainRun run = train(cfg, Device::cpu, MPI_COMM_WORLD, tp, 6, 6);
    SCOPED_TRACE("dp " + std::to_string(world_size() / tp) + " x tp " + std::to_string(tp));
    expect_losses_close(run.losses, ref.losses, kLossRel);
    expect_params_close(load_whole(cfg, checkpoint_path(cfg, 6)), ref.params, kParamTol);
  }
}

// Train 6 steps straight, or 3, checkpoint, resume, 3 more: bit-identical on CPU.
TEST_F(LayoutTest, ResumeIsBitwiseExactInTheSameLayout) {
  const int tp = world_size() >= 2 ? 2 : 1;
  const TrainRun straight = train(config("straight"), Device::cpu, MPI_COMM_WORLD, tp, 6);
  RunConfig cfg = config("interrupted");
  const TrainRun first = train(cfg, Device::cpu, MPI_COMM_WORLD, tp, 3, 3);
  cfg.resume = "auto";
  const TrainRun second = train(cfg, Device::cpu, MPI_COMM_WORLD, tp, 6);
  std::vector<double> losses = first.losses;
  losses.insert(losses.end(), second.losses.begin(), second.losses.end());
  EXPECT_EQ(losses, straight.losses);
  EXPECT_EQ(second.params, straight.params);
}

// Save in the world's layout (DP × TP), resume on one rank: float tolerance.
TEST_F(LayoutTest, ResumeInAnotherLayout) {
  const int tp = world_size() >= 2 ? 2 : 1;
  const TrainRun ref = train(config("single_" + std::to_string(world_rank())), Device::cpu,
                             MPI_COMM_SELF, 1, 6);
  const RunConfig wide = config("wide");
  train(wide, Device::cpu, MPI_COMM_WORLD, tp, 3, 3);
  RunConfig narrow = config("narrow_" + std::to_string(world_rank()));
  narrow.resume = checkpoint_path(wide, 3);
  const TrainRun resumed = train(narrow, Device::cpu, MPI_COMM_SELF, 1, 6);
  expect_losses_close(resumed.losses, tail(ref.losses, 3), kLossRel);
  expect_params_close(resumed.params, ref.params, kParamTol);
}

// ZeRO-1 (AdamW state sharded over DP ranks) trains the same model as plain DP, and its
// checkpoints resume without it.
TEST_F(LayoutTest, ZeroOneMatchesPlainDataParallel) {
  if (world_size() < 2) GTEST_SKIP() << "ZeRO-1 needs at least 2 DP ranks";
  const TrainRun plain = train(config("plain"), Device::cpu, MPI_COMM_WORLD, 1, 6);
  RunConfig zero = config("zero1");
  zero.zero1 = true;
  const TrainRun first = train(zero, Device::cpu, MPI_COMM_WORLD, 1, 3, 3);
  zero.resume = "auto";
  const TrainRun second = train(zero, Device::cpu, MPI_COMM_WORLD, 1, 6);
  std::vector<double> losses = first.losses;
  losses.insert(losses.end(), second.losses.begin(), second.losses.end());
  expect_losses_close(losses, plain.losses, kLossRel);
  expect_params_close(second.params, plain.params, kParamTol);
  // With TP as well (DP 2 × TP 2 on 4 ranks): each TP rank shards its own slices over DP.
  if (world_size() % 4 == 0) {
    RunConfig zero_tp = config("zero1_tp2");
    zero_tp.zero1 = true;
    const TrainRun both = train(zero_tp, Device::cpu, MPI_COMM_WORLD, 2, 6, 6);
    expect_losses_close(both.losses, plain.losses, kLossRel);
    expect_params_close(load_whole(zero_tp, checkpoint_path(zero_tp, 6)), plain.params, kParamTol);
  }
  // The ZeRO-1 checkpoint holds whole moments: a single rank without ZeRO resumes from it.
  RunConfig single = config("after_zero_" + std::to_string(world_rank()));
  single.resume = checkpoint_path(zero, 3);
  const TrainRun resumed = train(single, Device::cpu, MPI_COMM_SELF, 1, 6);
  expect_losses_close(resumed.losses, tail(plain.losses, 3), kLossRel);
  expect_params_close(resumed.params, plain.params, kParamTol);
}

// Gradients reduced per layer during backward (the default) or in buckets after it: the same
// training, whatever the packing of micro-batches over ranks (several per step here).
TEST_F(LayoutTest, OverlappedReductionMatchesReductionAfterBackward) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 DP ranks";
  RunConfig after = config("after");
  after.overlap_grad_reduce = false;
  after.micro_batch_tokens = 96;
  RunConfig during = config("during");
  during.micro_batch_tokens = 96;
  const TrainRun a = train(after, Device::cpu, MPI_COMM_WORLD, 1, 6);
  const TrainRun b = train(during, Device::cpu, MPI_COMM_WORLD, 1, 6);
  expect_losses_close(b.losses, a.losses, 1e-6);
  expect_params_close(b.params, a.params, 1e-5);
}

}  // namespace
}  // namespace sr
