#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/log.h"
#include "core/timer.h"
#include "kernels/ops.h"
#include "train/preemption.h"

namespace sr {

namespace {
constexpr int64_t kBucketElements = int64_t(4) << 20;  // 16 MiB of f32 per gradient bucket

std::string format_duration(double s) {
  char buf[32];
  const long t = long(s + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}
}  // namespace

Trainer::Trainer(const RunConfig& cfg, ProcessGrid& grid) : cfg_(cfg), grid_(grid) {
  RunShape shape = run_shape(cfg_);
  zero1_ = cfg_.zero1 && grid_.dp > 1;
  if (zero1_) shape.param_flat_multiple = int64_t(grid_.dp) * 64;
  TensorParallel tp{grid_.tp_group.get(), grid_.tp_rank, grid_.tp};
  model_ = std::make_unique<Transformer>(cfg_.model, shape, tp);
  model_->init_parameters(cfg_.seed, float(cfg_.init_std));

  const AdamWConfig oc = adamw_config(cfg_);
  overlap_ = grid_.dp > 1 && !zero1_ && cfg_.overlap_grad_reduce;
  {
    const auto& specs = model_->specs();
    const auto& off = model_->params().flat_offset;
    auto first_of = [&](const std::string& prefix) {
      for (size_t i = 0; i < specs.size(); ++i)
        if (specs[i].name.rfind(prefix, 0) == 0) return off[i];
      return int64_t(-1);
    };
    const int64_t L = cfg_.model.num_hidden_layers;
    const int64_t tail = first_of("model.norm."), end = model_->grads().flat.numel();
    for (int64_t l = L - 1; l >= 0; --l) {
      const int64_t b = first_of("model.layers." + std::to_string(l) + ".");
      reduce_ranges_.push_back({b, l + 1 < L ? first_of("model.layers." + std::to_string(l + 1) + ".") : tail});
    }
    reduce_ranges_.push_back({0, first_of("model.layers.0.")});
    reduce_ranges_.push_back({tail, end});
  }
  std::vector<ParamSegment> owned = whole_segments(model_->specs());
  if (zero1_) {
    const int64_t shard = model_->params().flat.numel() / grid_.dp;
    owned = flat_range_segments(model_->specs(), model_->params().flat_offset,
                                shard * grid_.dp_rank, shard * (grid_.dp_rank + 1));
  }
  optimizer_ = std::make_unique<AdamW>(oc, model_->specs(), std::move(owned), shape.device);

  schedule_ = {cfg_.lr, cfg_.min_lr, cfg_.warmup_steps, cfg_.steps};

  TrainState resumed;
  if (load_checkpoint(cfg_.out_dir, cfg_.resume, grid_, *model_, *optimizer_, resumed)) {
    step_ = resumed.step;
    model_->refresh_weights();
  }

  LoaderConfig lc;
  lc.path = cfg_.data_path;
  lc.seed = cfg_.seed;
  lc.shuffle = cfg_.shuffle;
  lc.global_batch_tokens = cfg_.global_batch_tokens;
  lc.micro_batch_tokens = cfg_.micro_batch_tokens;
  lc.truncate_long = cfg_.truncate_long;
  lc.prefetch_steps = cfg_.prefetch_steps;
  lc.model_vocab_size = uint32_t(cfg_.model.vocab_size);
  if (lc.path.empty()) throw UserError("data.path is not set: expected a token dataset (.h5)");
  loader_ = std::make_unique<Loader>(lc, grid_.dp_rank, grid_.dp, resumed.data);

  info("model: %s", cfg_.model.summary().c_str());
  info("memory plan per rank: %s, optimizer %s", model_->memory_plan().c_str(),
       format_bytes(optimizer_->bytes()).c_str());
  info("data: %s (%llu samples, %llu tokens)", cfg_.data_path.c_str(),
       (unsigned long long)loader_->dataset().num_samples(),
       (unsigned long long)loader_->dataset().num_tokens());
  if (grid_.world_rank == 0) {
    std::filesystem::create_directories(cfg_.out_dir);
    const std::string path = cfg_.out_dir + "/metrics.jsonl";
    metrics_ = std::fopen(path.c_str(), "a");
    if (!metrics_) throw UserError(path + ": cannot open for appending");
  }
}

Trainer::~Trainer() {
  if (metrics_) std::fclose(metrics_);
}

Tensor Trainer::owned_shard(const Tensor& flat) const {
  const int64_t shard = flat.numel() / grid_.dp;
  return flat.rows(shard * grid_.dp_rank, shard);
}

void Trainer::reduce_gradients(size_t next_range) {
  if (grid_.dp == 1) return;
  const Tensor flat = model_->grads().flat;
  if (overlap_) {
    // The rest in the same order on every rank (one with no micro-batches starts them all).
    for (; next_range < reduce_ranges_.size(); ++next_range) {
      const auto [b, e] = reduce_ranges_[next_range];
      grid_.dp_group->start_all_reduce(flat.rows(b, e - b));
    }
    grid_.dp_group->finish_all_reduces();
    return;
  }
  if (zero1_) {
    // Each DP rank receives the summed gradients of the slice whose optimizer state it owns.
    grid_.dp_group->reduce_scatter(owned_shard(flat), flat);
    return;
  }
  // All gradients are one flat buffer; reduce it in fixed-size buckets.
  for (int64_t off = 0; off < flat.numel(); off += kBucketElements)
    grid_.dp_group->all_reduce(flat.rows(off, std::min(kBucketElements, flat.numel() - off)),
                               ReduceOp::sum);
}

double Trainer::global_grad_norm() {
  // Split tensors hold disjoint slices on the TP ranks; replicated ones are identical there
  // and count once.
  // With ZeRO-1 each DP rank holds the reduced gradients of its own segments only.
  double sums[2] = {0, 0};  // split, replicated
  const auto& specs = model_->specs();
  for (const ParamSegment& s : optimizer_->segments()) {
    const double sq = ops::sum_squares(segment_view(model_->grads().all[s.param], s.begin, s.count));
    sums[specs[s.param].split_dim >= 0 ? 0 : 1] += sq;
  }
  if (zero1_) MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, grid_.dp_comm);
  if (grid_.tp > 1) MPI_Allreduce(MPI_IN_PLACE, &sums[0], 1, MPI_DOUBLE, MPI_SUM, grid_.tp_comm);
  return std::sqrt(sums[0] + sums[1]);
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
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, grid_.dp_comm);
  r.tokens = counts[0];
  r.targets = counts[1];

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
  size_t next_range = 0;
  const std::function<void(int64_t)> start_layer = [&](int64_t) {
    const auto [b, e] = reduce_ranges_[next_range++];
    grid_.dp_group->start_all_reduce(model_->grads().flat.rows(b, e - b));
  };
  for (size_t i = 0; i < batches.size(); ++i) {
    model_->set_batch(ModelBatch(batches[i]), scale);
    const bool last = i + 1 == batches.size();
    sums[0] += model_->forward_backward(true, overlap_ && last ? start_layer : nullptr);
  }
  MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, grid_.dp_comm);
  r.loss = r.targets > 0 ? sums[0] / double(r.targets) : 0.0;
  r.flops = sums[1];
  reduce_gradients(next_range);
  r.grad_norm = global_grad_norm();
  r.lr = schedule_.at(r.step);
  r.skipped = !std::isfinite(r.loss) || !std::isfinite(r.grad_norm) || r.targets == 0;
  if (!r.skipped) {
    float clip = 1.0f;
    if (cfg_.grad_clip > 0 && r.grad_norm > cfg_.grad_clip) clip = float(cfg_.grad_clip / r.grad_norm);
    optimizer_->step(model_->params().all, model_->grads().all, float(r.lr), clip);
    // Every DP rank updated its slice; gather the whole parameters back on all of them.
    if (zero1_) grid_.dp_group->all_gather(model_->params().flat, owned_shard(model_->params().flat));
    model_->refresh_weights();
  } else {
    ++skipped_steps_;
  }
  step_ = r.step;
  return r;
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
  std::fprintf(metrics_,
               "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6e, \"grad_norm\": %.6f, \"tokens\": %lld, "
               "\"targets\": %lld, \"tokens_per_s\": %.1f, \"model_tflops_per_s\": %.4f, "
               "\"elapsed_s\": %.3f, \"skipped\": %s}\n",
               (long long)r.step, r.loss, r.lr, r.grad_norm, (long long)r.tokens,
               (long long)r.targets, tok_s, r.flops / std::max(step_seconds, 1e-9) / 1e12,
               train_seconds_, r.skipped ? "true" : "false");
  std::fflush(metrics_);
}

std::string Trainer::save() {
  Timer t;
  TrainState st{step_, loader_->state(), cfg_.seed};
  const std::string dir =
      save_checkpoint(cfg_.out_dir, grid_, *model_, *optimizer_, st, {cfg_.keep_last, cfg_.keep_every});
  info("checkpoint: %s (%.2f s)", dir.c_str(), t.seconds());
  return dir;
}

int Trainer::run() {
  double first_loss = 0, last_loss = 0;
  const int64_t first_step = step_ + 1;
  int64_t saved_step = -1;
  while (step_ < cfg_.steps) {
    Timer t;
    const StepResult r = train_step();
    log_step(r, t.seconds());
    if (r.step == first_step) first_loss = r.loss;
    last_loss = r.loss;
    // Every rank learns whether any rank was signalled, so all stop at the same step.
    int stop = preemption_signalled();
    MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, grid_.world);
    if (stop || (cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0)) {
      save();
      saved_step = step_;
    }
    if (stop) {
      info("preempted: checkpointed step %lld, exiting with %d (requeue)", (long long)step_, kExitRequeue);
      return kExitRequeue;
    }
  }
  if (saved_step != step_ && step_ >= first_step) save();
  info("done: %lld steps, loss %.4f -> %.4f, %lld tokens in %s, %lld skipped steps",
       (long long)(cfg_.steps - first_step + 1), first_loss, last_loss, (long long)tokens_seen_,
       format_duration(train_seconds_).c_str(), (long long)skipped_steps_);
  return kExitOk;
}

}  // namespace sr
