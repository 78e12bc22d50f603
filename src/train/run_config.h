// RunConfig: every setting of a training run, grouped as the INI sections
// ([model], [train], [data], [parallel], [checkpoint]) and named as their keys.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace sr {

struct RunShape;     // model/transformer.h
struct AdamWConfig;  // train/optimizer.h

// train.precision: auto (bf16 on cuda, f32 on cpu), f32 or bf16.
enum class Precision { automatic, f32, bf16 };
Precision parse_precision(const std::string& s);  // UserError naming train.precision otherwise
const char* precision_name(Precision p);
Device parse_device(const std::string& s);  // UserError naming parallel.device otherwise

struct RunConfig {
  ModelConfig model;
  Recompute recompute = Recompute::none;  // model.recompute: none|attn|full|except_attention
  int64_t lm_head_chunk = 1024;     // model.lm_head_chunk: tokens per LM-head/loss chunk

  int64_t steps = 100;
  int64_t global_batch_tokens = 4096;
  int64_t micro_batch_tokens = 1024;
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup_steps = 10;
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip = 1.0;           // 0 disables clipping
  uint64_t seed = 1234;
  double init_std = 0.02;
  int64_t log_every = 1;
  std::string out_dir = "runs/default";
  int threads = 0;                  // CPU threads per rank; 0 = cores / ranks on the node
  double peak_tflops = 989.0;       // the card's dense bf16 peak, for MFU (H100 SXM)
  Precision precision = Precision::automatic;  // train.precision
  bool deterministic = false;       // bitwise-reproducible GPU attention backward (slower)
  bool cudnn_attention = true;      // cuDNN's fused attention where the build has it
  bool profile = false;             // print device time per op kind (bench train, train)
  int64_t eval_every = 0;           // steps between held-out evaluations (0 = none)
  int64_t eval_tokens = 65536;      // tokens of data.eval_path each evaluation reads
  // Held-out synthetic tasks read by the Smooth Reading loop at each evaluation (smoothread
  // eval's test split), their accuracy logged: samples per task and length (0 = none).
  int64_t eval_samples = 0;
  std::string eval_tasks = "passkey";     // comma-separated task names (data synth --task)
  std::string eval_context_tokens = "4k";  // comma-separated context lengths
  std::string eval_mode = "sr";           // sr, one-round or multi-round

  std::string data_path;
  std::string eval_path;            // data.eval_path: held-out token dataset (train.eval_every)
  bool shuffle = true;
  bool truncate_long = false;
  int prefetch_steps = 2;

  int tp = 1;
  bool zero1 = false;
  bool overlap_grad_reduce = true;  // reduce each layer's DP gradients while backward goes on
  Device device = Device::cpu;      // parallel.device: cpu|cuda
  double watchdog_seconds = 300;

  int64_t checkpoint_every = 0;     // 0: only at the end and on preemption
  int64_t keep_last = 2;
  int64_t keep_every = 0;           // also keep every K-th step's checkpoint (0: none)
  std::string resume = "auto";      // auto|none|PATH
  bool overwrite = false;           // a run from scratch may delete another run's checkpoints
  std::string init_from;            // a run from scratch starts from this checkpoint's weights
};

// The compute dtype a run uses: bf16 on CUDA unless precision says f32; always f32 on CPU.
inline bool computes_in_bf16(const RunConfig& c) {
  return c.device == Device::cuda && c.precision != Precision::f32;
}

// The model's run shape (micro-batch tokens, LM-head chunk, recompute, device, compute dtype)
// and the AdamW settings of a run: the one translation used by `train` and `bench train`.
RunShape run_shape(const RunConfig& c);
AdamWConfig adamw_config(const RunConfig& c);

}  // namespace sr
