// AdamW with decoupled weight decay (Loshchilov & Hutter), bias-corrected moments.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// param, grad, m, v: [n] f32
void adamw_step(Tensor param, Tensor grad, Tensor m, Tensor v, const ops::AdamWParams& p) {
  float *w = param.f32(), *pm = m.f32(), *pv = v.f32();
  const float* g = grad.f32();
  const int64_t n = param.numel();
  const float bc1 = 1.0f - std::pow(p.beta1, float(p.step));
  const float bc2 = 1.0f - std::pow(p.beta2, float(p.step));
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * p.grad_scale;
    pm[i] = p.beta1 * pm[i] + (1.0f - p.beta1) * gi;
    pv[i] = p.beta2 * pv[i] + (1.0f - p.beta2) * gi * gi;
    const float mhat = pm[i] / bc1, vhat = pv[i] / bc2;
    w[i] -= p.lr * (mhat / (std::sqrt(vhat) + p.eps) + p.weight_decay * w[i]);
  }
}

}  // namespace sr::cpu
