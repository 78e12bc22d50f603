// Layout invariance and exact resume, under mpirun with 1, 2 and 4 ranks: any (DP, TP) layout
// computes the losses and parameters of one rank with the same global batch, and a run that is
// checkpointed and resumed continues bit for bit (same layout) or to float tolerance (another).
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "comm/process_grid.h"
#include "core/rng.h"
#include "dataset/token_dataset.h"
#include "train/trainer.h"

namespace sr {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// A shared scratch directory with a small dataset of random samples (lengths 20..90).
class LayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char buf[256] = {0};
    if (world_rank() == 0) {
      std::string d = (std::filesystem::temp_directory_path() /
                       ("sr_layout_" + std::to_string(::getpid()) + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                          .string();
      std::filesystem::create_directories(d);
      TokenDatasetWriter w(d + "/data.h5", 40, "test");
      Rng rng(77, 1);
      for (int s = 0; s < 48; ++s) {
        const size_t n = size_t(rng.range(20, 90));
        std::vector<uint32_t> ids(n);
        std::vector<uint8_t> mask(n, 1);
        for (auto& x : ids) x = uint32_t(rng.below(40));
        mask[0] = 0;
        w.add_sample(ids, mask);
      }
      w.close();
      std::snprintf(buf, sizeof buf, "%s", d.c_str());
    }
    MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, MPI_COMM_WORLD);
    dir_ = buf;
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) std::filesystem::remove_all(dir_);
  }

  RunConfig config(const std::string& out) const {
    RunConfig c;
    c.model.hidden_size = 32;
    c.model.num_hidden_layers = 2;
    c.model.num_attention_heads = 4;
    c.model.num_key_value_heads = 4;
    c.model.intermediate_size = 48;
    c.model.vocab_size = 48;
    c.model.rope_theta = 10000;
    c.model.sliding_window = 16;
    c.lm_head_chunk = 64;
    c.steps = 6;
    c.global_batch_tokens = 400;
    c.micro_batch_tokens = 128;
    c.lr = 2e-3;
    c.min_lr = 2e-4;
    c.warmup_steps = 2;
    c.grad_clip = 1.0;
    c.prefetch_steps = 1;
    c.data_path = dir_ + "/data.h5";
    c.out_dir = dir_ + "/" + out;
    c.resume = "none";
    c.watchdog_seconds = 60;
    return c;
  }

  std::string dir_;
};

struct TrainRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> params;  // local slices, in spec order
};

TrainRun train(const RunConfig& cfg, MPI_Comm comm, int tp, int64_t steps, bool save_at_end) {
  auto grid = make_process_grid(tp, Device::cpu, cfg.watchdog_seconds, comm);
  Trainer t(cfg, *grid);
  TrainRun r;
  while (t.step() < steps) r.losses.push_back(t.train_step().loss);
  if (save_at_end) t.save();
  for (const Tensor& p : t.model().params().all) r.params.emplace_back(p.f32(), p.f32() + p.numel());
  return r;
}

// The whole parameters of a checkpoint, reassembled on one rank (loads re-slice any layout).
std::vector<std::vector<float>> load_whole(RunConfig cfg, const std::string& checkpoint) {
  cfg.resume = checkpoint;
  cfg.out_dir += "_reader_" + std::to_string(world_rank());
  auto grid = make_process_grid(1, Device::cpu, cfg.watchdog_seconds, MPI_COMM_SELF);
  Trainer t(cfg, *grid);
  std::vector<std::vector<float>> out;
  for (const Tensor& p : t.model().params().all) out.emplace_back(p.f32(), p.f32() + p.numel());
  return out;
}

void expect_close(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b,
                  double tol) {
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    for (size_t k = 0; k < a[i].size(); ++k) worst = std::max(worst, double(std::fabs(a[i][k] - b[i][k])));
  }
  EXPECT_LE(worst, tol);
}

void expect_losses_close(const std::vector<double>& a, const std::vector<double>& b, double rel) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], rel * std::fabs(b[i])) << "step " << i + 1;
}

// Every TP size that divides the world (and the 4 heads) against one rank.
TEST_F(LayoutTest, EveryLayoutMatchesOneRank) {
  RunConfig ref_cfg = config("single_" + std::to_string(world_rank()));
  const TrainRun ref = train(ref_cfg, MPI_COMM_SELF, 1, 6, false);
  for (int tp = 1; tp <= world_size(); tp *= 2) {
    if (world_size() % tp) continue;
    RunConfig cfg = config("tp" + std::to_string(tp));
    const TrainRun run = train(cfg, MPI_COMM_WORLD, tp, 6, true);
    SCOPED_TRACE("dp " + std::to_string(world_size() / tp) + " x tp " + std::to_string(tp));
    expect_losses_close(run.losses, ref.losses, 1e-5);
    expect_close(load_whole(ref_cfg, cfg.out_dir + "/checkpoints/step_00000006"), ref.params, 2e-5);
  }
}

// Train 6 steps straight, or 3, checkpoint, resume, 3 more: bit-identical on CPU.
TEST_F(LayoutTest, ResumeIsBitwiseExactInTheSameLayout) {
  const int tp = world_size() >= 2 ? 2 : 1;
  const TrainRun straight = train(config("straight"), MPI_COMM_WORLD, tp, 6, false);
  RunConfig cfg = config("interrupted");
  const TrainRun first = train(cfg, MPI_COMM_WORLD, tp, 3, true);
  cfg.resume = "auto";
  const TrainRun second = train(cfg, MPI_COMM_WORLD, tp, 6, false);
  std::vector<double> losses = first.losses;
  losses.insert(losses.end(), second.losses.begin(), second.losses.end());
  EXPECT_EQ(losses, straight.losses);
  EXPECT_EQ(second.params, straight.params);
}

// Save in the world's layout (DP × TP), resume on one rank: float tolerance.
TEST_F(LayoutTest, ResumeInAnotherLayout) {
  const int tp = world_size() >= 2 ? 2 : 1;
  RunConfig ref_cfg = config("single_" + std::to_string(world_rank()));
  const TrainRun ref = train(ref_cfg, MPI_COMM_SELF, 1, 6, false);
  RunConfig cfg = config("wide");
  train(cfg, MPI_COMM_WORLD, tp, 3, true);
  RunConfig narrow = config("narrow_" + std::to_string(world_rank()));
  narrow.resume = cfg.out_dir + "/checkpoints/step_00000003";
  const TrainRun resumed = train(narrow, MPI_COMM_SELF, 1, 6, false);
  expect_losses_close(resumed.losses, std::vector<double>(ref.losses.begin() + 3, ref.losses.end()), 1e-5);
  expect_close(resumed.params, ref.params, 2e-5);
}

}  // namespace
}  // namespace sr

namespace sr {
namespace {

// ZeRO-1 (AdamW state sharded over DP ranks) trains the same model as plain DP, and its
// checkpoints resume without it.
TEST_F(LayoutTest, ZeroOneMatchesPlainDataParallel) {
  if (world_size() < 2) GTEST_SKIP() << "ZeRO-1 needs at least 2 DP ranks";
  RunConfig plain = config("plain");
  const TrainRun a = train(plain, MPI_COMM_WORLD, 1, 6, false);
  RunConfig zero = config("zero1");
  zero.zero1 = true;
  const TrainRun b = train(zero, MPI_COMM_WORLD, 1, 3, true);
  zero.resume = "auto";
  const TrainRun c = train(zero, MPI_COMM_WORLD, 1, 6, true);
  std::vector<double> losses = b.losses;
  losses.insert(losses.end(), c.losses.begin(), c.losses.end());
  expect_losses_close(losses, a.losses, 1e-5);
  expect_close(c.params, a.params, 2e-5);
  // The ZeRO-1 checkpoint holds whole moments: a single rank without ZeRO resumes from it.
  RunConfig single = config("after_zero_" + std::to_string(world_rank()));
  single.resume = zero.out_dir + "/checkpoints/step_00000003";
  const TrainRun d = train(single, MPI_COMM_SELF, 1, 6, false);
  expect_losses_close(d.losses, std::vector<double>(a.losses.begin() + 3, a.losses.end()), 1e-5);
  expect_close(d.params, a.params, 2e-5);
}

}  // namespace
}  // namespace sr

namespace sr {
namespace {

// Gradients reduced per layer during backward (the default) or in buckets after it: the same
// training, whatever the packing of micro-batches over ranks (several per step here).
TEST_F(LayoutTest, OverlappedReductionMatchesReductionAfterBackward) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 DP ranks";
  RunConfig after = config("after");
  after.overlap_grad_reduce = false;
  after.micro_batch_tokens = 96;
  RunConfig during = config("during");
  during.micro_batch_tokens = 96;
  const TrainRun a = train(after, MPI_COMM_WORLD, 1, 6, false);
  const TrainRun b = train(during, MPI_COMM_WORLD, 1, 6, false);
  expect_losses_close(b.losses, a.losses, 1e-6);
  expect_close(b.params, a.params, 1e-5);
}

}  // namespace
}  // namespace sr
