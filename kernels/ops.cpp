// Dispatch of kernels/ops.h to the backend of the tensors' device.
#include "kernels/ops.h"

#include "kernels/cpu/cpu_ops.h"
#include "kernels/profile.h"
#ifdef SMOOTHREAD_HAVE_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace sr::ops {

// A CUDA tensor goes to kernels/cuda when this build has it; without CUDA it is a
// configuration the build cannot run.
#ifdef SMOOTHREAD_HAVE_CUDA
#define SR_CUDA_CALL(op, ...) return cuda::op(__VA_ARGS__)
#else
namespace {
[[noreturn]] void no_cuda_kernel(const char* op) {
  fatal(op, __FILE__, __LINE__, std::string("op ") + op + " has no CUDA kernel in this build",
        "set device = cpu");
}
}  // namespace
#define SR_CUDA_CALL(op, ...) no_cuda_kernel(#op)
#endif

#define SR_DISPATCH(op, first, ...)                                 \
  do {                                                              \
    if ((first).device == Device::cpu) return cpu::op(__VA_ARGS__); \
    SR_CUDA_CALL(op, __VA_ARGS__);                                  \
  } while (0)

void fill_zero(Tensor x) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(fill_zero, x, x);
}
void copy(Tensor dst, Tensor src) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(copy, dst, dst, src);
}
void add_inplace(Tensor y, Tensor x) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(add_inplace, y, y, x);
}
void scale_inplace(Tensor x, float s) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(scale_inplace, x, x, s);
}
double sum_squares(Tensor x) {
  ProfileScope profile(OpKind::optimizer);
  SR_DISPATCH(sum_squares, x, x);
}

void embedding_forward(Tensor out, Tensor ids, Tensor table, int64_t vocab_start) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(embedding_forward, out, out, ids, table, vocab_start);
}
void embedding_backward(Tensor dtable, Tensor dout, Tensor ids, int64_t vocab_start) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(embedding_backward, dtable, dtable, dout, ids, vocab_start);
}

void rmsnorm_forward(Tensor out, Tensor rstd, Tensor x, Tensor weight, float eps) {
  ProfileScope profile(OpKind::norm);
  SR_DISPATCH(rmsnorm_forward, out, out, rstd, x, weight, eps);
}
void rmsnorm_backward(Tensor dx, Tensor dweight, Tensor dout, Tensor x, Tensor weight, Tensor rstd) {
  ProfileScope profile(OpKind::norm);
  SR_DISPATCH(rmsnorm_backward, dx, dx, dweight, dout, x, weight, rstd);
}

void linear_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
  ProfileScope profile(OpKind::gemm);
  SR_DISPATCH(linear_forward, out, out, x, weight, bias);
}
void linear_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                     bool accumulate_dx) {
  ProfileScope profile(OpKind::gemm);
  SR_DISPATCH(linear_backward, dweight, dx, dweight, dbias, dout, x, weight, accumulate_dx);
}

void rope(Tensor x, Tensor positions, float theta, bool inverse) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(rope, x, x, positions, theta, inverse);
}

void attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                       int window) {
  ProfileScope profile(OpKind::attention_forward);
  SR_DISPATCH(attention_forward, out, out, lse, q, k, v, cu_seqlens, window);
}
void attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                        Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window) {
  ProfileScope profile(OpKind::attention_backward);
  SR_DISPATCH(attention_backward, dq, dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens, window);
}

namespace {
AttentionSettings g_attention_settings;
}
void set_attention_settings(const AttentionSettings& s) { g_attention_settings = s; }
const AttentionSettings& attention_settings() { return g_attention_settings; }

void swiglu_forward(Tensor out, Tensor gate, Tensor up) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(swiglu_forward, out, out, gate, up);
}
void swiglu_backward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
  ProfileScope profile(OpKind::elementwise);
  SR_DISPATCH(swiglu_backward, dgate, dgate, dup, dout, gate, up);
}

void logits_row_max(Tensor row_max, Tensor logits) {
  ProfileScope profile(OpKind::cross_entropy);
  SR_DISPATCH(logits_row_max, logits, row_max, logits);
}
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max) {
  ProfileScope profile(OpKind::cross_entropy);
  SR_DISPATCH(logits_row_sumexp, logits, sumexp, logits, row_max);
}
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start) {
  ProfileScope profile(OpKind::cross_entropy);
  SR_DISPATCH(logits_gather_target, logits, target_logit, logits, targets, vocab_start);
}
double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight) {
  ProfileScope profile(OpKind::cross_entropy);
  SR_DISPATCH(cross_entropy_loss_sum, row_max, row_max, sumexp, target_logit, weight);
}
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start) {
  ProfileScope profile(OpKind::cross_entropy);
  SR_DISPATCH(cross_entropy_backward, logits, logits, row_max, sumexp, targets, weight, vocab_start);
}

void adamw_step(const std::vector<AdamWTensors>& tensors, const AdamWParams& p) {
  if (tensors.empty()) return;
  ProfileScope profile(OpKind::optimizer);
  SR_DISPATCH(adamw_step, tensors.front().param, tensors, p);
}

void attention_cache_forward(Tensor out, Tensor q, Tensor k_new, Tensor v_new, Tensor k_cache,
                             Tensor v_cache, Tensor cu_q, Tensor past, int window) {
  SR_DISPATCH(attention_cache_forward, out, out, q, k_new, v_new, k_cache, v_cache, cu_q, past,
              window);
}
void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor k_new, Tensor v_new, Tensor cu_q,
                     Tensor past) {
  SR_DISPATCH(kv_cache_append, k_cache, k_cache, v_cache, k_new, v_new, cu_q, past);
}

}  // namespace sr::ops
