// CUDA kernels: the same signatures and contracts as kernels/ops.h, which dispatches here for
// Device::cuda. Activations may be f32 or bf16 where the op says so (math in f32); parameters,
// their gradients, optimizer state and softmax/norm statistics are f32. Every kernel here is
// deterministic (no float atomics): two runs on the same inputs are bitwise equal. (cuDNN's
// fast attention backward, which attention_backward prefers unless ops::attention_settings()
// asks for determinism, is not: see attention_cudnn.h.)
#pragma once
#include "kernels/ops.h"

namespace sr::cuda {

// f32/bf16; copy also casts between them (and copies same-dtype tensors of any type).
void fill_zero(Tensor x);
void copy(Tensor dst, Tensor src);
void add_inplace(Tensor y, Tensor x);
void scale_inplace(Tensor x, float s);
double sum_squares(Tensor x);

// table, out, dout: f32/bf16; dtable f32.
void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start);
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start);

// out, x, dx, dout: f32/bf16; weight, dweight, rstd: f32.
void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps);
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd);

// cuBLASLt. x and weight (and dout and x, dout and weight) share a dtype: f32 (exact f32
// math, no TF32) or bf16 (f32 accumulation); outputs f32, or bf16 with bf16 inputs.
void linear_forward(Tensor out, Tensor x, Tensor weight, Tensor bias);
void linear_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                     bool accumulate_dx);

// x: f32/bf16.
void rope(Tensor x, Tensor positions, float theta, bool inverse);

// Fused (online softmax) kernels; q, k, v, out, dout, dq, dk, dv: f32/bf16 (q, k, v of one
// dtype); lse f32. Head dims 16, 32, 64, 128.
void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window);
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window);

// f32/bf16.
void swiglu_forward(Tensor out, Tensor gate, Tensor up);
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up);

// logits f32/bf16; statistics and weights f32.
void logits_row_max(Tensor row_max, Tensor logits);
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max);
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start);
double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight);
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start);

// All f32 (master weights and moments).
void adamw_step(const std::vector<ops::AdamWTensors>& tensors, const ops::AdamWParams& p);

// Inference attention against KV caches (one block per query row and head, CUDA cores);
// q, k_new, v_new, caches, out: f32/bf16.
void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window);
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past);

}  // namespace sr::cuda
