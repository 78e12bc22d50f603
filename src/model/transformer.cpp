#include "model/transformer.h"

#include <algorithm>

#include "core/error.h"
#include "core/device_memory.h"
#include "kernels/ops.h"
#include "kernels/profile.h"

namespace sr {

// The attention half of a block: everything between its input and the residual `mid`.
struct Transformer::AttnActs {
  Tensor ln1, rstd1;   // [Tmax,H], [Tmax]
  Tensor q, k, v;      // [Tmax,nh,hd], [Tmax,nkv,hd] ×2 (after RoPE)
  Tensor attn;         // [Tmax,nh,hd]
  Tensor lse;          // [nh·Tmax] (used as [nh,T])
  Tensor mid;          // [Tmax,H] block input + attention output
};

// The MLP half: everything between `mid` and the block output.
struct Transformer::MlpActs {
  Tensor ln2, rstd2;       // [Tmax,H], [Tmax]
  Tensor gate, up, act;    // [Tmax,I]
};

Transformer::Transformer(const ModelConfig& cfg, const RunShape& shape, TensorParallel tp)
    : Transformer(cfg, shape, tp, false) {}

Transformer::Transformer(const ModelConfig& cfg, const RunShape& shape, TensorParallel tp, bool measure_only)
    : cfg_(cfg),
      shape_(shape),
      tp_(tp),
      param_arena_("parameters", shape.device),
      grad_arena_("gradients", shape.device),
      weight_arena_("compute weights", shape.device),
      act_arena_("activations", shape.device) {
  cfg_.validate(tp_.size);
  SR_ASSERT(shape_.max_tokens > 0 && shape_.lm_head_chunk > 0, "run shape needs positive sizes");
  if (!measure_only) ops::set_attention_settings(shape_.attention);
  hd_ = cfg_.head_dim();
  nh_ = cfg_.num_attention_heads / tp_.size;
  nkv_ = cfg_.num_key_value_heads / tp_.size;
  inter_ = cfg_.intermediate_size / tp_.size;
  vocab_ = cfg_.vocab_size / tp_.size;
  vocab_start_ = vocab_ * tp_.rank;
  specs_ = parameter_specs(cfg_, tp_.rank, tp_.size);
  const auto plan = [measure_only](Arena& arena, const std::function<void(Arena&)>& fn) {
    measure_only ? arena.measure(fn) : arena.plan(fn);
  };
  plan(param_arena_, [&](Arena& a) { params_ = plan_params(a, cfg_, specs_, shape_.param_flat_multiple); });
  plan(grad_arena_, [&](Arena& a) { grads_ = plan_params(a, cfg_, specs_, shape_.param_flat_multiple); });
  if (shape_.compute == DType::f32) {
    weights_ = params_;
  } else {
    SR_ASSERT(shape_.device == Device::cuda, "bf16 compute needs the CUDA backend");
    plan(weight_arena_, [&](Arena& a) {
      weights_ = plan_params(a, cfg_, specs_, shape_.param_flat_multiple, shape_.compute);
    });
  }
  plan(act_arena_, [&](Arena& a) { plan_activations(a); });
  if (!measure_only) weight_host_.resize(size_t(shape_.max_tokens));
}

Transformer::PlannedBytes Transformer::planned_bytes(const ModelConfig& cfg, const RunShape& shape,
                                                     TensorParallel tp) {
  return Transformer(cfg, shape, tp, true).arena_bytes();
}

Transformer::PlannedBytes Transformer::arena_bytes() const {
  return {param_arena_.capacity(), grad_arena_.capacity(), weight_arena_.capacity(), act_arena_.capacity()};
}

Transformer::~Transformer() = default;

void Transformer::plan_activations(Arena& a) {
  const int64_t Tm = shape_.max_tokens, H = cfg_.hidden_size, L = cfg_.num_hidden_layers;
  const int64_t C = std::min(shape_.lm_head_chunk, Tm);
  const DType act = shape_.compute;
  tokens_ = a.alloc(DType::i32, {Tm});
  targets_ = a.alloc(DType::i32, {Tm});
  positions_ = a.alloc(DType::i32, {Tm});
  mask_ = a.alloc(DType::f32, {Tm});
  weight_ = a.alloc(DType::f32, {Tm});
  cu_seqlens_ = a.alloc(DType::i32, {Tm + 1});
  resid_.clear();
  for (int64_t l = 0; l <= L; ++l) resid_.push_back(a.alloc(act, {Tm, H}));
  const Recompute rc = shape_.recompute;
  attn_.assign(rc == Recompute::none ? size_t(L) : 1, AttnActs{});
  for (AttnActs& s : attn_) {
    s.ln1 = a.alloc(act, {Tm, H});
    s.rstd1 = a.alloc(DType::f32, {Tm});
    s.q = a.alloc(act, {Tm, nh_, hd_});
    s.k = a.alloc(act, {Tm, nkv_, hd_});
    s.v = a.alloc(act, {Tm, nkv_, hd_});
    s.attn = a.alloc(act, {Tm, nh_, hd_});
    s.lse = a.alloc(DType::f32, {nh_ * Tm});
    s.mid = a.alloc(act, {Tm, H});
  }
  if (rc == Recompute::except_attention) {
    // One shared set for the recomputed tensors, and each layer's own attention output and
    // log-sum-exp (the shared set's are those of layer 0).
    for (int64_t l = 1; l < L; ++l) {
      AttnActs s = attn_[0];
      s.attn = a.alloc(act, {Tm, nh_, hd_});
      s.lse = a.alloc(DType::f32, {nh_ * Tm});
      attn_.push_back(s);
    }
  }
  mlp_.assign(rc == Recompute::full || rc == Recompute::except_attention ? 1 : size_t(L), MlpActs{});
  for (MlpActs& s : mlp_) {
    s.ln2 = a.alloc(act, {Tm, H});
    s.rstd2 = a.alloc(DType::f32, {Tm});
    s.gate = a.alloc(act, {Tm, inter_});
    s.up = a.alloc(act, {Tm, inter_});
    s.act = a.alloc(act, {Tm, inter_});
  }
  final_ln_ = a.alloc(act, {Tm, H});
  final_rstd_ = a.alloc(DType::f32, {Tm});
  proj_out_ = a.alloc(act, {Tm, H});
  logits_ = a.alloc(act, {C, vocab_});
  // Row statistics of every token (not only the chunk's): the loss is summed once per step,
  // after the backward has been queued, so the host never waits inside the step.
  row_max_ = a.alloc(DType::f32, {Tm});
  sumexp_ = a.alloc(DType::f32, {Tm});
  target_logit_ = a.alloc(DType::f32, {Tm});
  dres_ = a.alloc(act, {Tm, H});
  dln_ = a.alloc(act, {Tm, H});
  dattn_ = a.alloc(act, {Tm, nh_ * hd_});
  dq_ = a.alloc(act, {Tm, nh_, hd_});
  dk_ = a.alloc(act, {Tm, nkv_, hd_});
  dv_ = a.alloc(act, {Tm, nkv_, hd_});
  dact_ = a.alloc(act, {Tm, inter_});
  dgate_ = a.alloc(act, {Tm, inter_});
  dup_ = a.alloc(act, {Tm, inter_});
}

std::string Transformer::memory_plan() const {
  return "parameters " + format_bytes(param_arena_.capacity()) + ", gradients " +
         format_bytes(grad_arena_.capacity()) +
         (weight_arena_.capacity() ? ", bf16 weights " + format_bytes(weight_arena_.capacity()) : "") +
         ", activations " +
         format_bytes(act_arena_.capacity()) + " (" + std::to_string(shape_.max_tokens) +
         " tokens, recompute " + recompute_name(shape_.recompute) + ")";
}

void Transformer::init_parameters(uint64_t seed, float std_dev) {
  init_params(specs_, params_.all, seed, std_dev);
  refresh_weights();
}

void Transformer::refresh_weights() {
  if (weights_.flat.data != params_.flat.data) ops::copy(weights_.flat, params_.flat);
}

void Transformer::zero_grads() { ops::fill_zero(grads_.flat); }

void Transformer::tp_all_reduce(Tensor x, ReduceOp op) {
  if (tp_.size <= 1) return;
  ops::ProfileScope profile(ops::OpKind::communication);
  tp_.comm->all_reduce(x, op);
}

Transformer::AttnActs& Transformer::attn_acts(int64_t l) {
  return attn_[attn_.size() == 1 ? 0 : size_t(l)];
}
Transformer::MlpActs& Transformer::mlp_acts(int64_t l) {
  return mlp_[mlp_.size() == 1 ? 0 : size_t(l)];
}

void Transformer::set_batch(const ModelBatch& b, float loss_scale) {
  T_ = b.num_tokens;
  num_samples_ = b.num_samples;
  SR_ASSERT(T_ > 0 && T_ <= shape_.max_tokens, "micro-batch larger than the planned max_tokens");
  const Device dev = shape_.device;
  auto put = [&](const Tensor& dst, const void* src, size_t bytes) {
    device_copy(dev, dst.data, Device::cpu, src, bytes);
  };
  put(tokens_, b.tokens, size_t(T_) * 4);
  put(targets_, b.targets, size_t(T_) * 4);
  put(positions_, b.positions, size_t(T_) * 4);
  put(mask_, b.loss_mask, size_t(T_) * 4);
  put(cu_seqlens_, b.cu_seqlens, size_t(num_samples_ + 1) * 4);
  for (int64_t t = 0; t < T_; ++t) weight_host_[size_t(t)] = b.loss_mask[t] * loss_scale;
  put(weight_, weight_host_.data(), size_t(T_) * 4);
}

void Transformer::attention_forward(int64_t l, AttnActs& a, bool recomputing) {
  const LayerParams& p = params_.layers[size_t(l)];   // master: the norms
  const LayerParams& w = weights_.layers[size_t(l)];  // compute copy: the matmuls
  const Tensor x = rows(resid_[size_t(l)]);
  const Tensor pos = positions_.rows(0, T_), cu = cu_seqlens_.rows(0, num_samples_ + 1);
  const Tensor q = rows(a.q), k = rows(a.k), v = rows(a.v), attn = rows(a.attn);
  ops::rmsnorm_forward(rows(a.ln1), a.rstd1.rows(0, T_), x, p.ln1, float(cfg_.rms_norm_eps));
  ops::linear_forward(q.view({T_, nh_ * hd_}), rows(a.ln1), w.wq, w.bq);
  ops::linear_forward(k.view({T_, nkv_ * hd_}), rows(a.ln1), w.wk, w.bk);
  ops::linear_forward(v.view({T_, nkv_ * hd_}), rows(a.ln1), w.wv, w.bv);
  ops::rope(q, pos, float(cfg_.rope_theta), false);
  ops::rope(k, pos, float(cfg_.rope_theta), false);
  if (!(recomputing && shape_.recompute == Recompute::except_attention))
    ops::attention_forward(attn, a.lse.rows(0, nh_ * T_), q, k, v, cu, int(cfg_.sliding_window));
  // Row-parallel o_proj: each TP rank holds a partial sum of the output.
  ops::linear_forward(rows(proj_out_), attn.view({T_, nh_ * hd_}), w.wo, Tensor{});
  tp_all_reduce(rows(proj_out_));
  ops::copy(rows(a.mid), x);
  ops::add_inplace(rows(a.mid), rows(proj_out_));
}

void Transformer::mlp_forward(int64_t l, const Tensor& mid, MlpActs& m, bool write_output) {
  const LayerParams& p = params_.layers[size_t(l)];   // master: the norms
  const LayerParams& w = weights_.layers[size_t(l)];  // compute copy: the matmuls
  ops::rmsnorm_forward(rows(m.ln2), m.rstd2.rows(0, T_), rows(mid), p.ln2, float(cfg_.rms_norm_eps));
  ops::linear_forward(rows(m.gate), rows(m.ln2), w.w_gate, Tensor{});
  ops::linear_forward(rows(m.up), rows(m.ln2), w.w_up, Tensor{});
  ops::swiglu_forward(rows(m.act), rows(m.gate), rows(m.up));
  if (!write_output) return;  // recomputation: the block output is already stored
  ops::linear_forward(rows(proj_out_), rows(m.act), w.w_down, Tensor{});
  tp_all_reduce(rows(proj_out_));
  const Tensor out = rows(resid_[size_t(l) + 1]);
  ops::copy(out, rows(mid));
  ops::add_inplace(out, rows(proj_out_));
}

void Transformer::lm_head(bool backward) {
  const int64_t C = logits_.dim(0);
  for (int64_t c0 = 0; c0 < T_; c0 += C) {
    const int64_t n = std::min(C, T_ - c0);
    const Tensor x = final_ln_.rows(c0, n), logits = logits_.rows(0, n);
    const Tensor rmax = row_max_.rows(c0, n), sumexp = sumexp_.rows(c0, n);
    const Tensor tl = target_logit_.rows(c0, n), targets = targets_.rows(c0, n);
    ops::linear_forward(logits, x, weights_.lm_head, Tensor{});
    // Vocab-parallel softmax statistics: global max, then sums relative to it.
    ops::logits_row_max(rmax, logits);
    tp_all_reduce(rmax, ReduceOp::max);
    ops::logits_row_sumexp(sumexp, logits, rmax);
    tp_all_reduce(sumexp);
    ops::logits_gather_target(tl, logits, targets, vocab_start_);
    tp_all_reduce(tl);
    if (!backward) continue;
    ops::cross_entropy_backward(logits, rmax, sumexp, targets, weight_.rows(c0, n), vocab_start_);
    ops::linear_backward(dln_.rows(c0, n), grads_.lm_head, Tensor{}, logits, x, weights_.lm_head, false);
  }
}

double Transformer::loss_sum() {
  return ops::cross_entropy_loss_sum(row_max_.rows(0, T_), sumexp_.rows(0, T_), target_logit_.rows(0, T_),
                                     mask_.rows(0, T_));
}

void Transformer::mlp_backward(int64_t l, const Tensor& mid, MlpActs& m) {
  const LayerParams& p = params_.layers[size_t(l)];   // master: the norms
  const LayerParams& w = weights_.layers[size_t(l)];  // compute copy: the matmuls
  const LayerParams& g = grads_.layers[size_t(l)];
  ops::linear_backward(rows(dact_), g.w_down, Tensor{}, rows(dres_), rows(m.act), w.w_down, false);
  ops::swiglu_backward(rows(dgate_), rows(dup_), rows(dact_), rows(m.gate), rows(m.up));
  ops::linear_backward(rows(dln_), g.w_gate, Tensor{}, rows(dgate_), rows(m.ln2), w.w_gate, false);
  ops::linear_backward(rows(dln_), g.w_up, Tensor{}, rows(dup_), rows(m.ln2), w.w_up, true);
  // Column-parallel input: its gradient is a partial sum on each TP rank.
  tp_all_reduce(rows(dln_));
  ops::rmsnorm_backward(rows(dres_), g.ln2, rows(dln_), rows(mid), p.ln2, m.rstd2.rows(0, T_));
}

void Transformer::attention_backward(int64_t l, AttnActs& a) {
  const LayerParams& p = params_.layers[size_t(l)];   // master: the norms
  const LayerParams& w = weights_.layers[size_t(l)];  // compute copy: the matmuls
  const LayerParams& g = grads_.layers[size_t(l)];
  const Tensor pos = positions_.rows(0, T_), cu = cu_seqlens_.rows(0, num_samples_ + 1);
  const Tensor dq = rows(dq_), dk = rows(dk_), dv = rows(dv_);
  ops::linear_backward(rows(dattn_), g.wo, Tensor{}, rows(dres_), rows(a.attn).view({T_, nh_ * hd_}),
                       w.wo, false);
  ops::attention_backward(dq, dk, dv, rows(dattn_).view({T_, nh_, hd_}), rows(a.attn),
                          a.lse.rows(0, nh_ * T_), rows(a.q), rows(a.k), rows(a.v), cu,
                          int(cfg_.sliding_window));
  // The backward of a rotation is the inverse rotation.
  ops::rope(dq, pos, float(cfg_.rope_theta), true);
  ops::rope(dk, pos, float(cfg_.rope_theta), true);
  const Tensor ln1 = rows(a.ln1);
  ops::linear_backward(rows(dln_), g.wq, g.bq, dq.view({T_, nh_ * hd_}), ln1, w.wq, false);
  ops::linear_backward(rows(dln_), g.wk, g.bk, dk.view({T_, nkv_ * hd_}), ln1, w.wk, true);
  ops::linear_backward(rows(dln_), g.wv, g.bv, dv.view({T_, nkv_ * hd_}), ln1, w.wv, true);
  tp_all_reduce(rows(dln_));
  ops::rmsnorm_backward(rows(dres_), g.ln1, rows(dln_), rows(resid_[size_t(l)]), p.ln1,
                        a.rstd1.rows(0, T_));
}

double Transformer::forward_backward(bool backward,
                                     const std::function<void(int64_t)>& layer_grads_done) {
  SR_ASSERT(T_ > 0, "forward_backward before set_batch");
  const int64_t L = cfg_.num_hidden_layers;
  const Tensor tokens = tokens_.rows(0, T_);
  ops::embedding_forward(rows(resid_[0]), tokens, weights_.embed, vocab_start_);
  tp_all_reduce(rows(resid_[0]));
  for (int64_t l = 0; l < L; ++l) {
    AttnActs& a = attn_acts(l);
    attention_forward(l, a, false);
    mlp_forward(l, a.mid, mlp_acts(l), true);
  }
  ops::rmsnorm_forward(rows(final_ln_), final_rstd_.rows(0, T_), rows(resid_[size_t(L)]),
                       params_.final_norm, float(cfg_.rms_norm_eps));
  lm_head(backward);
  if (!backward) return loss_sum();

  // dln_ holds the gradient of the final norm's output (partial over vocab shards).
  tp_all_reduce(rows(dln_));
  ops::fill_zero(rows(dres_));
  ops::rmsnorm_backward(rows(dres_), grads_.final_norm, rows(dln_), rows(resid_[size_t(L)]),
                        params_.final_norm, final_rstd_.rows(0, T_));
  for (int64_t l = L - 1; l >= 0; --l) {
    AttnActs& a = attn_acts(l);
    MlpActs& m = mlp_acts(l);
    const Recompute rc = shape_.recompute;
    if (rc != Recompute::none) attention_forward(l, a, true);
    if (rc == Recompute::full || rc == Recompute::except_attention) mlp_forward(l, a.mid, m, false);
    mlp_backward(l, a.mid, m);
    attention_backward(l, a);
    if (layer_grads_done) layer_grads_done(l);
  }
  ops::embedding_backward(grads_.embed, rows(dres_), tokens, vocab_start_);
  return loss_sum();
}

}  // namespace sr
