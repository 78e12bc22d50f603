// The device-agnostic op API. Model, trainer and data code call only these; each op
// dispatches on its tensors' device to kernels/cpu (reference, f32) or kernels/cuda.
//
// Conventions: T = tokens of a packed micro-batch, H = hidden, K/N = linear in/out features,
// nh/nkv = (local) query/kv heads, hd = head dim, I = (local) MLP width, V = (local) vocab.
// "+=" means the op accumulates into its output (parameter gradients accumulate over
// micro-batches); otherwise the output is overwritten.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sr::ops {

// ---- elementwise ----
void fill_zero(Tensor x);
void copy(Tensor dst, Tensor src);          // same element count (and dtype on CPU)
void add_inplace(Tensor y, Tensor x);       // y += x
void scale_inplace(Tensor x, float s);      // x *= s
double sum_squares(Tensor x);               // Σ x², accumulated in double

// ---- embedding (vocab-parallel: this rank holds rows [vocab_start, vocab_start + V)) ----
// out[T,H] = table[ids[t] - vocab_start], or 0 where ids[t] is outside this rank's rows.
void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start);
// dtable[V,H] += dout[t] for each t with ids[t] in this rank's rows; deterministic order.
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start);

// ---- RMSNorm (Qwen2: x · rsqrt(mean(x²) + eps) · weight, statistics in f32) ----
// out[T,H], rstd[T] (saved for backward), x[T,H], weight[H].
void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps);
// dx[T,H] += ..., dweight[H] += ...; dout[T,H].
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd);

// ---- linear: out[T,N] = x[T,K] · weight[N,K]ᵀ + bias[N] (bias may be empty) ----
void linear_forward(Tensor out, Tensor x, Tensor weight, Tensor bias);
// dx[T,K] = (or += when accumulate_dx) dout · weight; dweight[N,K] += doutᵀ · x;
// dbias[N] += Σ_t dout (skipped when empty). dx may be empty (no input gradient wanted).
void linear_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                     bool accumulate_dx);

// ---- RoPE, rotate-half layout: dim k pairs with k + hd/2, inv_freq_k = theta^(-2k/hd) ----
// x[T,nh,hd] rotated in place by the angle positions[t] · inv_freq; inverse rotates back
// (which is also the backward of the forward rotation).
void rope(Tensor x, Tensor positions, float theta, bool inverse);

// ---- attention on packed variable-length samples ----
// q[T,nh,hd], k/v[T,nkv,hd] (GQA: head h reads kv head h / (nh/nkv)), cu_seqlens[B+1] i32
// (sample b is tokens [cu[b], cu[b+1]); no attention across samples). Causal; window W > 0
// keeps keys j with i - W < j <= i (Hugging Face's sliding_window), W = 0 is full causal.
// Scale 1/sqrt(hd). out[T,nh,hd]; lse[nh,T] f32 (log-sum-exp of the scaled scores).
void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window);
// dq[T,nh,hd], dk/dv[T,nkv,hd] overwritten; dout/out[T,nh,hd], lse[nh,T].
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window);

// How CUDA attention runs (process-wide; the CPU always runs its deterministic reference).
// use_cudnn: cuDNN's fused flash attention (tensor cores) for bf16 where the build has cuDNN,
// else smoothread's own kernels. deterministic: a bitwise-reproducible backward, through
// cuDNN's deterministic algorithm without a window and the own kernel with one (cuDNN's
// deterministic backward does not skip work outside the window).
struct AttentionSettings {
  bool use_cudnn = true;
  bool deterministic = false;
};
void set_attention_settings(const AttentionSettings& s);
const AttentionSettings& attention_settings();

// ---- SwiGLU: out[T,I] = silu(gate) · up ----
void swiglu_forward(Tensor out, Tensor gate, Tensor up);
// dgate[T,I], dup[T,I] overwritten.
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up);

// ---- cross-entropy over a chunk of (possibly vocab-sharded) logits[T,V] ----
// The model combines the per-row statistics across vocab shards (max, then sums).
void logits_row_max(Tensor row_max, Tensor logits);                   // row_max[T]
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max);  // sumexp[T] = Σ exp(l - max)
// target_logit[T] = logits[t, targets[t] - vocab_start], or 0 outside this shard.
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start);
// Σ_t weight[t] · (log sumexp[t] + row_max[t] - target_logit[t]), in double.
double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight);
// logits[T,V] overwritten by its gradient: weight[t] · (softmax(l)[t,v] - [v == target]).
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start);

// ---- optimizer ----
struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float grad_scale = 1.0f;    // gradients are multiplied by this first (clipping)
  int64_t step = 1;           // 1-based, for bias correction
};
// One tensor to update: param, grad, m, v of one element count, f32, and its decoupled
// weight decay (param -= lr · weight_decay · param).
struct AdamWTensors {
  Tensor param, grad, m, v;
  float weight_decay = 0.0f;
  // Optional, CUDA only: a bf16 [n] copy that also receives the updated parameter (rounded to
  // nearest), so the compute weights need no separate refresh pass.
  Tensor compute_copy;
};
// Updates every tensor of the list (multi-tensor: on GPU a few launches for the whole model).
void adamw_step(const std::vector<AdamWTensors>& tensors, const AdamWParams& p);

// ---- inference: attention of new tokens against per-sequence KV caches ----
// A batch of S independent sequences. Sequence s has past[s] tokens already in its cache and
// n_s = cu_q[s+1] - cu_q[s] new ones: rows cu_q[s] … of q[T,nh,hd] and k_new/v_new[T,nkv,hd]
// (already rotated by RoPE at positions past[s] + t). k_cache/v_cache[S,cap,nkv,hd] hold the
// token at position p in slot p % cap: a ring of cap >= W slots for a sliding window W > 0, or
// cap > every position for full attention (window 0). The query at position i = past[s] + t sees
// positions j with max(0, i - W + 1) <= j <= i (all j <= i when W = 0): j < past[s] from the
// cache, the others from k_new/v_new. Neither cache is modified. cu_q[S+1], past[S] i32;
// out[T,nh,hd]; scale 1/sqrt(hd). Requires n_s <= cap when W > 0 and past[s] <= cap when W = 0.
void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window);
// Writes new token t of sequence s into slot (past[s] + t) % cap of k_cache/v_cache (when
// n_s > cap, only the last cap tokens, which are the ones a later query can see).
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past);

}  // namespace sr::ops
