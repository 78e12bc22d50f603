// Trainer: the training loop. Each step reads this rank's share of a global batch, runs
// forward/backward over its micro-batches (gradients accumulate, weighted by 1 / the global
// batch's target count), reduces gradients over DP ranks in buckets, clips by the global norm,
// and updates with AdamW on the learning-rate schedule. Rank 0 prints a progress line and
// appends a JSON line per step to <out_dir>/metrics.jsonl. With train.eval_every, every that
// many steps the loss on a fixed held-out set (data.eval_path) is logged there as well.
#pragma once
#include <cstdio>
#include <functional>
#include <memory>

#include "comm/process_grid.h"
#include "core/json.h"
#include "dataset/loader.h"
#include "model/transformer.h"
#include "train/checkpoint.h"
#include "train/grad_sync.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace sr {

struct StepResult {
  int64_t step = 0;        // 1-based number of the step just taken
  double loss = 0;         // mean cross-entropy over the global batch's targets
  double grad_norm = 0;    // before clipping
  double lr = 0;
  int64_t tokens = 0;      // tokens of the global batch
  int64_t targets = 0;     // trained tokens of the global batch
  double flops = 0;        // model FLOPs of the step (train_flops_per_token at each sample's length)
  bool skipped = false;    // non-finite loss or gradients: no update
};

struct EvalResult {
  double loss = 0;       // mean cross-entropy over the held-out set's targets
  int64_t tokens = 0;    // tokens of the held-out set (all DP ranks)
  int64_t targets = 0;   // its trained tokens
};

// Steps in a row whose loss or gradients are not finite before the run stops with an error.
constexpr int64_t kMaxConsecutiveSkipped = 5;

class Trainer {
 public:
  Trainer(const RunConfig& cfg, ProcessGrid& grid);
  ~Trainer();

  StepResult train_step();
  // Collective over DP: forward only over the held-out set (data.eval_path), the same samples
  // every time; needs data.eval_path. Gradients, optimizer and training data are untouched.
  EvalResult evaluate();
  // Trains until cfg.steps; returns the process exit code.
  int run();

  // An evaluation beside the held-out loss, run at every train.eval_every-th step on every rank
  // (collective as the model is): returns the fields logged on that step's metrics line, e.g.
  // the accuracy of held-out tasks read with the model's current weights.
  using SampleEval = std::function<Json(const Transformer& model)>;
  void set_sample_eval(SampleEval fn) { sample_eval_ = std::move(fn); }
  // The model's tokenizer: identity ("bpe-<hash>"; empty or "byte" for the byte tokenizer)
  // and, where this run holds it, the tokenizer.json text (empty otherwise).
  const std::string& tokenizer_identity() const { return tokenizer_; }
  const std::string& tokenizer_json() const { return tokenizer_json_; }

  // Collective: writes a checkpoint of the current step.
  std::string save();
  int64_t step() const { return step_; }
  Transformer& model() { return *model_; }
  AdamW& optimizer() { return *optimizer_; }
  Loader& loader() { return *loader_; }
  const RunConfig& config() const { return cfg_; }

 private:
  void log_step(const StepResult& r, double step_seconds);
  void log_eval(const EvalResult& e, double seconds);
  void log_sample_eval(const Json& fields, double seconds);
  // The one writer of metrics.jsonl (rank 0): one JSON record per call.
  void write_metrics(const Json& record);  // one line of metrics.jsonl

  RunConfig cfg_;
  ProcessGrid& grid_;
  std::unique_ptr<RunDirLock> lock_;  // held while this run uses out_dir
  std::string run_id_;                // of the checkpoints this run writes
  // The model's tokenizer, carried into every checkpoint this run writes: the resumed or
  // init_from checkpoint's (identity and tokenizer.json), else the training data's identity.
  std::string tokenizer_, tokenizer_json_;
  SampleEval sample_eval_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<Loader> loader_;
  std::unique_ptr<GradSync> grad_sync_;
  // This DP rank's micro-batches of the held-out set: the first train.eval_tokens of
  // data.eval_path in file order, split over DP ranks as a training global batch is.
  std::vector<Batch> eval_batches_;
  int64_t eval_tokens_ = 0, eval_targets_ = 0;  // of the whole held-out set
  LrSchedule schedule_;
  int64_t step_ = 0;
  int64_t skipped_steps_ = 0;
  int64_t consecutive_skipped_ = 0;  // the run stops after kMaxConsecutiveSkipped of them
  double train_seconds_ = 0;
  int64_t tokens_seen_ = 0;
  std::FILE* metrics_ = nullptr;
};

}  // namespace sr
