// Cross-entropy pieces over a chunk of (possibly vocab-sharded) logits. The model combines the
// per-row statistics across shards: global max first, then the sums relative to it.
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// row_max[T], logits[T,V]
void logits_row_max(Tensor row_max, Tensor logits) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  const float* l = logits.f32();
  float* m = row_max.f32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t v = 0; v < V; ++v) mx = l[t * V + v] > mx ? l[t * V + v] : mx;
    m[t] = mx;
  }
}

// sumexp[T] = Σ_v exp(logits[t,v] − row_max[t])
void logits_row_sumexp(Tensor sumexp, Tensor logits, Tensor row_max) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  const float* l = logits.f32();
  const float* m = row_max.f32();
  float* s = sumexp.f32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float acc = 0.0f;
    for (int64_t v = 0; v < V; ++v) acc += std::exp(l[t * V + v] - m[t]);
    s[t] = acc;
  }
}

// target_logit[T] = logits[t, targets[t] − vocab_start] inside this shard, else 0
void logits_gather_target(Tensor target_logit, Tensor logits, Tensor targets, int64_t vocab_start) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  const float* l = logits.f32();
  const int32_t* y = targets.i32();
  float* out = target_logit.f32();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t c = int64_t(y[t]) - vocab_start;
    out[t] = c >= 0 && c < V ? l[t * V + c] : 0.0f;
  }
}

double cross_entropy_loss_sum(Tensor row_max, Tensor sumexp, Tensor target_logit, Tensor weight) {
  const float *m = row_max.f32(), *s = sumexp.f32(), *tl = target_logit.f32(), *w = weight.f32();
  double acc = 0.0;
  for (int64_t t = 0, T = row_max.numel(); t < T; ++t)
    if (w[t] != 0.0f) acc += double(w[t]) * (std::log(double(s[t])) + m[t] - tl[t]);
  return acc;
}

// logits[T,V] ← weight[t] · (softmax − onehot(target))
void cross_entropy_backward(Tensor logits, Tensor row_max, Tensor sumexp, Tensor targets,
                            Tensor weight, int64_t vocab_start) {
  const int64_t T = logits.dim(0), V = logits.dim(1);
  float* l = logits.f32();
  const float *m = row_max.f32(), *s = sumexp.f32(), *w = weight.f32();
  const int32_t* y = targets.i32();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    float* row = l + t * V;
    if (w[t] == 0.0f) {
      for (int64_t v = 0; v < V; ++v) row[v] = 0.0f;
      continue;
    }
    const float inv = 1.0f / s[t];
    for (int64_t v = 0; v < V; ++v) row[v] = w[t] * std::exp(row[v] - m[t]) * inv;
    const int64_t c = int64_t(y[t]) - vocab_start;
    if (c >= 0 && c < V) row[c] -= w[t];
  }
}

}  // namespace sr::cpu
