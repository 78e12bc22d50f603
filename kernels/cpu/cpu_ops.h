// CPU reference kernels (f32, OpenMP). Same signatures and contracts as kernels/ops.h, which
// dispatches here for Device::cpu. Every kernel is deterministic: each output element is
// produced by one thread in a fixed order, so results do not depend on the thread count.
#pragma once
#include "kernels/ops.h"

namespace sr::cpu {

void fill_zero(Tensor x);
void copy(Tensor dst, Tensor src);
void add_inplace(Tensor y, Tensor x);
void scale_inplace(Tensor x, float s);
double sum_squares(Tensor x);

void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start);
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start);

void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps);
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd);

void linear_forward(Tensor out, Tensor x, Tensor weight, Tensor bias);
void linear_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                     bool accumulate_dx);

void rope(Tensor x, Tensor positions, float theta, bool inverse);

void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window);
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window);

void swiglu_forward(Tensor out, Tensor gate, Tensor up);
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up);

void logits_row_max(Tensor row_max, Tensor logits);
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max);
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start);
double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight);
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start);

void adamw_step(const std::vector<ops::AdamWTensors>& tensors, const ops::AdamWParams& p);

void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window);
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past);

}  // namespace sr::cpu
