#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "core/log.h"
#include "core/timer.h"
#include "dataset/chunker.h"
#include "kernels/ops.h"
#include "kernels/profile.h"
#include "train/preemption.h"

namespace sr {

namespace {
std::string format_duration(double s) {
  char buf[32];
  const long t = long(s + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

LoaderConfig loader_config(const RunConfig& c) {
  if (c.data_path.empty()) throw UserError("data.path is not set: expected a token dataset (.h5)");
  LoaderConfig lc;
  lc.path = c.data_path;
  lc.seed = c.seed;
  lc.shuffle = c.shuffle;
  lc.global_batch_tokens = c.global_batch_tokens;
  lc.micro_batch_tokens = c.micro_batch_tokens;
  lc.truncate_long = c.truncate_long;
  lc.prefetch_steps = c.prefetch_steps;
  lc.model_vocab_size = uint32_t(c.model.vocab_size);
  return lc;
}
// Reading data whose chunks are longer than the window teaches the model to summarise what it
// cannot hold (the paper's ablation: accuracy collapses there). Said once at start, on rank 0;
// not refused, since a user may mean it.
void warn_if_chunks_exceed_window(const TokenDataset& d, int64_t window) {
  if (window <= 0) return;
  const auto attrs = d.attributes();
  const auto fmt = attrs.find("trajectory_format"), chunks = attrs.find("chunk_tokens");
  if (fmt == attrs.end() || chunks == attrs.end() || fmt->second == "one-round") return;
  ChunkBudgetRange range;
  try {
    range = parse_chunk_budget_range(chunks->second, "chunk_tokens");
  } catch (const UserError&) {
    return;  // an attribute written by another tool: nothing to compare
  }
  if (int64_t(range.max) > window && log_rank() == 0)
    warn("%s: chunks of up to %zu tokens (%s) are longer than the model's %lld-token window: "
         "the model cannot hold what it reads (rebuild the data with --chunk-tokens at most %lld)",
         d.path().c_str(), range.max, chunks->second.c_str(), (long long)window, (long long)window);
}

}  // namespace

Trainer::Trainer(const RunConfig& cfg, ProcessGrid& grid) : cfg_(cfg), grid_(grid) {
  // A file size limit (ulimit -f) then fails the write that exceeds it (EFBIG), which the
  // checkpoint code reports, instead of killing the rank with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  // First: a second run on this out_dir stops here, before it reads or writes anything there.
  lock_ = std::make_unique<RunDirLock>(cfg_.out_dir, grid_);
  RunShape shape = run_shape(cfg_);
  shape.param_flat_multiple = GradSync::flat_multiple(grid_, cfg_.zero1);
  TensorParallel tp{grid_.tp_group.get(), grid_.tp_rank, grid_.tp};
  model_ = std::make_unique<Transformer>(cfg_.model, shape, tp);
  model_->init_parameters(cfg_.seed, float(cfg_.init_std));
  grad_sync_ = std::make_unique<GradSync>(*model_, grid_, cfg_.zero1, cfg_.overlap_grad_reduce);
  optimizer_ = std::make_unique<AdamW>(adamw_config(cfg_), model_->specs(),
                                       grad_sync_->owned_segments(), shape.device);
  schedule_ = {cfg_.lr, cfg_.min_lr, cfg_.warmup_steps, cfg_.steps};

  TrainState resumed;
  const bool was_resumed = load_checkpoint(cfg_.out_dir, cfg_.resume, cfg_.overwrite, grid_,
                                           *model_, *optimizer_, resumed);
  run_id_ = resumed.run_id;
  std::string tokenizer_source;  // the checkpoint whose tokenizer the data must have
  if (was_resumed) {
    step_ = resumed.step;
    model_->refresh_weights();
    tokenizer_source = "the resumed checkpoint (step " + std::to_string(step_) + ")";
  }
  // A run of its own (never a resumed one) may start from another checkpoint's weights.
  if (!was_resumed && !cfg_.init_from.empty()) {
    load_checkpoint_params(cfg_.init_from, grid_, *model_, &resumed);
    model_->refresh_weights();
    tokenizer_source = "checkpoint.init_from = " + cfg_.init_from;
    info("checkpoint.init_from: starting at step 0 with fresh optimizer state");
  }
  tokenizer_ = resumed.tokenizer;
  tokenizer_json_ = resumed.tokenizer_json;

  loader_ = std::make_unique<Loader>(loader_config(cfg_), grid_.dp_rank, grid_.dp, resumed.data);
  // Token ids mean nothing in another vocabulary: the data must be tokenized as the model was.
  if (!tokenizer_source.empty()) {
    const std::string have = checkpoint_tokenizer_name(resumed), data = loader_->dataset().tokenizer();
    if (data != have)
      throw UserError("data.path " + cfg_.data_path + " has tokenizer '" + data + "' but " + tokenizer_source +
                      " has tokenizer '" + have + "': tokenize the data with the checkpoint's tokenizer" +
                      (tokenizer_json_.empty() ? std::string() : " (its tokenizer.json)"));
  } else if (loader_->dataset().tokenizer() != "byte") {
    tokenizer_ = loader_->dataset().tokenizer();  // a run from scratch learns the data's vocabulary
  }
  warn_if_chunks_exceed_window(loader_->dataset(), cfg_.model.sliding_window);

  if (!cfg_.eval_path.empty()) {
    // The held-out set: the first global batch of eval_tokens of the file in its order, read
    // once, with the checks of data.path. The same samples whatever the DP layout.
    try {
      LoaderConfig ec = loader_config(cfg_);
      ec.path = cfg_.eval_path;
      ec.shuffle = false;
      ec.global_batch_tokens = cfg_.eval_tokens;
      ec.prefetch_steps = 0;
      Loader eval(ec, grid_.dp_rank, grid_.dp, LoaderState{});
      const TokenDataset &e = eval.dataset(), &d = loader_->dataset();
      if (e.vocab_size() != d.vocab_size() || e.tokenizer() != d.tokenizer())
        throw UserError(cfg_.eval_path + ": tokenizer '" + e.tokenizer() + "' with vocab_size " +
                        std::to_string(e.vocab_size()) + ", but data.path " + d.path() +
                        " has tokenizer '" + d.tokenizer() + "' with vocab_size " +
                        std::to_string(d.vocab_size()) +
                        ": the held-out set must be tokenized as the training data");
      eval_batches_ = eval.next_step();
    } catch (const UserError& err) {
      throw UserError(std::string("data.eval_path: ") + err.what());
    }
    int64_t counts[2] = {0, 0};  // tokens, targets of the held-out set
    for (const Batch& b : eval_batches_) {
      counts[0] += b.num_tokens();
      counts[1] += b.num_targets();
    }
    grid_.host_dp->all_reduce(counts, 2, ReduceOp::sum, "tokens and targets of the held-out set");
    eval_tokens_ = counts[0];
    eval_targets_ = counts[1];
    if (eval_targets_ == 0)
      throw UserError("data.eval_path: " + cfg_.eval_path + ": its first " +
                      std::to_string(eval_tokens_) +
                      " tokens have no trained tokens (a loss mask of zeros, or samples of one "
                      "token): there is no loss to evaluate");
  }

  info("model: %s", cfg_.model.summary().c_str());
  info("memory plan per rank: %s, optimizer %s", model_->memory_plan().c_str(),
       format_bytes(optimizer_->bytes()).c_str());
  info("data: %s (%llu samples, %llu tokens)", cfg_.data_path.c_str(),
       (unsigned long long)loader_->dataset().num_samples(),
       (unsigned long long)loader_->dataset().num_tokens());
  if (!cfg_.eval_path.empty())
    info("eval data: %s (the first %lld tokens, %lld of them targets)%s", cfg_.eval_path.c_str(),
         (long long)eval_tokens_, (long long)eval_targets_,
         cfg_.eval_every > 0 ? "" : "; not evaluated: train.eval_every = 0");
  if (grid_.world_rank == 0) {
    // A run from scratch starts the metrics afresh; a resumed one appends.
    const std::string path = cfg_.out_dir + "/metrics.jsonl";
    metrics_ = std::fopen(path.c_str(), was_resumed ? "a" : "w");
    if (!metrics_) throw UserError(path + ": cannot open for writing: " + errno_text());
  }
}

Trainer::~Trainer() {
  if (metrics_) std::fclose(metrics_);
}

StepResult Trainer::train_step() {
  StepResult r;
  r.step = step_ + 1;
  const std::vector<Batch> batches = loader_->next_step();
  int64_t counts[2] = {0, 0};  // tokens, targets of this rank's share
  for (const Batch& b : batches) {
    counts[0] += b.num_tokens();
    counts[1] += b.num_targets();
  }
  grid_.host_dp->all_reduce(counts, 2, ReduceOp::sum, "tokens and targets of the step");
  r.tokens = counts[0];
  r.targets = counts[1];
  // The same on every rank (summed above), so all of them stop here together.
  if (r.targets == 0)
    throw UserError(cfg_.data_path + ": step " + std::to_string(r.step) + "'s global batch of " +
                    std::to_string(r.tokens) +
                    " tokens has no trained tokens (a loss mask of zeros, or samples of one "
                    "token): there is nothing to learn from this data");

  model_->zero_grads();
  // Σ cross-entropy and the step's model FLOPs (each sample's attention counted at its length).
  double sums[2] = {0, 0};
  for (const Batch& b : batches)
    for (size_t s = 0; s + 1 < b.cu_seqlens.size(); ++s) {
      const int64_t n = b.cu_seqlens[s + 1] - b.cu_seqlens[s];
      sums[1] += double(n) * cfg_.model.train_flops_per_token(n);
    }
  const float scale = r.targets > 0 ? 1.0f / float(r.targets) : 0.0f;
  // With overlap, the last micro-batch's backward starts each finished layer's reduction.
  grad_sync_->begin_step();
  const std::function<void(int64_t)> layer_done = grad_sync_->layer_hook();
  for (size_t i = 0; i < batches.size(); ++i) {
    model_->set_batch(ModelBatch(batches[i]), scale);
    const bool last = i + 1 == batches.size();
    sums[0] += model_->forward_backward(true, last ? layer_done : nullptr);
  }
  grid_.host_dp->all_reduce(sums, 2, ReduceOp::sum, "loss and FLOPs of the step");
  r.loss = sums[0] / double(r.targets);
  r.flops = sums[1];
  grad_sync_->reduce();
  r.grad_norm = grad_sync_->global_norm(*optimizer_);
  r.lr = schedule_.at(r.step);
  r.skipped = !std::isfinite(r.loss) || !std::isfinite(r.grad_norm);
  if (!r.skipped) {
    float clip = 1.0f;
    if (cfg_.grad_clip > 0 && r.grad_norm > cfg_.grad_clip) clip = float(cfg_.grad_clip / r.grad_norm);
    // Without ZeRO-1 every rank updates every parameter, and AdamW also writes the bf16 compute
    // weights; with it each rank updates its slice, and the weights are refreshed after the gather.
    const bool fused_refresh = !cfg_.zero1;
    optimizer_->step(model_->params().all, model_->grads().all, float(r.lr), clip,
                     fused_refresh ? model_->separate_compute_weights() : nullptr);
    // Every DP rank updated its slice; gather the whole parameters back on all of them.
    grad_sync_->gather_params();
    if (!fused_refresh) model_->refresh_weights();
    consecutive_skipped_ = 0;
  } else {
    ++skipped_steps_;
    ++consecutive_skipped_;
  }
  step_ = r.step;
  return r;
}

EvalResult Trainer::evaluate() {
  SR_ASSERT(!cfg_.eval_path.empty(), "evaluate() without data.eval_path");
  // Forward only: no gradients, no optimizer state, no training data is touched. train_step
  // sets each of its micro-batches before it runs it, so the batch left here does not matter.
  double loss = 0;
  for (const Batch& b : eval_batches_) {
    model_->set_batch(ModelBatch(b), 1.0f);
    loss += model_->forward_backward(false);
  }
  grid_.host_dp->all_reduce(&loss, 1, ReduceOp::sum, "loss of the held-out set");
  return {loss / double(eval_targets_), eval_tokens_, eval_targets_};
}

void Trainer::write_metrics(const Json& record) {
  if (!metrics_) return;
  // Written as {"key": value, ...} (the spacing scripts and tests read); dump() writes a
  // non-finite number (a skipped step's loss) as null, so the line stays JSON.
  std::string line = "{";
  for (auto it = record.begin(); it != record.end(); ++it)
    line += (it == record.begin() ? "" : ", ") + Json(it.key()).dump() + ": " + it.value().dump();
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), metrics_);
  std::fflush(metrics_);
}

void Trainer::log_eval(const EvalResult& e, double seconds) {
  if (grid_.world_rank != 0) return;
  info("eval step %6lld | loss %.4f | tokens %lld | %.2f s", (long long)step_, e.loss,
       (long long)e.tokens, seconds);
  write_metrics({{"step", step_}, {"eval_loss", e.loss}, {"eval_tokens", e.tokens}, {"eval_targets", e.targets}});
}

void Trainer::log_sample_eval(const Json& fields, double seconds) {
  if (grid_.world_rank != 0) return;
  std::string summary;
  for (auto it = fields.begin(); it != fields.end(); ++it)
    if (it.value().is_number_float()) {
      char v[32];
      std::snprintf(v, sizeof v, "%.4g", it.value().get<double>());
      summary += " | " + it.key() + " " + v;
    } else if (it.value().is_number()) {
      summary += " | " + it.key() + " " + it.value().dump();
    }
  info("eval step %6lld%s | %.2f s", (long long)step_, summary.c_str(), seconds);
  Json record{{"step", step_}};
  for (auto it = fields.begin(); it != fields.end(); ++it) record[it.key()] = it.value();
  write_metrics(record);
}

void Trainer::log_step(const StepResult& r, double step_seconds) {
  tokens_seen_ += r.tokens;
  train_seconds_ += step_seconds;
  if (grid_.world_rank != 0) return;
  const double tok_s = double(r.tokens) / std::max(step_seconds, 1e-9);
  const double eta = train_seconds_ / double(r.step) * double(cfg_.steps - r.step);
  if (r.step % cfg_.log_every == 0 || r.step == cfg_.steps || r.step == 1) {
    std::string mfu;
    if (cfg_.device == Device::cuda) {
      const double flops = r.flops / std::max(step_seconds, 1e-9);
      char buf[48];
      std::snprintf(buf, sizeof buf, " | MFU %.1f%%", 100.0 * flops / (cfg_.peak_tflops * 1e12 * grid_.world_size));
      mfu = buf;
    }
    info("step %6lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s%s | ETA %s%s",
         (long long)r.step, (long long)cfg_.steps, r.loss, r.lr, r.grad_norm, tok_s, mfu.c_str(),
         format_duration(eta).c_str(), r.skipped ? " | SKIPPED (non-finite)" : "");
  }
  write_metrics({{"step", r.step},
                 {"loss", r.loss},
                 {"lr", r.lr},
                 {"grad_norm", r.grad_norm},
                 {"tokens", r.tokens},
                 {"targets", r.targets},
                 {"tokens_per_s", tok_s},
                 {"model_tflops_per_s", r.flops / std::max(step_seconds, 1e-9) / 1e12},
                 {"elapsed_s", train_seconds_},
                 {"skipped", r.skipped}});
}

std::string Trainer::save() {
  Timer t;
  TrainState st{step_, loader_->state(), cfg_.seed, run_id_, tokenizer_, tokenizer_json_};
  const std::string dir =
      save_checkpoint(cfg_.out_dir, grid_, *model_, *optimizer_, st, {cfg_.keep_last, cfg_.keep_every});
  info("checkpoint: %s (%.2f s)", dir.c_str(), t.seconds());
  return dir;
}

int Trainer::run() {
  double first_loss = 0, last_loss = 0;
  const int64_t first_step = step_ + 1;
  int64_t saved_step = -1;
  // train.profile: device time per op kind, summed over the steps (each step's events are read
  // at its end, so memory does not grow with the run).
  ops::OpTimes profile;
  double profiled_seconds = 0;
  int64_t profiled_steps = 0;
  auto report_profile = [&] {
    if (cfg_.profile && profiled_steps > 0)
      info("profile: device time per op kind over %lld steps (rank 0)\n%s", (long long)profiled_steps,
           ops::profile_table(profile, profiled_seconds, profiled_steps).c_str());
  };
  while (step_ < cfg_.steps) {
    Timer t;
    if (cfg_.profile) ops::profile_start(cfg_.device);
    const StepResult r = train_step();
    if (cfg_.profile) {
      const ops::OpTimes s = ops::profile_stop();
      for (int k = 0; k < ops::kOpKinds; ++k) profile.ms[k] += s.ms[k], profile.calls[k] += s.calls[k];
      profiled_seconds += t.seconds();
      ++profiled_steps;
    }
    log_step(r, t.seconds());
    if (consecutive_skipped_ >= kMaxConsecutiveSkipped)
      throw UserError("steps " + std::to_string(r.step - consecutive_skipped_ + 1) + " to " +
                      std::to_string(r.step) + ": loss or gradients not finite " +
                      std::to_string(consecutive_skipped_) +
                      " steps in a row, none of them updated the model (lower train.lr or "
                      "check the data and the checkpoint resumed from)");
    if (r.step == first_step) first_loss = r.loss;
    last_loss = r.loss;
    if (cfg_.eval_every > 0 && r.step % cfg_.eval_every == 0) {
      if (!cfg_.eval_path.empty()) {
        Timer te;
        const EvalResult e = evaluate();
        log_eval(e, te.seconds());
      }
      if (sample_eval_) {
        Timer te;
        const Json fields = sample_eval_(*model_);
        log_sample_eval(fields, te.seconds());
      }
    }
    // Every rank learns whether any rank was signalled, so all stop at the same step.
    int64_t stop = preemption_signalled();
    grid_.host_world->all_reduce(&stop, 1, ReduceOp::max, "preemption flag");
    if (stop || (cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0)) {
      save();
      saved_step = step_;
    }
    if (stop) {
      report_profile();
      info("preempted: checkpointed step %lld, exiting with %d (requeue)", (long long)step_, kExitRequeue);
      return kExitRequeue;
    }
  }
  if (saved_step != step_ && step_ >= first_step) save();
  report_profile();
  info("done: %lld steps, loss %.4f -> %.4f, %lld tokens in %s, %lld skipped steps",
       (long long)(cfg_.steps - first_step + 1), first_loss, last_loss, (long long)tokens_seen_,
       format_duration(train_seconds_).c_str(), (long long)skipped_steps_);
  return kExitOk;
}

}  // namespace sr
