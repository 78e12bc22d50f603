// Helpers of the tests that train under mpirun (tests/mpi/test_layout.cpp on CPU,
// tests/gpu/test_nccl.cpp on GPUs): a scratch directory with a small random dataset, training
// a few steps in a given layout, and reassembling whole parameters from a checkpoint.
#pragma once
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "comm/process_grid.h"
#include "core/rng.h"
#include "dataset/token_dataset.h"
#include "core/device_memory.h"
#include "train/trainer.h"

namespace sr::traintest {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// A directory shared by all ranks with data.h5: 48 random samples of 20..90 tokens below
// `vocab`, written by rank 0; removed after the test.
class ScratchDataset : public ::testing::Test {
 protected:
  ScratchDataset(uint32_t vocab, uint64_t seed) : vocab_(vocab), seed_(seed) {}
  void SetUp() override {
    char buf[256] = {0};
    if (world_rank() == 0) {
      const std::string d = (std::filesystem::temp_directory_path() /
                             ("sr_train_" + std::to_string(::getpid()) + "_" +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                                .string();
      std::filesystem::create_directories(d);
      TokenDatasetWriter w(d + "/data.h5", vocab_, "test");
      Rng rng(seed_, 1);
      for (int s = 0; s < 48; ++s) {
        const size_t n = size_t(rng.range(20, 90));
        std::vector<uint32_t> ids(n);      // [n]
        std::vector<uint8_t> mask(n, 1);  // [n]
        for (auto& x : ids) x = uint32_t(rng.below(vocab_));
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
    if (world_rank() == 0 && !dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Run settings shared by the layout tests: 6 short steps, several samples per step.
  RunConfig run_config(const std::string& out) const {
    RunConfig c;
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

  uint32_t vocab_;
  uint64_t seed_;
  std::string dir_;
};

struct TrainRun {
  std::vector<double> losses;              // of the steps taken in this run
  std::vector<std::vector<float>> params;  // local slices in spec order, on the host
};

inline std::vector<float> to_host(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));  // [numel]
  device_copy(Device::cpu, v.data(), t.device, t.data, v.size() * sizeof(float));
  return v;
}

// Trains to `steps` over `comm` (DP × TP with the given TP) on `device`, checkpointing after
// step `save_at` (0: never).
inline TrainRun train(RunConfig cfg, Device device, MPI_Comm comm, int tp, int64_t steps,
                      int64_t save_at = 0) {
  cfg.device = device;
  cfg.tp = tp;
  auto grid = make_process_grid(tp, device, cfg.watchdog_seconds, comm);
  Trainer t(cfg, *grid);
  TrainRun r;
  while (t.step() < steps) {
    r.losses.push_back(t.train_step().loss);
    if (t.step() == save_at) t.save();
  }
  for (const Tensor& p : t.model().params().all) r.params.push_back(to_host(p));
  return r;
}

inline std::string checkpoint_path(const RunConfig& cfg, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", (long long)step);
  return cfg.out_dir + "/checkpoints/" + name;
}

// The whole parameters of a checkpoint, reassembled by one CPU rank of its own (loads
// re-slice any layout).
inline std::vector<std::vector<float>> load_whole(RunConfig cfg, const std::string& checkpoint) {
  cfg.resume = checkpoint;
  cfg.out_dir += "_reader_" + std::to_string(world_rank());
  cfg.device = Device::cpu;
  cfg.precision = Precision::automatic;
  auto grid = make_process_grid(1, Device::cpu, cfg.watchdog_seconds, MPI_COMM_SELF);
  Trainer t(cfg, *grid);
  std::vector<std::vector<float>> out;
  for (const Tensor& p : t.model().params().all) out.push_back(to_host(p));
  return out;
}

// Largest element difference at most `tol`.
inline void expect_params_close(const std::vector<std::vector<float>>& got,
                                const std::vector<std::vector<float>>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "parameter " << i;
    for (size_t k = 0; k < got[i].size(); ++k)
      worst = std::max(worst, double(std::fabs(got[i][k] - want[i][k])));
  }
  EXPECT_LE(worst, tol);
}

inline void expect_losses_close(const std::vector<double>& got, const std::vector<double>& want,
                                double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * std::fabs(want[i])) << "step " << i + 1;
}

inline std::vector<double> tail(const std::vector<double>& v, size_t from) {
  return std::vector<double>(v.begin() + std::ptrdiff_t(from), v.end());
}

}  // namespace sr::traintest
