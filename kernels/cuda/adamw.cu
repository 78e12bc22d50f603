// AdamW on f32 master weights and moments (same update as kernels/cpu/adamw.cpp).
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, int64_t n,
                             ops::AdamWParams p, float bc1, float bc2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float gi = g[i] * p.grad_scale;
    const float mi = p.beta1 * m[i] + (1.0f - p.beta1) * gi;
    const float vi = p.beta2 * v[i] + (1.0f - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi / bc1, vhat = vi / bc2;
    w[i] -= p.lr * (mhat / (sqrtf(vhat) + p.eps) + p.weight_decay * w[i]);
  }
}

}  // namespace

// param, grad, m, v: [n] f32
void adamw_step(Tensor param, Tensor grad, Tensor m, Tensor v, const ops::AdamWParams& p) {
  const int64_t n = param.numel();
  SR_ASSERT(grad.numel() == n && m.numel() == n && v.numel() == n, "adamw_step: sizes differ");
  // Bias corrections on the host, exactly as the CPU kernel computes them.
  const float bc1 = 1.0f - std::pow(p.beta1, float(p.step));
  const float bc2 = 1.0f - std::pow(p.beta2, float(p.step));
  adamw_kernel<<<grid_for(n, 256), 256, 0, kStream>>>(
      f32_ref(param, "adamw_step"), f32_ref(grad, "adamw_step"), f32_ref(m, "adamw_step"),
      f32_ref(v, "adamw_step"), n, p, bc1, bc2);
  SR_CHECK_LAUNCH();
}

}  // namespace sr::cuda
