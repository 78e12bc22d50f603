// `smoothread bench train`: training-step throughput of a config on synthetic tokens, without
// reading a dataset: forward, backward and the AdamW update of one micro-batch holding one
// sample; tokens/s, achieved TFLOP/s and MFU (over train.peak_tflops per rank).
#include <omp.h>

#include <algorithm>
#include <cstdio>

#include "cli/bench_train.h"
#include "cli/commands.h"
#include "cli/config_loader.h"
#include "comm/process_grid.h"
#include "core/log.h"
#include "core/threads.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dataset/batch.h"
#include "core/device_memory.h"
#include "kernels/profile.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace sr {

TrainBenchResult measure_training_step(const RunConfig& cfg, ProcessGrid& grid, bool verbose) {
  const RunShape shape = run_shape(cfg);
  Transformer model(cfg.model, shape, {grid.tp_group.get(), grid.tp_rank, grid.tp});
  model.init_parameters(cfg.seed, float(cfg.init_std));
  AdamW optimizer(adamw_config(cfg), model.specs(), whole_segments(model.specs()), shape.device);
  if (verbose) {
    info("bench train: %s", cfg.model.summary().c_str());
    info("memory plan per rank: %s, optimizer %s", model.memory_plan().c_str(),
         format_bytes(optimizer.bytes()).c_str());
  }

  // One sample filling the micro-batch: the shape whose cost the FLOP count describes.
  Batch b;
  std::vector<uint32_t> ids(static_cast<size_t>(cfg.micro_batch_tokens));
  std::vector<uint8_t> mask(ids.size(), 1);
  Rng rng(cfg.seed, 99);
  for (auto& x : ids) x = uint32_t(rng.below(uint64_t(cfg.model.vocab_size)));
  b.append_sample(0, ids.data(), mask.data(), int64_t(ids.size()));
  model.set_batch(ModelBatch(b), 1.0f / float(b.num_targets()));

  // One untimed warm-up step, unless a single step is asked for (memory measurements of
  // long samples, where every step is expensive).
  const int64_t steps = std::max<int64_t>(1, cfg.steps), warmup = steps > 1 ? 1 : 0;
  // A training step without data or gradient reduction: forward, backward, AdamW (which also
  // writes the bf16 compute weights), as the trainer does without ZeRO-1.
  auto step = [&] {
    model.zero_grads();
    model.forward_backward(true);
    optimizer.step(model.params().all, model.grads().all, float(cfg.lr), 1.0f,
                   model.separate_compute_weights());
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  device_synchronize(shape.device);
  grid.host_world->barrier("start of the timed steps");
  if (cfg.profile) ops::profile_start(shape.device);
  Timer t;
  for (int64_t i = 0; i < steps; ++i) step();
  device_synchronize(shape.device);
  const double seconds_this_rank = t.seconds();
  grid.host_world->barrier("end of the timed steps");
  const double seconds = t.seconds();

  TrainBenchResult r;
  if (cfg.profile) r.profile = ops::profile_table(ops::profile_stop(), seconds_this_rank, steps);
  r.seconds_per_step = seconds / double(steps);
  r.tokens_per_s = double(cfg.micro_batch_tokens) * double(steps) * grid.dp / seconds;
  r.tflops = cfg.model.train_flops_per_token(cfg.micro_batch_tokens) * r.tokens_per_s / 1e12;
  r.mfu = r.tflops / (cfg.peak_tflops * grid.world_size);
  if (shape.device == Device::cuda) {
    size_t used = 0, total = 0;
    cuda_memory_info(used, total);
    r.memory_gib = double(used) / double(size_t(1) << 30);
  }
  return r;
}

int bench_train(const std::vector<std::string>& raw_args) {
  // `--profile` is short for `--train.profile true`.
  std::vector<std::string> args;
  for (const std::string& a : raw_args) {
    if (a == "--profile") {
      args.push_back("--train.profile");
      args.push_back("true");
    } else {
      args.push_back(a);
    }
  }
  LoadedConfig loaded = load_run_config("bench train", args);
  if (loaded.help) return kExitOk;
  const RunConfig& cfg = loaded.run;
  cfg.model.validate(cfg.tp);
  auto grid = make_process_grid(cfg.tp, cfg.device, cfg.watchdog_seconds);
  omp_set_num_threads(threads_per_rank(cfg.threads, grid->local_size));
  const TrainBenchResult r = measure_training_step(cfg, *grid, true);
  if (cfg.profile) info("bench train: device time per op kind (rank 0)\n%s", r.profile.c_str());
  info("bench train: device %s, %d ranks (dp %d, tp %d), %lld tokens/micro-batch, window %lld, "
       "recompute %s: %.3f s/step, %.0f tokens/s, %.3f TFLOP/s, MFU %.2f%% of %.0f TFLOP/s per rank",
       device_name(cfg.device), grid->world_size, grid->dp, grid->tp, (long long)cfg.micro_batch_tokens,
       (long long)cfg.model.sliding_window, recompute_name(cfg.recompute), r.seconds_per_step,
       r.tokens_per_s, r.tflops, 100.0 * r.mfu, cfg.peak_tflops);
  if (cfg.device == Device::cuda)
    info("bench train: GPU memory in use after the steps %.2f GiB (precision %s)", r.memory_gib,
         computes_in_bf16(cfg) ? "bf16" : "f32");
  return kExitOk;
}

}  // namespace sr
