#include "infer/engine.h"

#include <algorithm>

#include "core/error.h"
#include "core/device_memory.h"
#include "kernels/ops.h"

namespace sr {

Engine::Engine(const ModelConfig& cfg, const EngineShape& shape)
    : cfg_(cfg),
      shape_(shape),
      weight_arena_("inference weights", shape.device),
      norm_arena_("inference norm weights", shape.device),
      cache_arena_("KV cache", shape.device),
      act_arena_("inference activations", shape.device) {
  cfg_.validate(shape_.tp_size);
  SR_ASSERT(shape_.tp_size == 1 || shape_.tp_comm, "tensor-parallel engine without a communicator");
  SR_ASSERT(shape_.batch > 0 && shape_.max_step_tokens > 0, "engine shape needs positive sizes");
  SR_ASSERT(shape_.compute == DType::f32 || shape_.device == Device::cuda,
            "bf16 inference needs the CUDA backend");
  hd_ = cfg_.head_dim();
  const int tp = shape_.tp_size;
  nh_ = cfg_.num_attention_heads / tp;
  nkv_ = cfg_.num_key_value_heads / tp;
  inter_ = cfg_.intermediate_size / tp;
  vocab_ = cfg_.vocab_size;
  vocab_local_ = vocab_ / tp;
  vocab_start_ = vocab_local_ * shape_.tp_rank;
  if (cfg_.sliding_window > 0) {
    cap_ = cfg_.sliding_window;
  } else {
    if (shape_.max_context <= 0)
      throw UserError("a full-attention model needs a maximum context for its KV cache (max_context)");
    cap_ = shape_.max_context;
  }
  rows_ = std::max(shape_.batch, shape_.logits_rows);
  fused_min_ = shape_.prefill_attention_min >= 0 ? shape_.prefill_attention_min
               : shape_.device == Device::cuda ? 64
                                               : 0;
  // One sequence's whole visible cache beside a full piece of new tokens.
  if (fused_min_ > 0)
    fused_cap_ = shape_.max_step_tokens + (cfg_.sliding_window > 0 ? cfg_.sliding_window - 1 : cap_);
  specs_ = parameter_specs(cfg_, shape_.tp_rank, tp);
  const DType c = shape_.compute;
  const int64_t S = shape_.batch, Tm = shape_.max_step_tokens, H = cfg_.hidden_size;
  const int64_t L = cfg_.num_hidden_layers;
  weight_arena_.plan([&](Arena& a) { weights_ = plan_params(a, cfg_, specs_, 1, c); });
  ln1_.assign(size_t(L), Tensor{});
  ln2_.assign(size_t(L), Tensor{});
  if (c == DType::f32) {
    for (int64_t l = 0; l < L; ++l) {
      ln1_[size_t(l)] = weights_.layers[size_t(l)].ln1;
      ln2_[size_t(l)] = weights_.layers[size_t(l)].ln2;
    }
    final_norm_ = weights_.final_norm;
  } else {
    norm_arena_.plan([&](Arena& a) {
      for (int64_t l = 0; l < L; ++l) {
        ln1_[size_t(l)] = a.alloc(DType::f32, {H});
        ln2_[size_t(l)] = a.alloc(DType::f32, {H});
      }
      final_norm_ = a.alloc(DType::f32, {H});
    });
  }
  cache_arena_.plan([&](Arena& a) {
    k_cache_.clear();
    v_cache_.clear();
    for (int64_t l = 0; l < L; ++l) {
      k_cache_.push_back(a.alloc(c, {S, cap_, nkv_, hd_}));
      v_cache_.push_back(a.alloc(c, {S, cap_, nkv_, hd_}));
    }
  });
  act_arena_.plan([&](Arena& a) {
    ids_ = a.alloc(DType::i32, {Tm});
    positions_ = a.alloc(DType::i32, {Tm});
    cu_ = a.alloc(DType::i32, {S + 1});
    past_ = a.alloc(DType::i32, {S});
    x_ = a.alloc(c, {Tm, H});
    ln_ = a.alloc(c, {Tm, H});
    rstd_ = a.alloc(DType::f32, {Tm});
    q_ = a.alloc(c, {Tm, nh_, hd_});
    k_ = a.alloc(c, {Tm, nkv_, hd_});
    v_ = a.alloc(c, {Tm, nkv_, hd_});
    attn_ = a.alloc(c, {Tm, nh_, hd_});
    proj_ = a.alloc(c, {Tm, H});
    gate_ = a.alloc(c, {Tm, inter_});
    up_ = a.alloc(c, {Tm, inter_});
    act_ = a.alloc(c, {Tm, inter_});
    last_ = a.alloc(c, {rows_, H});
    last_ln_ = a.alloc(c, {rows_, H});
    last_rstd_ = a.alloc(DType::f32, {rows_});
    logits_ = a.alloc(c, {rows_, vocab_local_});
    if (c != DType::f32) logits_f32_ = a.alloc(DType::f32, {rows_, vocab_local_});
    if (tp > 1) gathered_ = a.alloc(DType::f32, {int64_t(tp) * rows_ * vocab_local_});
    if (fused_cap_ > 0) {
      fq_ = a.alloc(c, {fused_cap_, nh_, hd_});
      fk_ = a.alloc(c, {fused_cap_, nkv_, hd_});
      fv_ = a.alloc(c, {fused_cap_, nkv_, hd_});
      fo_ = a.alloc(c, {fused_cap_, nh_, hd_});
      flse_ = a.alloc(DType::f32, {nh_ * fused_cap_});
      fcu_ = a.alloc(DType::i32, {S + 1});
    }
  });
  if (c == DType::f32) logits_f32_ = logits_;
  pos_.assign(size_t(S), 0);
  logits_host_.assign(size_t(S * vocab_), 0.0f);
  rows_host_.assign(size_t(rows_ * vocab_), 0.0f);
  if (tp > 1) gathered_host_.assign(size_t(int64_t(tp) * rows_ * vocab_local_), 0.0f);
}

Engine::~Engine() = default;

size_t Engine::weight_bytes() const { return weight_arena_.capacity() + norm_arena_.capacity(); }
size_t Engine::cache_bytes() const { return cache_arena_.capacity(); }
size_t Engine::activation_bytes() const { return act_arena_.capacity(); }

std::string Engine::memory_plan() const {
  return "weights " + format_bytes(weight_bytes()) + " (" + dtype_name(shape_.compute) +
         "), KV cache " + format_bytes(cache_bytes()) + " (" + std::to_string(shape_.batch) +
         " sequences x " + std::to_string(cap_) +
         (cfg_.sliding_window > 0 ? " ring slots" : " positions") + "), activations " +
         format_bytes(activation_bytes()) + " (" + std::to_string(shape_.max_step_tokens) +
         " tokens per piece)";
}

void Engine::load_weights(const ModelParams& src) {
  SR_ASSERT(src.all.size() == weights_.all.size(), "load_weights: parameter lists differ");
  const Device dev = shape_.device;
  // Casting needs both operands on the device: stage f32 tensors there one at a time.
  void* staging = nullptr;
  size_t staging_bytes = 0;
  auto put = [&](const Tensor& dst, const Tensor& s) {
    SR_ASSERT(s.dtype == DType::f32 && s.numel() == dst.numel(), "load_weights: tensor shapes");
    if (dst.dtype == DType::f32) {
      device_copy(dev, dst.data, s.device, s.data, s.bytes());
      return;
    }
    if (s.device == dev) {
      ops::copy(dst, s);
      return;
    }
    if (staging_bytes < s.bytes()) {
      if (staging) device_free(dev, staging);
      staging_bytes = s.bytes();
      staging = device_alloc(dev, staging_bytes);
    }
    device_copy(dev, staging, s.device, s.data, s.bytes());
    Tensor st = s;
    st.data = staging;
    st.device = dev;
    ops::copy(dst, st);
  };
  for (size_t i = 0; i < src.all.size(); ++i) put(weights_.all[i], src.all[i]);
  if (shape_.compute != DType::f32) {
    for (size_t l = 0; l < ln1_.size(); ++l) {
      put(ln1_[l], src.layers[l].ln1);
      put(ln2_[l], src.layers[l].ln2);
    }
    put(final_norm_, src.final_norm);
  }
  if (staging) {
    device_synchronize(dev);
    device_free(dev, staging);
  }
}

void Engine::init_weights(uint64_t seed, float std_dev) {
  Arena host("random weights (host)", Device::cpu);
  ModelParams p;
  host.plan([&](Arena& a) { p = plan_params(a, cfg_, specs_, 1, DType::f32); });
  init_params(specs_, p.all, seed, std_dev);
  load_weights(p);
}

void Engine::reset(int64_t s) { pos_[size_t(s)] = 0; }

void Engine::tp_all_reduce(const Tensor& x) {
  if (shape_.tp_size > 1) shape_.tp_comm->all_reduce(x, ReduceOp::sum);
}
void Engine::reset_all() { std::fill(pos_.begin(), pos_.end(), 0); }

void Engine::layer_forward(int64_t l, int64_t T) {
  const LayerParams& w = weights_.layers[size_t(l)];
  const float eps = float(cfg_.rms_norm_eps), theta = float(cfg_.rope_theta);
  const Tensor x = x_.rows(0, T), ln = ln_.rows(0, T), rstd = rstd_.rows(0, T);
  const Tensor q = q_.rows(0, T), k = k_.rows(0, T), v = v_.rows(0, T), attn = attn_.rows(0, T);
  const Tensor proj = proj_.rows(0, T), pos = positions_.rows(0, T);
  const Tensor kc = k_cache_[size_t(l)], vc = v_cache_[size_t(l)];
  // Attention half: norm, q/k/v, RoPE at the absolute positions, attention against the cache
  // (read before this piece is appended), o_proj, residual.
  ops::rmsnorm_forward(ln, rstd, x, ln1_[size_t(l)], eps);
  ops::linear_forward(q.view({T, nh_ * hd_}), ln, w.wq, w.bq);
  ops::linear_forward(k.view({T, nkv_ * hd_}), ln, w.wk, w.bk);
  ops::linear_forward(v.view({T, nkv_ * hd_}), ln, w.wv, w.bv);
  ops::rope(q, pos, theta, false);
  ops::rope(k, pos, theta, false);
  if (fused_)
    prefill_attention(l);
  else
    ops::attention_cache_forward(attn, q, k, v, kc, vc, cu_, past_, int(cfg_.sliding_window));
  ops::kv_cache_append(kc, vc, k, v, cu_, past_);
  // Row-parallel o_proj (and down_proj below): each TP rank holds a partial sum.
  ops::linear_forward(proj, attn.view({T, nh_ * hd_}), w.wo, Tensor{});
  tp_all_reduce(proj);
  ops::add_inplace(x, proj);
  // MLP half.
  const Tensor gate = gate_.rows(0, T), up = up_.rows(0, T), act = act_.rows(0, T);
  ops::rmsnorm_forward(ln, rstd, x, ln2_[size_t(l)], eps);
  ops::linear_forward(gate, ln, w.w_gate, Tensor{});
  ops::linear_forward(up, ln, w.w_up, Tensor{});
  ops::swiglu_forward(act, gate, up);
  ops::linear_forward(proj, act, w.w_down, Tensor{});
  tp_all_reduce(proj);
  ops::add_inplace(x, proj);
}

int64_t Engine::visible_cached(int64_t s) const {
  const int64_t p = pos_[size_t(s)];
  return cfg_.sliding_window > 0 ? std::min(p, cfg_.sliding_window - 1) : p;
}

// Attention of a prefill piece through ops::attention_forward: each sequence becomes one packed
// sample of its visible cached keys (in position order, out of the ring) and its new tokens, so
// the causal window of the training kernel is the cache's; only the new rows' outputs are kept.
void Engine::prefill_attention(int64_t l) {
  const int64_t S = shape_.batch, F = fused_rows_;
  const Tensor kc = k_cache_[size_t(l)].view({S * cap_, nkv_, hd_});
  const Tensor vc = v_cache_[size_t(l)].view({S * cap_, nkv_, hd_});
  for (const FusedSeq& f : fused_seqs_) {
    for (int64_t done = 0; done < f.m;) {  // at most two runs: before and after the ring wraps
      const int64_t slot = (f.p0 - f.m + done) % cap_, len = std::min(f.m - done, cap_ - slot);
      ops::copy(fk_.rows(f.base + done, len), kc.rows(f.s * cap_ + slot, len));
      ops::copy(fv_.rows(f.base + done, len), vc.rows(f.s * cap_ + slot, len));
      done += len;
    }
    ops::copy(fq_.rows(f.base + f.m, f.n), q_.rows(f.row0, f.n));
    ops::copy(fk_.rows(f.base + f.m, f.n), k_.rows(f.row0, f.n));
    ops::copy(fv_.rows(f.base + f.m, f.n), v_.rows(f.row0, f.n));
  }
  ops::attention_forward(fo_.rows(0, F), flse_.rows(0, nh_ * F), fq_.rows(0, F), fk_.rows(0, F),
                         fv_.rows(0, F), fcu_.rows(0, int64_t(fused_seqs_.size()) + 1),
                         int(cfg_.sliding_window));
  for (const FusedSeq& f : fused_seqs_) ops::copy(attn_.rows(f.row0, f.n), fo_.rows(f.base + f.m, f.n));
}

// One forward over a piece: ids[T] of the batch's sequences laid out by cu[S+1], at positions;
// logits for the rows listed (into rows_host_, in list order).
void Engine::run_piece(const std::vector<uint32_t>& ids, const std::vector<int32_t>& cu,
                       const std::vector<int32_t>& positions, const std::vector<int64_t>& logit_rows,
                       bool fused) {
  const Device dev = shape_.device;
  fused_ = fused;
  if (fused) {
    fused_seqs_.clear();
    std::vector<int32_t> fcu{0};
    for (int64_t s = 0; s < shape_.batch; ++s) {
      const int64_t n = cu[size_t(s) + 1] - cu[size_t(s)];
      if (n == 0) continue;
      const int64_t m = visible_cached(s);
      fused_seqs_.push_back({s, pos_[size_t(s)], m, n, cu[size_t(s)], fcu.back()});
      fcu.push_back(int32_t(fcu.back() + m + n));
    }
    fused_rows_ = fcu.back();
    SR_ASSERT(fused_rows_ <= fused_cap_, "run_piece: prefill rows beyond the plan");
    device_copy(dev, fcu_.data, Device::cpu, fcu.data(), fcu.size() * 4);
  }
  const int64_t T = int64_t(ids.size()), S = shape_.batch, H = cfg_.hidden_size;
  std::vector<int32_t> past(static_cast<size_t>(S), 0);
  for (int64_t s = 0; s < S; ++s) past[size_t(s)] = int32_t(pos_[size_t(s)]);
  static_assert(sizeof(uint32_t) == sizeof(int32_t), "token ids are copied as i32");
  device_copy(dev, ids_.data, Device::cpu, ids.data(), size_t(T) * 4);
  device_copy(dev, positions_.data, Device::cpu, positions.data(), size_t(T) * 4);
  device_copy(dev, cu_.data, Device::cpu, cu.data(), cu.size() * 4);
  device_copy(dev, past_.data, Device::cpu, past.data(), past.size() * 4);
  ops::embedding_forward(x_.rows(0, T), ids_.rows(0, T), weights_.embed, vocab_start_);
  tp_all_reduce(x_.rows(0, T));  // vocab-parallel embedding: rows outside this shard are 0
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) layer_forward(l, T);
  const int64_t R = int64_t(logit_rows.size());
  if (R == 0) return;
  SR_ASSERT(R <= rows_, "run_piece: more logit rows than planned");
  for (int64_t r = 0; r < R; ++r) ops::copy(last_.rows(r, 1), x_.rows(logit_rows[size_t(r)], 1));
  ops::rmsnorm_forward(last_ln_.rows(0, R), last_rstd_.rows(0, R), last_.rows(0, R), final_norm_,
                       float(cfg_.rms_norm_eps));
  ops::linear_forward(logits_.rows(0, R), last_ln_.rows(0, R), weights_.lm_head, Tensor{});
  if (logits_f32_.data != logits_.data) ops::copy(logits_f32_.rows(0, R), logits_.rows(0, R));
  const int64_t tp = shape_.tp_size, Vl = vocab_local_;
  if (tp == 1) {
    device_copy(Device::cpu, rows_host_.data(), dev, logits_f32_.data, size_t(R * vocab_) * 4);
    return;
  }
  // Vocab-parallel LM head: gather every rank's [R, V_l] block, then lay the rows out whole.
  const Tensor mine = logits_f32_.rows(0, R).view({R * Vl});
  const Tensor all = gathered_.rows(0, tp * R * Vl);
  shape_.tp_comm->all_gather(all, mine);
  device_copy(Device::cpu, gathered_host_.data(), dev, all.data, size_t(tp * R * Vl) * 4);
  for (int64_t k = 0; k < tp; ++k)
    for (int64_t r = 0; r < R; ++r)
      std::copy_n(gathered_host_.data() + (k * R + r) * Vl, Vl, rows_host_.data() + r * vocab_ + k * Vl);
  (void)H;
}

void Engine::step(const std::vector<std::vector<uint32_t>>& tokens,
                  std::vector<std::vector<float>>* all_logits) {
  const int64_t S = shape_.batch, Tm = shape_.max_step_tokens;
  SR_ASSERT(int64_t(tokens.size()) == S, "Engine::step: one token list per sequence");
  if (all_logits) {
    SR_ASSERT(rows_ >= Tm, "Engine::step: all_logits needs logits_rows >= max_step_tokens");
    all_logits->assign(size_t(S), {});
  }
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = int64_t(tokens[size_t(s)].size());
    if (cfg_.sliding_window == 0 && pos_[size_t(s)] + n > cap_)
      throw UserError("sequence of " + std::to_string(pos_[size_t(s)] + n) +
                      " tokens exceeds the full-attention KV cache of " + std::to_string(cap_) +
                      " positions (raise the maximum context)");
    for (uint32_t id : tokens[size_t(s)])
      if (int64_t(id) >= vocab_)
        throw UserError("token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                        std::to_string(vocab_));
  }
  // A sequence takes at most W tokens per piece (so the ring still holds every key the piece's
  // first query sees); the piece at most max_step_tokens in all.
  const int64_t per_seq = cfg_.sliding_window > 0 ? std::min(Tm, cap_) : Tm;
  std::vector<int64_t> off(size_t(S), 0);
  std::vector<uint32_t> ids;
  std::vector<int32_t> cu, positions;
  std::vector<int64_t> rows, row_seq, row_tok;
  for (;;) {
    ids.clear();
    positions.clear();
    rows.clear();
    row_seq.clear();
    row_tok.clear();
    cu.assign(1, 0);
    std::vector<int64_t> take(size_t(S), 0);
    // With prefill through the training attention, a piece holds either sequences with few new
    // tokens left (the cache kernel) or many (fused), never both.
    bool fused_piece = false;
    if (fused_min_ > 0) {
      bool small = false, large = false;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t rem = int64_t(tokens[size_t(s)].size()) - off[size_t(s)];
        (rem >= fused_min_ ? large : small) |= rem > 0;
      }
      fused_piece = large && !small;
    }
    int64_t budget = Tm, fused_budget = fused_cap_;
    for (int64_t s = 0; s < S; ++s) {
      const std::vector<uint32_t>& t = tokens[size_t(s)];
      const int64_t rem = int64_t(t.size()) - off[size_t(s)];
      int64_t n = std::min({rem, per_seq, budget});
      if (fused_min_ > 0 && rem > 0 && (rem >= fused_min_) != fused_piece) n = 0;
      if (fused_piece && n > 0) {
        // The first sequence always fits (fused_cap_ = a piece + one whole visible cache).
        const int64_t m = visible_cached(s);
        if (m + n > fused_budget) n = 0;
        fused_budget -= n > 0 ? m + n : 0;
      }
      take[size_t(s)] = n;
      budget -= n;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = off[size_t(s)] + i;
        ids.push_back(t[size_t(k)]);
        positions.push_back(int32_t(pos_[size_t(s)] + i));
        const bool last = k + 1 == int64_t(t.size());
        if (all_logits || last) {
          rows.push_back(int64_t(ids.size()) - 1);
          row_seq.push_back(s);
          row_tok.push_back(k);
        }
      }
      cu.push_back(int32_t(ids.size()));
    }
    if (ids.empty()) break;
    run_piece(ids, cu, positions, rows, fused_piece);
    for (size_t r = 0; r < rows.size(); ++r) {
      const float* src = rows_host_.data() + r * size_t(vocab_);
      const int64_t s = row_seq[r];
      if (row_tok[r] + 1 == int64_t(tokens[size_t(s)].size()))
        std::copy(src, src + vocab_, logits_host_.begin() + s * vocab_);
      if (all_logits) {
        std::vector<float>& dst = (*all_logits)[size_t(s)];
        dst.insert(dst.end(), src, src + vocab_);
      }
    }
    for (int64_t s = 0; s < S; ++s) {
      off[size_t(s)] += take[size_t(s)];
      pos_[size_t(s)] += take[size_t(s)];
    }
  }
}

}  // namespace sr
