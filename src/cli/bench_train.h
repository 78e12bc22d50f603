// One training-step measurement, shared by `bench train` and `bench compare`.
#pragma once
#include <string>

#include "comm/process_grid.h"
#include "train/run_config.h"

namespace sr {

struct TrainBenchResult {
  double seconds_per_step = 0;
  double tokens_per_s = 0;     // over all DP ranks
  double tflops = 0;           // model FLOPs (6·N + in-window attention) per second, all ranks
  double mfu = 0;              // tflops / (peak per rank · ranks)
  double memory_gib = 0;       // GPU memory in use on this rank after the steps (0 on CPU)
  std::string profile;         // the per-op table when cfg.profile
};

// Builds the model of cfg and times cfg.steps steps (forward, backward, AdamW, bf16 refresh)
// of one synthetic sample filling train.micro_batch_tokens, after one warm-up step.
TrainBenchResult measure_training_step(const RunConfig& cfg, ProcessGrid& grid, bool verbose);

}  // namespace sr
