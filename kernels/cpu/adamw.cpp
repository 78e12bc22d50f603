// AdamW with decoupled weight decay (Loshchilov & Hutter), bias-corrected moments.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sr::cpu {

// Each entry: param, grad, m, v: [n] f32.
void adamw_step(const std::vector<ops::AdamWTensors>& tensors, const ops::AdamWParams& p) {
  const float bc1 = 1.0f - std::pow(p.beta1, float(p.step));
  const float bc2 = 1.0f - std::pow(p.beta2, float(p.step));
  for (const ops::AdamWTensors& t : tensors) {
    float *w = t.param.f32(), *pm = t.m.f32(), *pv = t.v.f32();
    const float* g = t.grad.f32();
    const int64_t n = t.param.numel();
    SR_ASSERT(t.grad.numel() == n && t.m.numel() == n && t.v.numel() == n, "adamw_step: sizes differ");
    SR_ASSERT(t.compute_copy.empty(), "adamw_step: the CPU computes on the f32 parameters themselves");
    const float wd = t.weight_decay;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] * p.grad_scale;
      pm[i] = p.beta1 * pm[i] + (1.0f - p.beta1) * gi;
      pv[i] = p.beta2 * pv[i] + (1.0f - p.beta2) * gi * gi;
      const float mhat = pm[i] / bc1, vhat = pv[i] / bc2;
      w[i] -= p.lr * (mhat / (std::sqrt(vhat) + p.eps) + wd * w[i]);
    }
  }
}

}  // namespace sr::cpu
